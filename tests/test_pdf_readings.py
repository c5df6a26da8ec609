"""A letter is parsed once and each PDF read once: the DATA check's reading of an
ordinary letter (the parsed letter, its files, each PDF's text layer) is kept in
`spool/readings/` for the pipeline (gateway/pipeline/pdf_readings.py), and nothing else
is ever taken from there: not for a classified or uncertain letter, not a damaged or
foreign reading, and nothing is left behind once the letter is finished."""
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json

import pytest

from gateway.config.settings import load_settings
import gateway.pipeline.check as check
from gateway.pipeline import pdf_readings
from gateway.pipeline.parse import parse_mail
from gateway.pipeline.pdf_readings import FORMAT, LetterReading
from gateway.pipeline.runner import run_once
from gateway.secrecy.markings import DataCheck
from gateway.service.services import open_services
from storage.models import Letter, Message
from tests.daemon import write_config
from tests.letters import letter
from tests.paths import shared_path
from tests.thai_pdfs import thai_pdf

UNIT = "saraban.latkrabang@bangkok.go.th"
SENDER = "saraban.dds@bangkok.go.th"
REFERENCE = "กท 1407/2569"
# The reference is printed on the PDF only: the register has it only if the PDF was read.
BODY = "เรียน ผู้อำนวยการเขตลาดกระบัง\nตามหนังสือที่แนบมา\n"


def _typed(*extra: str) -> bytes:
    return thai_pdf([f"ที่ {REFERENCE}", "วันที่ 3 มกราคม 2569", *extra, "เรื่อง ขอเชิญประชุม"], producer="plain")


def _letter(pdf: bytes, **kwargs) -> bytes:
    return letter(body=BODY, files=[("letter.pdf", pdf)], **kwargs)


@pytest.fixture
def services(tmp_path):
    with open_services(load_settings(write_config(tmp_path)), "pipeline", upgrade_schema=True) as s:
        yield s


def _through_data(services, raw: bytes, timeout: float = 30.0):
    """As SMTP intake does it: the draft, the DATA check with its reading, the commit."""
    draft = services.spool.draft(SENDER, [UNIT])
    draft.write(raw)

    async def check():
        data_check = DataCheck(timeout=timeout, workers=1)
        try:
            return await data_check.classify(draft.path, offset=draft.message_start, reading=draft.reading_path)
        finally:
            await data_check.aclose()

    found = asyncio.run(check())
    return draft, found


def _counting(services):
    """The pipeline's own PDF reader, counting the files sent to it."""
    sent = []

    def reader(data, timeout=None):
        sent.append(len(data))
        return services.pdf_reader(data, timeout)

    return dataclasses.replace(services, pdf_reader=reader), sent


@pytest.fixture
def parses(monkeypatch):
    """The messages the pipeline parses itself."""
    seen = []

    def counted(raw, *args, **kwargs):
        seen.append(len(raw))
        return parse_mail(raw, *args, **kwargs)

    monkeypatch.setattr(check, "parse_mail", counted)
    return seen


def _register(services) -> list[tuple[str, str | None]]:
    with services.db.session() as session:
        return [(row.queue_id, row.reference) for row in session.query(Letter).all()]


def test_an_ordinary_letter_is_parsed_and_its_pdf_read_at_data_and_not_again_by_the_pipeline(services, parses):
    draft, found = _through_data(services, _letter(_typed()))
    assert (found.level, found.certain) == ("none", True)
    assert draft.reading_path.exists()  # written before the answer, so before the 250
    queue_id = draft.commit()

    counting, sent = _counting(services)
    assert run_once(counting) == 1
    assert sent == []  # the pipeline's reading workers never saw the file
    assert parses == []  # nor did its parser the message
    assert _register(services) == [(queue_id, REFERENCE)]  # from the PDF's text, as read at DATA
    assert list(services.spool.readings.iterdir()) == []


