"""The unit directory: the demo file holds what seed 000 lists, and bad files are refused
with a message that tells the operator where and what."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gateway.units.directory import DirectoryError, Unit, is_saraban_address, load_directory
from gateway.units.from_csv import import_units_csv, write_units_toml
from tests.paths import REPO, seed_text

UNITS_TOML = REPO / "config" / "units.toml"

# Slips in the scanned circular (seed 000) that the demo directory corrects; the
# header of config/units.toml says the same.
SEED_SLIPS = {
    "สำนักงานกระบายน้ำ": "สำนักการระบายน้ำ",
    "สำนักงานเลขาธิการ สำนักการระบายน้ำ": "สำนักงานเลขานุการ สำนักการระบายน้ำ",
    "สำนักงานสถานธนาอนุบาลกรุงเทพมหานคร": "สำนักงานสถานธนานุบาลกรุงเทพมหานคร",
    "ฝ่ายนิติกิจ": "ฝ่ายเทศกิจ",
    "ฝ่ายแผนงาน": "ฝ่ายพัฒนาชุมชนและสวัสดิการสังคม",
    "สำนักเทคนิค": "สำนักเทศกิจ",
    "สำนักงานสัมพันธวงศ์": "สำนักงานเขตสัมพันธวงศ์",
}

SEED_ADDRESS = re.compile(r"(saraban\.[a-z0-9.&-]+)@bangkok\.go\.th")
# "- ฝ่ายปกครอง saraban.latkrabang.admin@..." and "ฝ่ายปกครอง สำนักงานเขตดินแดง\tsaraban...".
SEED_NAMED_ADDRESS = re.compile(
    r"^[-\s]*(?P<name>\S[^\t\n]*?)[\t ]+(?P<address>saraban\.[a-z0-9.&-]+)@bangkok\.go\.th\s*$",
    re.MULTILINE)
# Rows of the sign-up timetable: "สำนักงานเขตพระนคร\tมิถุนายน-กรกฎาคม ๒๕๖๕\t...".
SEED_TIMETABLE_ROW = re.compile(r"^(?P<name>[^\t\n]+)\tมิถุนายน-กรกฎาคม", re.MULTILINE)


@pytest.fixture(scope="module")
def demo():
    return load_directory(UNITS_TOML)


@pytest.fixture(scope="module")
def seed():
    return seed_text("000")


def write(tmp_path: Path, text: str, name: str = "units.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def unit_toml(address, name_th="หน่วยทดสอบ", parent="", folder=None, extra=""):
    folder = folder if folder is not None else address.replace("saraban.", "").replace(".", "_")
    return (f'[[unit]]\naddress = "{address}"\nname_th = "{name_th}"\nname_en = ""\n'
            f'parent = "{parent}"\nfolder = "{folder}"\n{extra}\n')


def refused(path: Path) -> str:
    with pytest.raises(DirectoryError) as caught:
        load_directory(path)
    return str(caught.value)


# --- the demo directory against seed 000 -------------------------------------------------

def test_every_seed_address_resolves(demo, seed):
    addresses = set(SEED_ADDRESS.findall(seed))
    assert len(addresses) >= 30, "the seed parser lost the address lists"
    missing = sorted(a for a in addresses if demo.lookup(f"{a}@bangkok.go.th") is None)
    assert missing == []


def test_seed_addresses_carry_their_thai_names(demo, seed):
    pairs = SEED_NAMED_ADDRESS.findall(seed)
    assert {a for _, a in pairs} == set(SEED_ADDRESS.findall(seed)), "an address lost its name"
    for seed_name, address in pairs:
        expected = seed_name
        for slip, fixed in SEED_SLIPS.items():
            expected = expected.replace(slip, fixed)
        # Lat Krabang's list gives the section only; the directory adds the office.
        assert demo.lookup(address).name_th.startswith(expected), (address, seed_name)


def test_named_examples_read_as_in_the_circular(demo):
    assert demo.lookup("saraban.dindaeng.cd&sw").name_th == \
        "ฝ่ายพัฒนาชุมชนและสวัสดิการสังคม สำนักงานเขตดินแดง"
    assert demo.lookup("saraban.hd.04").name_th == "ศูนย์บริการสาธารณสุข ๔ ดินแดง สำนักอนามัย"
    assert demo.lookup("saraban.latkrabang.ed").name_th == "ฝ่ายการศึกษา สำนักงานเขตลาดกระบัง"
    assert demo.lookup("saraban.pomprap").name_th == "สำนักงานเขตป้อมปราบศัตรูพ่าย"


def test_every_agency_of_the_timetable_is_a_unit(demo, seed):
    names = {row for row in SEED_TIMETABLE_ROW.findall(seed)}
    assert len(names) >= 70, "the seed parser lost the timetable"
    known = {unit.name_th for unit in demo.units}
    missing = sorted(n for n in names if SEED_SLIPS.get(n, n) not in known)
    assert missing == []


def test_fifty_district_offices(demo, seed):
    districts = [u for u in demo.units if u.name_th.startswith("สำนักงานเขต") and not u.parent]
    assert len(districts) == 50
    assert len({u.address for u in districts}) == 50
    for address, name in [("saraban.phranakhon", "สำนักงานเขตพระนคร"),
                          ("saraban.latkrabang", "สำนักงานเขตลาดกระบัง"),
                          ("saraban.talingchan", "สำนักงานเขตตลิ่งชัน"),
                          ("saraban.samphanthawong", "สำนักงานเขตสัมพันธวงศ์"),
                          ("saraban.bangkhunthian", "สำนักงานเขตบางขุนเทียน")]:
        assert demo.lookup(address).name_th == name
        assert demo.lookup(address).name_en.endswith("District Office")


def test_demo_addresses_keep_the_scheme(demo):
    assert len(demo.units) >= 100
    for unit in demo.units:
        assert len(unit.address) <= 30, unit.address
        assert is_saraban_address(unit.address), unit.address
        assert re.fullmatch(r"[a-z0-9_-]+", unit.folder), unit.folder
    assert len({u.folder for u in demo.units}) == len(demo.units)


# --- lookups -----------------------------------------------------------------------------

def test_lookup_ignores_case_of_local_part_and_domain(demo):
    unit = demo.lookup("SARABAN.DinDaeng.CD&SW@Bangkok.GO.TH")
    assert unit is not None and unit.address == "saraban.dindaeng.cd&sw"
    assert demo.lookup("Saraban.DDS") == demo.lookup("saraban.dds@bangkok.go.th")
    assert demo.lookup("  saraban.dds@bangkok.go.th ") is not None


def test_lookup_refuses_other_domains(demo):
    assert demo.lookup("saraban.dds@gmail.com") is None
    assert demo.lookup("saraban.dds@bangkok.go.th.example.com") is None
    assert demo.lookup("saraban.dds@mail.bangkok.go.th") is None
    assert not demo.in_domain("saraban.dds@gmail.com")
    assert demo.in_domain("saraban.nosuch@BANGKOK.go.th")


def test_domain_is_configurable():
    directory = load_directory(UNITS_TOML, domain="Example.ORG")
    assert directory.lookup("saraban.dds@example.org").name_th == "สำนักการระบายน้ำ"
    assert directory.lookup("saraban.dds@bangkok.go.th") is None


def test_unknown_units_and_the_saraban_scheme(demo):
    assert demo.lookup("saraban.nosuch@bangkok.go.th") is None
    assert demo.lookup("postmaster@bangkok.go.th") is None
    # 550 5.1.1 for a wrong saraban unit, 550 5.7.1 for everything else.
    assert is_saraban_address("saraban.nosuch")
    assert is_saraban_address("SARABAN.DDS.SD")
    assert is_saraban_address("saraban.dindaeng.cd&sw")
    for other in ("postmaster", "saraban", "saraban.", "sarabandds", "saraban..dds",
                  "saraban.dds.", "saraban.dd s", "x.saraban.dds", ""):
        assert not is_saraban_address(other), other


def test_unit_is_frozen(demo):
    unit = demo.lookup("saraban.dds")
    with pytest.raises(AttributeError):
        unit.name_th = "อื่น"
    assert {unit: 1}[demo.lookup("saraban.dds")] == 1


# --- ownership (appendix ง: a unit sees only letters of the units it owns) ---------------

def test_owned_by_a_district_is_its_sections(demo):
    owned = [u.address for u in demo.owned_by("saraban.latkrabang")]
    assert owned[0] == "saraban.latkrabang"
    assert set(owned) == {"saraban.latkrabang"} | {
        f"saraban.latkrabang.{s}"
        for s in ("admin", "reg", "pw", "en", "rev", "clean", "ed", "fin", "citylaw", "cd&sw")}
    assert "saraban.dindaeng.admin" not in owned


def test_a_section_owns_only_itself(demo):
    assert [u.address for u in demo.owned_by("saraban.latkrabang.ed@bangkok.go.th")] == \
        ["saraban.latkrabang.ed"]
    assert demo.children("saraban.latkrabang.ed") == []
    assert demo.owned_by("saraban.nosuch") == []
    assert demo.owned_by("saraban.latkrabang@gmail.com") == []


def test_children_and_parents_added_for_sub_units(demo):
    assert [u.address for u in demo.children("saraban.hd")] == ["saraban.hd.04"]
    assert demo.lookup("saraban.hd").name_th == "สำนักอนามัย"
    assert demo.lookup("saraban.dds.sd").parent == "saraban.dds"
    assert demo.lookup("saraban.pawnshop.branch1").parent == "saraban.pawnshop"


def test_owned_by_reaches_grandchildren(tmp_path):
    path = write(tmp_path, unit_toml("saraban.a") + unit_toml("saraban.a.b", parent="saraban.a")
                 + unit_toml("saraban.a.b.c", parent="saraban.a.b") + unit_toml("saraban.z"))
    directory = load_directory(path)
    assert [u.address for u in directory.owned_by("saraban.a")] == \
        ["saraban.a", "saraban.a.b", "saraban.a.b.c"]
    assert [u.address for u in directory.owned_by("saraban.a.b")] == ["saraban.a.b", "saraban.a.b.c"]
    assert [u.address for u in directory.children("saraban.a")] == ["saraban.a.b"]


def test_unit_settings_are_read(tmp_path):
    path = write(tmp_path, unit_toml("saraban.a", extra='[unit.settings]\ndelivery = "imap"\nmax_mb = 25\n')
                 + unit_toml("saraban.b"))
    directory = load_directory(path)
    assert directory.lookup("saraban.a").settings == {"delivery": "imap", "max_mb": 25}
    assert directory.lookup("saraban.b").settings == {}


# --- validation: the message names the file, the unit and the problem -------------------

def test_duplicate_address(tmp_path):
    path = write(tmp_path, unit_toml("saraban.a") + unit_toml("saraban.a", folder="a2"))
    message = refused(path)
    assert str(path) in message
    assert "unit #2 (saraban.a): duplicate address, already used by unit #1" in message


def test_bad_characters(tmp_path):
    for bad in ("saraban.ดินแดง", "saraban.a b", "saraban..a", "saraban.a/../b", "saraban.a_b"):
        message = refused(write(tmp_path, unit_toml("saraban.ok") + unit_toml(bad, folder="x")))
        assert f"unit #2 ({bad}): address '{bad}' has bad characters" in message, message


def test_uppercase_address_is_refused_with_the_fix(tmp_path):
    message = refused(write(tmp_path, unit_toml("saraban.DDS", folder="dds")))
    assert "unit #1 (saraban.DDS): address 'saraban.DDS' must be lowercase ('saraban.dds')" in message


def test_full_address_instead_of_local_part(tmp_path):
    message = refused(write(tmp_path, unit_toml("saraban.dds@bangkok.go.th", folder="dds")))
    assert "must be the local part only, without '@domain'" in message


def test_local_part_over_thirty_characters(tmp_path):
    long_address = "saraban.latkrabang.schoolnumber1"  # 32 characters
    ok_address = "saraban.latkrabang.schoolnumbe"  # exactly 30
    message = refused(write(tmp_path, unit_toml(long_address, folder="x")))
    assert f"unit #1 ({long_address})" in message
    assert "is 32 characters long, over the limit of 30" in message
    assert load_directory(write(tmp_path, unit_toml(ok_address, folder="x"))).lookup(ok_address)


def test_unknown_parent(tmp_path):
    message = refused(write(tmp_path, unit_toml("saraban.a.b", parent="saraban.a")))
    assert "unit #1 (saraban.a.b): unknown parent 'saraban.a'" in message


def test_parent_cycle(tmp_path):
    path = write(tmp_path, unit_toml("saraban.top") + unit_toml("saraban.a", parent="saraban.b")
                 + unit_toml("saraban.b", parent="saraban.a"))
    message = refused(path)
    assert "unit #2 (saraban.a): parent cycle saraban.a → saraban.b → saraban.a" in message
    assert message.count("parent cycle") == 1


def test_own_parent_is_a_cycle(tmp_path):
    message = refused(write(tmp_path, unit_toml("saraban.a", parent="saraban.a")))
    assert "unit #1 (saraban.a): parent cycle saraban.a → saraban.a" in message


def test_duplicate_folder(tmp_path):
    path = write(tmp_path, unit_toml("saraban.a", folder="shared") + unit_toml("saraban.b", folder="shared"))
    message = refused(path)
    assert "unit #2 (saraban.b): duplicate folder 'shared', already used by unit #1 (saraban.a)" in message


def test_unsafe_folder(tmp_path):
    for bad in ("../etc", "a.b", "cd&sw", "", "a/b"):
        message = refused(write(tmp_path, unit_toml("saraban.dindaeng.cd&sw", folder=bad)))
        assert f"folder {bad!r} is not a safe folder name" in message
        assert "'dindaeng_cd-sw'" in message


def test_missing_key(tmp_path):
    path = write(tmp_path, '[[unit]]\naddress = "saraban.a"\nfolder = "a"\n')
    message = refused(path)
    assert f"{path}: unit #1 (saraban.a): missing key 'name_th'" in message
    message = refused(write(tmp_path, '[[unit]]\nname_th = "ก"\nfolder = "a"\n'))
    assert "unit #1 (no address): missing key 'address'" in message


def test_misspelt_key_and_wrong_types(tmp_path):
    message = refused(write(tmp_path, unit_toml("saraban.a", extra='nmae_en = "x"\n')))
    assert "unit #1 (saraban.a): unknown key(s) nmae_en" in message
    message = refused(write(tmp_path, '[[unit]]\naddress = "saraban.a"\nname_th = 5\nfolder = "a"\n'))
    assert "'name_th' must be a string, not int" in message
    message = refused(write(tmp_path, unit_toml("saraban.a", extra='settings = "fast"\n')))
    assert "'settings' must be a table" in message


def test_every_problem_is_reported_at_once(tmp_path):
    path = write(tmp_path, unit_toml("saraban.A", folder="a") + unit_toml("saraban.b", parent="saraban.x")
                 + unit_toml("saraban.c", folder="c") + unit_toml("saraban.d", folder="c"))
    with pytest.raises(DirectoryError) as caught:
        load_directory(path)
    assert len(caught.value.problems) == 3


def test_unreadable_files(tmp_path):
    assert "unit directory file not found" in refused(tmp_path / "nope.toml")
    assert "not valid TOML" in refused(write(tmp_path, '[[unit]\naddress = "saraban.a"\n'))
    assert "the directory is empty" in refused(write(tmp_path, "# nothing yet\n"))
    assert "must be an array of tables" in refused(write(tmp_path, 'unit = "saraban.a"\n'))
    bad_bytes = tmp_path / "tis620.toml"
    bad_bytes.write_bytes('name_th = "สำนัก"\n'.encode("tis-620"))
    assert "not UTF-8" in refused(bad_bytes)


# --- CSV import --------------------------------------------------------------------------

CSV_TEXT = (
    "address,name_th,name_en,parent,folder\n"
    "saraban.dindaeng,สำนักงานเขตดินแดง,Din Daeng District Office,,dindaeng\n"
    'saraban.dindaeng.cd&sw,ฝ่ายพัฒนาชุมชนและสวัสดิการสังคม สำนักงานเขตดินแดง,'
    '"Community Development, ""Social"" Welfare",saraban.dindaeng,\n'
    "\n"
    "saraban.hd,สำนักอนามัย,Health Department,,hd\n"
    "saraban.hd.04,ศูนย์บริการสาธารณสุข ๔ ดินแดง สำนักอนามัย,Public Health Center 4,saraban.hd,hd_04\n"
)


@pytest.mark.parametrize("bom", [True, False], ids=["with-bom", "without-bom"])
def test_csv_round_trip_keeps_thai_names(tmp_path, bom):
    csv_path = tmp_path / "units.csv"
    csv_path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + CSV_TEXT.encode("utf-8"))
    rows = import_units_csv(csv_path)
    assert [r["address"] for r in rows] == ["saraban.dindaeng", "saraban.dindaeng.cd&sw",
                                            "saraban.hd", "saraban.hd.04"]
    toml_path = tmp_path / "units.toml"
    write_units_toml(rows, toml_path)
    directory = load_directory(toml_path)
    unit = directory.lookup("saraban.dindaeng.cd&sw@bangkok.go.th")
    assert unit == Unit(address="saraban.dindaeng.cd&sw",
                        name_th="ฝ่ายพัฒนาชุมชนและสวัสดิการสังคม สำนักงานเขตดินแดง",
                        name_en='Community Development, "Social" Welfare',
                        parent="saraban.dindaeng", folder="dindaeng_cd-sw")
    assert directory.lookup("saraban.hd.04").name_th == "ศูนย์บริการสาธารณสุข ๔ ดินแดง สำนักอนามัย"
    assert [u.address for u in directory.owned_by("saraban.hd")] == ["saraban.hd", "saraban.hd.04"]


def test_demo_directory_survives_toml_rewrite(tmp_path, demo):
    rows = [{"address": u.address, "name_th": u.name_th, "name_en": u.name_en,
             "parent": u.parent, "folder": u.folder, "settings": u.settings} for u in demo.units]
    rows[0]["settings"] = {"delivery": "imap", "quota_mb": 100, "notify": True}
    path = tmp_path / "units.toml"
    write_units_toml(rows, path)
    again = load_directory(path)
    assert again.units == demo.units
    assert again.units[0].settings == {"delivery": "imap", "quota_mb": 100, "notify": True}


def test_csv_with_missing_column(tmp_path):
    csv_path = tmp_path / "units.csv"
    csv_path.write_text("address,name_th\nsaraban.a,ก\n", encoding="utf-8")
    with pytest.raises(DirectoryError) as caught:
        import_units_csv(csv_path)
    assert str(csv_path) in str(caught.value)
    assert "missing column(s) name_en, parent, folder" in str(caught.value)


def test_csv_in_a_thai_legacy_charset_is_refused(tmp_path):
    csv_path = tmp_path / "units.csv"
    csv_path.write_bytes("address,name_th,name_en,parent,folder\nsaraban.a,สำนัก,,,a\n".encode("tis-620"))
    with pytest.raises(DirectoryError, match="not UTF-8.*CSV UTF-8"):
        import_units_csv(csv_path)


def test_bad_csv_values_are_caught_when_loading(tmp_path):
    csv_path = tmp_path / "units.csv"
    csv_path.write_text("address,name_th,name_en,parent,folder\nSaraban.A,ก,,,\n", encoding="utf-8")
    toml_path = tmp_path / "units.toml"
    write_units_toml(import_units_csv(csv_path), toml_path)
    assert "must be lowercase" in refused(toml_path)


def test_a_secret_folder_that_cannot_work_or_is_a_units_folder_is_refused(tmp_path):
    """`secret_folder` in [unit.settings] is the secret registrar's Maildir. It was read
    only when a ลับ letter came: a NUL, a '/', a name past what a file system holds made
    that letter's sealed copy fail at every attempt, never filed, while check-config
    and the start said nothing; one naming a unit's folder filed the registrar's copies
    and alerts among that unit's ordinary letters (session 52)."""
    for bad in ("a\x00b", "a\nb", "../x", "x/y", ".hidden", "a" * 300, "", 7):
        value = json.dumps(bad)  # a TOML basic string (\u0000 for the NUL) or an integer
        message = refused(write(tmp_path, unit_toml("saraban.a", extra=f"[unit.settings]\nsecret_folder = {value}\n")))
        assert "unit #1 (saraban.a): settings.secret_folder" in message and "not a safe folder name" in message, bad
    message = refused(write(tmp_path, unit_toml("saraban.a", extra='[unit.settings]\nsecret_folder = "b"\n')
                            + unit_toml("saraban.b")))
    assert "unit #1 (saraban.a): settings.secret_folder 'b' is a unit's folder" in message
    for good in ("a-registrar", "A.Registrar", "ทะเบียนลับ"):  # capitals and Thai worked before: they still do
        fine = load_directory(write(tmp_path, unit_toml("saraban.a", extra=f"[unit.settings]\nsecret_folder = {json.dumps(good)}\n")))
        assert fine.lookup("saraban.a").settings == {"secret_folder": good}
