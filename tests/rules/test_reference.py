"""Every reference number the seeds show, and what is not one."""
import pytest

from rules.reference import find_reference, normalise_reference, parse_reference


@pytest.mark.parametrize("written, normal", [
    # issue 3 / MISSION.md
    ("กท ๐๔๐๓/ว ๒๗๖", "กท 0403/ว 276"),       # seed 003
    ("กท.๐๔๐๗/ว.๕๗", "กท 0407/ว 57"),          # seed 000
    ("กท ๐๕๐๘/๒๐๕๙", "กท 0508/2059"),          # seed 001
    ("มท 0808.2/ว 1234", "มท 0808.2/ว 1234"),
    ("กท ๐๕๐๘ /๗๕๐", "กท 0508/750"),           # seed 000, space before the slash
    # the other seed numbers
    ("กท ๕๓๐๑/๑๗๓๐", "กท 5301/1730"),          # seed 000
    ("กท ๕๓๐๗/๘๒๕๘", "กท 5307/8258"),          # seed 000
    ("กท ๐๕๐๘/๓๘๐", "กท 0508/380"),            # seed 000
    ("กท ๐๔๐๓/ว ๕๗", "กท 0403/ว 57"),          # seed 000
    ("กท ๕๔๐๗/๘๐๐", "กท 5407/800"),            # seed 002
    ("กท ๕๔๐๑/๕๑๑", "กท 5401/511"),            # seed 002
    ("กท ๐๔๐๓/ว ๓๒", "กท 0403/ว 32"),          # seed 002
    ("กท ๐๔๐๓/ว ๒๕", "กท 0403/ว 25"),          # seed 002
    ("กท ๐๔๐๓/ว ๒๘", "กท 0403/ว 28"),          # seed 002
    ("ปท 0013 / ฉ 001", "ปท 0013/ฉ 001"),      # seed 004: emergency register
    # spacing and dots
    ("  ที่ กท  ๐๔๐๓ / ว  ๒๗๖ ", "กท 0403/ว 276"),
    ("กท0403/ว276", "กท 0403/ว 276"),
    ("มท ๐๘๐๘.๒/ว ๑๒๓๔", "มท 0808.2/ว 1234"),
    ("ที่ ๑๒๓/๒๕๖๗", "123/2567"),               # orders: number / BE year
])
def test_normalise_reference(written, normal):
    assert normalise_reference(written) == normal


@pytest.mark.parametrize("not_a_reference", [
    "",
    "3398",            # seed 002: a receive number after ที่, not a reference
    "ที่ / ๒๕๖๕",      # seed 004: the blank order template
    "กท",
    "0403/276",        # no letter code and not number/year
    "กท 0403/ว",       # no running number
    "saraban.dds@bangkok.go.th",
])
def test_not_a_reference(not_a_reference):
    assert normalise_reference(not_a_reference) is None


def test_parts():
    ref = parse_reference("มท 0808.2/ว 1234")
    assert (ref.code, ref.office, ref.prefix, ref.number, ref.is_circular) == ("มท", "0808.2", "ว", "1234", True)
    assert parse_reference("กท ๐๕๐๘/๒๐๕๙").is_circular is False


def test_find_reference_in_running_text():
    text = "รายละเอียดปรากฏตามหนังสือสำนักยุทธศาสตร์และประเมินผล ที่ กท ๐๕๐๘/๓๘๐ ลงวันที่ ๒ มีนาคม ๒๕๖๔ ที่แนบ"
    assert find_reference(text).text == "กท 0508/380"
    assert find_reference("ไม่มีเลขที่หนังสือ") is None