def test_without_a_reading_the_pipeline_reads_the_pdf_itself_and_registers_the_same(services, parses):
    """The control for the test above: IMAP intake, a restart that lost the cache."""
    queue_id = services.spool.accept(_letter(_typed()), SENDER, [UNIT])
    counting, sent = _counting(services)
    assert run_once(counting) == 1
    assert len(sent) == 1 and len(parses) == 1
    assert _register(services) == [(queue_id, REFERENCE)]


@pytest.mark.parametrize("marking, level", [("ลับ", "confidential"), ("ลับมาก", "secret"), ("ลับที่สุด", "top_secret")])
def test_a_classified_letter_leaves_no_reading_of_its_text(services, marking, level):
    # The marking printed at the top of the page, as a clerk stamps it.
    draft, found = _through_data(services, _letter(thai_pdf([marking, f"ที่ {REFERENCE}", "เรื่อง ขอเชิญประชุม"],
                                                             producer="plain")))
    assert found.level == level
    assert not draft.reading_path.exists()
    assert list(services.spool.readings.iterdir()) == []
    draft.discard()


def test_a_check_that_did_not_finish_leaves_no_reading(services):
    """A worker killed at its deadline may have written part of a reading: gone, and the
    letter's PDFs are read by the pipeline."""
    draft = services.spool.draft(SENDER, [UNIT])
    draft.write(_letter(_typed()))
    draft.reading_path.write_bytes(b'saraban-reading %d 0123' % FORMAT)  # as if cut off mid-write

    async def check():
        data_check = DataCheck(timeout=0.001, workers=1)
        try:
            return await data_check.classify(draft.path, offset=draft.message_start, reading=draft.reading_path)
        finally:
            await data_check.aclose()

    found = asyncio.run(check())
    assert found.certain is False  # not read in time: at least ลับ
    assert not draft.reading_path.exists()
    draft.discard()


def test_a_refused_or_abandoned_draft_takes_its_reading_with_it(services):
    draft, found = _through_data(services, _letter(_typed()))
    assert draft.reading_path.exists()
    draft.discard()  # DMARC refusal, a failed spool write, a client gone before the 250
    assert not draft.reading_path.exists() and not draft.path.exists()


def _valid_reading_for_other_bytes(services) -> bytes:
    other, _ = _through_data(services, _letter(_typed("สำเนาเรียน สำนักงานเขต")))
    data = other.reading_path.read_bytes()
    other.discard()
    return data


def _head_and_files(data: bytes) -> tuple[dict, bytes]:
    _line, head, files = data.split(b"\n", 2)
    return json.loads(head), files


def _written(head: dict, files: bytes = b"") -> bytes:
    """A reading as ReadingRecorder writes one: the head's own sha256 made right."""
    body = json.dumps(head, ensure_ascii=False).encode()
    return b"%s%s\n%s\n%s" % (pdf_readings.magic(), hashlib.sha256(body).hexdigest().encode(), body, files)


def _damaged(data: bytes, damage: str, other: bytes) -> bytes:
    head, files = _head_and_files(data)
    key = head["read"][0]
    pdf = head["mail"]["attachments"][0]
    flipped = bytearray(files)
    flipped[len(files) // 2] ^= 0x01
    return {
        "garbage": b"\x00\xff not a reading",
        "cut": data[:-3],  # the file's bytes short: a crash mid-write
        "torn_file": data[:-len(files)] + bytes(flipped),  # a byte of the file changed
        "head_changed": data.replace(b'"subject": "', b'"subject": "x', 1),  # its own sha256 no longer holds
        "other_letter": other,  # the reading of another message
        "wrong_types": _written({**head, "mail": {**head["mail"], "attachments": [
            {**pdf, "pdf": {**pdf["pdf"], "pages": "1", "text": 7}}]}}, files),
        "wrong_size": _written({**head, "mail": {**head["mail"], "attachments": [{**pdf, "size": pdf["size"] - 1}]}}, files),
        "other_format": data.replace(b"saraban-reading %d " % FORMAT, b"saraban-reading %d " % (FORMAT + 1), 1),
        "huge_key": _written({**head, "read": [key + "0"]}, files),
        # Written by another version of the code (before an upgrade): it may have read less.
        "other_code": data.replace(pdf_readings.magic(), b"saraban-reading %d 0123456789abcdef " % FORMAT, 1),
        "format_4_of_c6a79b0": data.replace(pdf_readings.magic(), b"saraban-reading 4 ", 1),
        "old_format": json.dumps({"format": 2, "pdfs": {key: pdf["pdf"]}}).encode(),
    }[damage]


@pytest.mark.parametrize("damage", ["garbage", "cut", "torn_file", "head_changed", "other_letter", "wrong_types",
                                    "wrong_size", "other_format", "huge_key", "other_code", "format_4_of_c6a79b0",
                                    "old_format"])
def test_a_damaged_or_foreign_reading_is_no_reading(services, parses, damage):
    raw = _letter(_typed())
    draft, _ = _through_data(services, raw)
    # Another letter's reading only where it is the damage: a DATA check of its own (~1 s).
    other = _valid_reading_for_other_bytes(services) if damage == "other_letter" else b""
    draft.reading_path.write_bytes(_damaged(draft.reading_path.read_bytes(), damage, other))
    queue_id = draft.commit()

    counting, sent = _counting(services)
    assert run_once(counting) == 1
    assert len(sent) == 1  # read again, not taken from the damaged reading
    assert len(parses) == 1  # and parsed again
    assert _register(services) == [(queue_id, REFERENCE)]
    with services.db.session() as session:
        assert session.get(Message, queue_id).state == "done"
    assert list(services.spool.readings.iterdir()) == []


def _corpus_messages() -> list:
    root = shared_path("corpus", "mime")
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix not in (".md", ".png", ".wav", ".pem", ".json"))


def test_the_kept_parse_is_the_parse_of_every_corpus_message_and_of_letters(tmp_path):
    """What the pipeline takes from a reading is what parsing the message gives, field by
    field, for the broken and hostile mail of other projects' corpora (mail-parser,
    flanker) and for letters with Thai names, bodies and PDFs."""
    from gateway.secrecy.markings import keep_reading

    messages = [p.read_bytes() for p in _corpus_messages()]
    assert len(messages) > 50
    messages += [_letter(_typed()), _letter(_typed(), subject="ขอเชิญประชุม ด่วน"),
                 letter(body="ไม่มีไฟล์แนบ\n"),
                 # A second name (Content-Type name=), which the executable and marking rules read.
                 _letter(_typed()).replace(b"Content-Type: application/pdf\r\n",
                                           b'Content-Type: application/pdf; name="2569_dds_0403_57.pdf.js"\r\n', 1),
                 letter(body=BODY, files=[("หนังสือ นำส่ง.pdf", _typed()), ("ตาราง.xlsx", b"PK\x03\x04 not really"),
                                          ("empty.pdf", b"")])]
    kept = 0
    for raw in messages:
        path = tmp_path / "r"
        path.unlink(missing_ok=True)
        keep_reading(raw, path)
        if not path.exists():
            continue  # classified or uncertain: nothing kept
        reading = LetterReading.decode(path.read_bytes())
        taken = reading.mail_of(hashlib.sha256(raw).hexdigest(), "sender@example.org")
        assert taken == parse_mail(raw, "sender@example.org")
        assert reading.mail_of(hashlib.sha256(raw + b" ").hexdigest(), "sender@example.org") is None
        kept += 1
    assert kept > 50


def test_a_letter_of_files_too_large_to_keep_twice_is_parsed_again_with_its_pdfs_readings(tmp_path, monkeypatch):
    from gateway.secrecy.markings import keep_reading

    raw = _letter(_typed())
    monkeypatch.setattr(pdf_readings, "MAX_FILES", 1000)  # the PDF is ~20 KB
    keep_reading(raw, tmp_path / "r")
    reading = LetterReading.decode((tmp_path / "r").read_bytes())
    assert reading.mail is None and len(reading.readings.by_sha256) == 1
    assert (tmp_path / "r").stat().st_size < 10_000  # the file's bytes are not there


def test_a_letter_the_pipeline_finds_classified_has_its_reading_shredded(services):
    """The DATA check writes none for a classified letter; should one be there all the
    same (a marking only the pipeline sees), it goes with the sealed letter's spool file."""
    pdf = _typed()
    draft, _ = _through_data(services, _letter(pdf))
    reading = draft.reading_path.read_bytes()
    draft.discard()
    queue_id = services.spool.accept(_letter(pdf, extra_headers={"X-Saraban-Secrecy": "ลับ"}), SENDER, [UNIT])
    services.spool.reading_path(queue_id).write_bytes(reading)

    assert run_once(services) == 1
    with services.db.session() as session:
        assert session.get(Message, queue_id).state == "done"
        assert session.query(Letter).one().reference is None  # sealed: nothing in plain text
    assert list(services.spool.readings.iterdir()) == []
    assert services.spool.pending() == []


def test_at_startup_readings_of_letters_no_longer_waiting_are_removed(services):
    waiting = services.spool.accept(_letter(_typed()), SENDER, [UNIT])
    services.spool.reading_path(waiting).write_bytes(b"{}")
    services.spool.reading_path("0000deadbeef").write_bytes(b"{}")  # its letter finished before a crash
    assert services.spool.clean_readings() == 1
    assert [p.name for p in services.spool.readings.iterdir()] == [f"{waiting}.json"]


def test_through_smtp_the_letter_is_read_once_and_leaves_nothing_in_readings(daemon):
    queue_id = daemon.send(_letter(_typed()), UNIT)
    daemon.wait_idle()
    # Logged just after the spool entry is removed: the outbox may be drained a moment before.
    finished = [e for e in daemon.wait_for_event("message_finished", timeout=30, queue_id=queue_id)
                if e.get("event") == "message_finished" and e.get("queue_id") == queue_id]
    assert finished and finished[-1]["pdfs_read_at_data"] == 1 and finished[-1]["parsed_at_data"] is True
    assert [row["reference"] for row in daemon.register()] == [REFERENCE]
    assert list((daemon.data_dir / "spool" / "readings").iterdir()) == []


def test_a_reading_too_large_to_keep_is_not_written_and_costs_the_letter_nothing(tmp_path):
    """A letter of many long files: the reading is measured before it is encoded (the
    worker's memory cap is the letter's certainty), and simply not kept."""
    from gateway.pipeline.pdf_inspect import PdfInfo
    from gateway.pipeline.pdf_readings import MAX_READING, ReadingRecorder

    recorder = ReadingRecorder(reader=lambda data: PdfInfo("ก" * 200_000, 1, False, None, ("ก" * 1000,)))
    for n in range(MAX_READING // 200_000 + 1):
        recorder(b"%%PDF-1.4 file %d" % n)

    def out_of_memory():
        raise MemoryError  # what encoding it whole would cost under the worker's cap

    recorder.encode = out_of_memory
    assert recorder.write(tmp_path / "r.json") is False
    assert not (tmp_path / "r.json").exists()
    few = ReadingRecorder(reader=lambda data: PdfInfo("ก" * 1000, 1, False, None, ()))
    few(b"%PDF-1.4 one file")
    assert few.write(tmp_path / "r.json") is True
    assert len(LetterReading.decode((tmp_path / "r.json").read_bytes()).readings.by_sha256) == 1


def test_a_reading_cut_short_by_a_full_disk_is_removed_and_the_letter_keeps_its_answer(tmp_path, monkeypatch):
    from gateway.secrecy.markings import keep_reading

    writes = []

    def full_disk(fd, data):
        writes.append(len(data))
        if len(writes) > 1:
            raise OSError(28, "No space left on device")
        return len(data)

    monkeypatch.setattr(pdf_readings.os, "write", full_disk)
    found = keep_reading(_letter(_typed()), tmp_path / "r")
    assert (found.level, found.certain) == ("none", True)  # read whole: the cache is not the answer
    assert len(writes) == 2 and not (tmp_path / "r").exists()
