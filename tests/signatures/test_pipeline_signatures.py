"""Signed letters through the REAL daemon over SMTP: register, review, quarantine, stamp.

One daemon (trust roots = the test PKI's root, its CRLs as the offline cache) serves the
module; each test tells its letters apart by Message-ID. saraban.latkrabang is
configured to reject a bad signature, every other unit keeps the default (register and
flag for review)."""
from __future__ import annotations

import email
import email.policy
import hashlib
import io
import json
import sqlite3
import tarfile
import zipfile
import uuid
from pathlib import Path

import pypdf
import pytest

from gateway.signatures.trust import TrustSettings
from gateway.signatures.verify import verify_pdf
from tests.daemon import Daemon, write_config
from tests.letters import letter, make_pdf, outlook_letter, tnef_file
from tests.paths import shared_path
from tests.pki import (
    VALID_SIGNER_NAME,
    VALID_SIGNER_ORG,
    make_letter,
    make_p7m,
    make_smime,
    sign_letter,
    tamper_change_field,
    tamper_draw_content,
    tamper_flip_byte,
)
from tests.signatures.test_archives_session16 import tarred, windows_zip, zipped

REJECTING = "saraban.latkrabang@bangkok.go.th"
REVIEWING = "saraban.pomprap@bangkok.go.th"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, pki):
    root = tmp_path_factory.mktemp("sigwire")
    extra = (
        "[signatures]\n"
        f'trust_roots = "{pki.roots_pem}"\n'
        f'revocation_dir = "{pki.revocation_dir}"\n'
        'unit_on_failure = { "saraban.latkrabang" = "reject" }\n'
        "timeout = 10\n"  # hostile corpus files that hang are cut off sooner
    )
    d = Daemon(write_config(root, extra=extra)).start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def module_trust(pki):
    return TrustSettings.load([pki.roots_pem], revocation_dir=pki.revocation_dir, env={})


def send(d: Daemon, files: list[tuple[str, bytes]], to: str) -> tuple[str, str]:
    message_id = f"<{uuid.uuid4()}@dds.bangkok.go.th>"
    queue_id = d.send(letter(to=to, files=files, message_id=message_id), to)
    return queue_id, message_id


def entry_for(d: Daemon, message_id: str, unit: str) -> dict:
    d.wait_idle()
    found = [e for e in d.register("--unit", unit.split("@")[0]) if e["message_id"] == message_id]
    assert len(found) == 1, found
    return found[0]


def folder_copy(d: Daemon, folder: str, queue_id: str) -> email.message.EmailMessage:
    [path] = [p for p in d.maildir_files(folder) if p.name.startswith(queue_id)]
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


def files_of(copy) -> dict[str, bytes]:
    return {p.get_filename(): p.get_content() for p in copy.iter_attachments()}


def quarantined(d: Daemon, queue_id: str) -> list[tuple[str, list]]:
    with sqlite3.connect(d.data_dir / "saraban.db") as db:
        rows = db.execute("select unit, reasons from quarantine where queue_id = ?", (queue_id,)).fetchall()
    return [(unit, json.loads(reasons)) for unit, reasons in rows]


def stamp_text(pdf: bytes) -> str:
    page = pypdf.PdfReader(io.BytesIO(pdf)).pages[0]
    for annot in page["/Annots"]:
        annot = annot.get_object()
        if str(annot.get("/T", "")).startswith("SarabanReceiveStamp"):
            ap = annot["/AP"]["/N"].get_object()
            return page.extract_xform_text(ap, (0, 90, 180, 270), 200.0)
    raise AssertionError("no receive stamp on page 1")


def test_signed_letter_is_registered_passed_and_filed_with_a_stamped_copy(gateway, pki, module_trust):
    signed = sign_letter(make_letter(), pki)
    queue_id, mid = send(gateway, [("2569_dds_0403_57.pdf", signed)], REVIEWING)
    entry = entry_for(gateway, mid, REVIEWING)

    assert entry["review"] is False
    [attachment] = entry["attachments"]
    [sig] = attachment["signatures"]
    assert sig["indication"] == "TOTAL_PASSED" and sig["sub_indication"] is None
    assert sig["signer"] == VALID_SIGNER_NAME and sig["organisation"] == VALID_SIGNER_ORG
    assert sig["signed_at"]  # ISO time, as the signer claimed it
    assert not [f for f in entry["findings"] if f["rule"] == "signature"]  # passes are not findings

    copy = folder_copy(gateway, "pomprap", queue_id)
    assert copy["X-Saraban-Signature"].startswith("2569_dds_0403_57.pdf; TOTAL_PASSED; " + VALID_SIGNER_NAME)
    assert copy["X-Saraban-Stamp"] == "stamped: 2569_dds_0403_57.stamped.pdf"
    files = files_of(copy)
    assert files["2569_dds_0403_57.pdf"] == signed  # the original travels untouched
    stamped = files["2569_dds_0403_57.stamped.pdf"]
    assert stamped.startswith(signed)  # an incremental update on top of it

    # Read back from the Maildir file: the sender's signature still holds.
    verdict = verify_pdf(stamped, module_trust)
    sender = next(s for s in verdict.signatures if s.field == "Signature1")
    assert sender.indication == "TOTAL_PASSED" and sender.signer == VALID_SIGNER_NAME
    assert sender.modifications == "signatures_added" and not sender.review
    seal = next(s for s in verdict.signatures if s.field != "Signature1")
    assert seal.signer.startswith("Saraban Gateway Seal")

    text = stamp_text(stamped)
    number, year = entry["receive_no"].split("/")
    thai = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")
    # The unit's Thai name from the directory; marks above the line (ำ ้ ่) come back
    # from pypdf as positional glyph variants, so compare a stretch without them.
    assert "อมปราบศัตรู" in text
    assert f"เลขรับ {number.translate(thai)}/{year.translate(thai)}" in text
    assert "วันที่" in text and "เวลา" in text


@pytest.mark.parametrize("tamper", [tamper_flip_byte, tamper_draw_content], ids=["bytes", "drawn"])
def test_tampered_letter_is_flagged_for_review_by_default(gateway, pki, tamper):
    bad = tamper(sign_letter(make_letter(), pki))
    queue_id, mid = send(gateway, [("2569_dds_0403_58.pdf", bad)], REVIEWING)
    entry = entry_for(gateway, mid, REVIEWING)

    assert entry["review"] is True
    [sig] = entry["attachments"][0]["signatures"]
    assert sig["review"] is True
    if tamper is tamper_flip_byte:
        assert (sig["indication"], sig["sub_indication"]) == ("TOTAL_FAILED", "HASH_FAILURE")
    else:  # content drawn in a later revision: the signature is intact, the file is not
        assert sig["modifications"] == "other"
    [finding] = [f for f in entry["findings"] if f["rule"] == "signature"]
    assert finding["verdict"] == "warn" and finding["attachment"] == "2569_dds_0403_58.pdf"
    assert "ต้องตรวจสอบ" in finding["message_th"]

    copy = folder_copy(gateway, "pomprap", queue_id)
    assert copy["X-Saraban-Review"] == "yes"
    assert "review" in copy["X-Saraban-Signature"]


def test_a_replaced_field_is_named_in_the_register_and_the_folder_copy(gateway, pki):
    from tests.pki import tamper_change_field

    replaced = tamper_change_field(sign_letter(make_letter(with_form_field=True), pki), "อนุมัติ ๑,๐๐๐,๐๐๐ บาท")
    queue_id, mid = send(gateway, [("2569_dds_0403_60.pdf", replaced)], REVIEWING)
    entry = entry_for(gateway, mid, REVIEWING)
    [sig] = entry["attachments"][0]["signatures"]
    assert (sig["indication"], sig["sub_indication"]) == ("INDETERMINATE", "SIG_CONSTRAINTS_FAILURE")
    assert sig["changed_fields"] == ["remark"]
    said = 'form field remark on page 1 showed "ต้นฉบับ" when signed and now shows "อนุมัติ ๑,๐๐๐,๐๐๐ บาท"'
    assert said in sig["message"]
    copy = folder_copy(gateway, "pomprap", queue_id)
    header = " ".join(copy["X-Saraban-Signature"].split())
    assert header.startswith("2569_dds_0403_60.pdf; INDETERMINATE/SIG_CONSTRAINTS_FAILURE; ")
    assert said in header


def test_unit_that_rejects_bad_signatures_quarantines_the_letter(gateway, pki):
    bad = tamper_flip_byte(sign_letter(make_letter(), pki))
    queue_id, mid = send(gateway, [("2569_dds_0403_59.pdf", bad)], REJECTING)
    gateway.wait_idle()
    assert not [e for e in gateway.register("--unit", "saraban.latkrabang") if e["message_id"] == mid]
    [(unit, reasons)] = quarantined(gateway, queue_id)
    assert unit == "saraban.latkrabang"
    assert [r["rule"] for r in reasons] == ["signature"]
    assert "HASH_FAILURE" in reasons[0]["message_en"]
    # A good signature is no reason to reject, even there.
    good = sign_letter(make_letter(), pki)
    _, mid = send(gateway, [("2569_dds_0403_60.pdf", good)], REJECTING)
    assert entry_for(gateway, mid, REJECTING)["attachments"][0]["signatures"][0]["indication"] == "TOTAL_PASSED"


def test_untrusted_signer_is_indeterminate(gateway, pki):
    odd = sign_letter(make_letter(), pki, pki.self_signed)
    _, mid = send(gateway, [("2569_dds_0403_61.pdf", odd)], REVIEWING)
    entry = entry_for(gateway, mid, REVIEWING)
    [sig] = entry["attachments"][0]["signatures"]
    assert (sig["indication"], sig["sub_indication"]) == ("INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND")
    assert entry["review"] is True


def test_certified_no_changes_letter_gets_a_receipt_beside_the_untouched_original(gateway, pki, module_trust):
    certified = sign_letter(make_letter(), pki, certify_no_changes=True)
    queue_id, mid = send(gateway, [("2569_dds_0403_62.pdf", certified)], REVIEWING)
    entry = entry_for(gateway, mid, REVIEWING)
    [sig] = entry["attachments"][0]["signatures"]
    assert sig["indication"] == "TOTAL_PASSED" and sig["certification"] == "no_changes"

    copy = folder_copy(gateway, "pomprap", queue_id)
    receipt_name = f"receipt-{entry['receive_no'].replace('/', '-')}.pdf"
    assert copy["X-Saraban-Stamp"].startswith(f"receipt: {receipt_name}")
    files = files_of(copy)
    assert files["2569_dds_0403_62.pdf"] == certified
    assert set(files) == {"2569_dds_0403_62.pdf", receipt_name}
    receipt = pypdf.PdfReader(io.BytesIO(files[receipt_name]))
    assert receipt.metadata["/Subject"] == "sha256:" + hashlib.sha256(certified).hexdigest()
    # The certified original, as filed, still validates without any change.
    assert verify_pdf(files["2569_dds_0403_62.pdf"], module_trust).signatures[0].modifications == "none"


def letter_entity(files: list[tuple[str, bytes]]) -> bytes:
    """A letter's MIME entity without the mail's own headers: what an S/MIME client signs."""
    inner = email.message_from_bytes(letter(files=files))
    for name in ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version"):
        del inner[name]
    return inner.as_bytes(policy=email.policy.SMTP)


def test_smime_signed_mail_carrying_a_signed_pdf(gateway, pki):
    signed_pdf = sign_letter(make_letter(), pki)
    mid = f"<{uuid.uuid4()}@dds.bangkok.go.th>"
    raw = make_smime(pki, inner=letter_entity([("2569_dds_0403_63.pdf", signed_pdf)]), headers={
        "From": "saraban.dds@bangkok.go.th", "To": REVIEWING, "Message-ID": mid,
        "Subject": "=?utf-8?b?4Lir4LiZ4Lix4LiH4Liq4Li34Lit?="})
    queue_id = gateway.send(raw, REVIEWING)
    entry = entry_for(gateway, mid, REVIEWING)
    by_name = {a["filename"]: a for a in entry["attachments"]}
    assert by_name["2569_dds_0403_63.pdf"]["signatures"][0]["indication"] == "TOTAL_PASSED"
    [smime_sig] = by_name["smime.p7s"]["signatures"]
    assert smime_sig["kind"] == "smime" and smime_sig["indication"] == "TOTAL_PASSED"
    assert smime_sig["signer"] == VALID_SIGNER_NAME
    assert entry["review"] is False
    # The folder copy keeps the signed entity byte for byte, so its signature still holds.
    [path] = [p for p in gateway.maildir_files("pomprap") if p.name.startswith(queue_id)]
    copy = path.read_bytes()
    assert raw.partition(b"\r\n\r\n")[2] in copy
    parsed = email.message_from_bytes(copy, policy=email.policy.default)
    assert parsed["X-Saraban-Stamp"] == "stamped: 2569_dds_0403_63.stamped.pdf"
    assert [p.get_content_type() for p in parsed.iter_parts()][0] == "multipart/signed"


def test_sender_cannot_forge_signature_headers(gateway, pki):
    raw = letter(to=REVIEWING, extra_headers={"X-Saraban-Signature": "x.pdf; TOTAL_PASSED; นายกรัฐมนตรี",
                                              "X-Saraban-Stamp": "stamped: x.pdf"})
    queue_id = gateway.send(raw, REVIEWING)
    gateway.wait_idle()
    copy = folder_copy(gateway, "pomprap", queue_id)
    assert copy.get_all("X-Saraban-Signature") is None  # an unsigned PDF: no signature lines
    assert copy["X-Saraban-Stamp"] != "stamped: x.pdf"


def test_verify_command_uses_the_configured_trust(gateway, pki, tmp_path):
    path = tmp_path / "letter.pdf"
    path.write_bytes(sign_letter(make_letter(), pki))
    result = gateway.cli("verify", str(path), "--json")
    doc = json.loads(result.stdout)
    assert doc["indication"] == "TOTAL_PASSED" and doc["signatures"][0]["signer"] == VALID_SIGNER_NAME
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(tamper_flip_byte(path.read_bytes()))
    result = gateway.cli("verify", str(bad), check=False)
    assert result.returncode == 1 and "HASH_FAILURE" in result.stdout and "Traceback" not in result.stderr


# Session 16: signed PDFs inside archives (tests/signatures/test_archives_session16.py
# has the pure parts); each verified and named archive/member wherever a verdict is shown.

@pytest.fixture(scope="module")
def pdfs(pki):
    """One letter signed by the test PKI's signer, the same with a byte changed, signed
    by an unknown (self-signed) signer, and with its form field changed after signing."""
    signed = sign_letter(make_letter(with_form_field=True), pki)
    return {"valid": signed, "forged": tamper_flip_byte(signed),
            "unknown": sign_letter(make_letter(), pki, pki.self_signed),
            "modified": tamper_change_field(signed)}


def verdicts(entry: dict, archive: str) -> dict[str, tuple[str, str | None]]:
    [found] = [a for a in entry["attachments"] if a["filename"] == archive]
    return {s["member"]: (s["indication"], s["sub_indication"]) for s in found["signatures"]}


def shown_texts(gateway, entry: dict, queue_id: str) -> tuple[str, list[str]]:
    """`register show` and the folder copy's X-Saraban-Signature and -Finding lines."""
    show = gateway.cli("register", "show", "saraban.pomprap", entry["receive_no"]).stdout
    copy = folder_copy(gateway, "pomprap", queue_id)
    return show, [*(copy.get_all("X-Saraban-Signature") or []), *(copy.get_all("X-Saraban-Finding") or [])]


@pytest.fixture(scope="module")
def archives(gateway, pdfs) -> tuple[dict, str, list[str]]:
    """One letter of archives (one letter: each costs the suite seconds): its register
    entry, `register show`, and the folder copy's X-Saraban-Signature and -Finding lines."""
    files = [
        ("ส่งมา.zip", zipped([("2569_dds_0403_80.pdf", pdfs["valid"]), ("หนังสือแก้ไข.pdf", pdfs["forged"]),
                              ("ไม่รู้จัก.pdf", pdfs["unknown"]), ("แบบฟอร์ม.pdf", pdfs["modified"]),
                              ("unsigned.pdf", make_pdf("not signed"))])),
        ("a.tar", tarred([("docs/2569_dds_0403_82.pdf", pdfs["valid"])])),
        ("b.tar.gz", tarred([("2569_dds_0403_83.pdf", pdfs["forged"])], "w:gz")),
        ("c.zip", zipped([("inner.zip", zipped([("ฉบับจริง.pdf", pdfs["forged"])]))])),
        # A valid and a forged "letter.pdf" (an unzip tool puts one over the other), and
        # names that are paths or carry a line break.
        ("dup.zip", zipped([("letter.pdf", pdfs["valid"]), ("letter.pdf", pdfs["forged"]),
                            ("../../etc\\x.pdf", pdfs["forged"]), ("a\r\nX-Saraban-Signature: y.pdf", pdfs["forged"])])),
    ]
    queue_id, mid = send(gateway, files, REVIEWING)
    entry = entry_for(gateway, mid, REVIEWING)
    entry["acknowledgement"] = acknowledgement(gateway, queue_id)
    show = gateway.cli("register", "show", "saraban.pomprap", entry["receive_no"]).stdout
    copy = folder_copy(gateway, "pomprap", queue_id)
    return entry, show, [*(copy.get_all("X-Saraban-Signature") or []), *(copy.get_all("X-Saraban-Finding") or [])]


def acknowledgement(d: Daemon, queue_id: str) -> dict:
    """The acknowledgement owed to the sender (held here: no smarthost), as it is sent."""
    with sqlite3.connect(d.data_dir / "saraban.db") as db:
        [(payload,)] = db.execute("select payload from outbox where kind = 'notice' and queue_id = ? "
                                  "and key like 'ack:%'", (queue_id,)).fetchall()
    return json.loads(payload)


def test_each_signed_pdf_in_a_zip_is_verified_and_named(archives):
    """On main every PDF of a ZIP was "signatures not checked": a forged one read no
    worse than a valid one. Each now has its own verdict, named archive/member."""
    entry, show, headers = archives
    found = verdicts(entry, "ส่งมา.zip")
    assert found["2569_dds_0403_80.pdf"] == ("TOTAL_PASSED", None)
    assert found["หนังสือแก้ไข.pdf"] == ("TOTAL_FAILED", "HASH_FAILURE")
    assert found["ไม่รู้จัก.pdf"] == ("INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND")
    assert "แบบฟอร์ม.pdf" in found and "unsigned.pdf" not in found
    assert entry["review"] is True
    assert "ลายมือชื่ออิเล็กทรอนิกส์ใน ส่งมา.zip/หนังสือแก้ไข.pdf ไม่ถูกต้อง" in show
    assert "the electronic signature in ส่งมา.zip/หนังสือแก้ไข.pdf is invalid (HASH_FAILURE)" in show
    assert "ยืนยันลายมือชื่ออิเล็กทรอนิกส์ใน ส่งมา.zip/ไม่รู้จัก.pdf ไม่ได้" in show
    assert "ส่งมา.zip/แบบฟอร์ม.pdf" in show
    assert "signatures not checked" not in show
    assert any(h.startswith(f"ส่งมา.zip/2569_dds_0403_80.pdf; TOTAL_PASSED; {VALID_SIGNER_NAME}") for h in headers), headers
    assert any(h.startswith("ส่งมา.zip/หนังสือแก้ไข.pdf; TOTAL_FAILED/HASH_FAILURE") for h in headers), headers
    assert not any("หนังสือแก้ไข.pdf; TOTAL_PASSED" in h for h in headers), headers
    # The sender's acknowledgement says which archive, by its place; never a member's name.
    said = [(f["th"], f["en"]) for f in entry["acknowledgement"]["findings"] if f["rule"] == "signature"]
    assert ("ลายมือชื่ออิเล็กทรอนิกส์ใน ไฟล์ PDF ในไฟล์แนบที่ 1 ไม่ถูกต้อง (HASH_FAILURE: ข้อมูลที่ลงลายมือชื่อไว้ถูกแก้ไข) "
            "ต้องตรวจสอบก่อนดำเนินการ") in [th for th, _ in said], said
    assert any(en.startswith("the electronic signature in a PDF file inside attached file 1 is invalid") for _, en in said)
    assert not any("หนังสือแก้ไข" in th + en or "y.pdf" in th + en for th, en in said), said


def test_tar_tar_gz_and_a_zip_in_a_zip_are_verified_too(archives):
    """On main a signed PDF in a tar, a .tar.gz or a ZIP inside a ZIP had no word at all
    about its signature: the register read as if nothing was signed."""
    entry, show, headers = archives
    assert verdicts(entry, "a.tar") == {"docs/2569_dds_0403_82.pdf": ("TOTAL_PASSED", None)}
    assert verdicts(entry, "b.tar.gz") == {"2569_dds_0403_83.pdf": ("TOTAL_FAILED", "HASH_FAILURE")}
    assert verdicts(entry, "c.zip") == {"inner.zip/ฉบับจริง.pdf": ("TOTAL_FAILED", "HASH_FAILURE")}
    assert "the electronic signature in c.zip/inner.zip/ฉบับจริง.pdf is invalid" in show
    assert "the electronic signature in b.tar.gz/2569_dds_0403_83.pdf is invalid" in show
    assert any(h.startswith("a.tar/docs/2569_dds_0403_82.pdf; TOTAL_PASSED") for h in headers), headers


def test_two_members_of_one_name_and_names_that_are_paths(archives):
    """Two members of one name are told apart (the forged one fails); a name with ../, a
    backslash or a line break is shown, never split into a header of its own."""
    entry, _, headers = archives
    assert verdicts(entry, "dup.zip") == {
        "letter.pdf (1/2)": ("TOTAL_PASSED", None), "letter.pdf (2/2)": ("TOTAL_FAILED", "HASH_FAILURE"),
        "../../etc\\x.pdf": ("TOTAL_FAILED", "HASH_FAILURE"),
        "a??X-Saraban-Signature: y.pdf": ("TOTAL_FAILED", "HASH_FAILURE")}
    assert not any(h.startswith("y.pdf") for h in headers), headers
    assert any(h.startswith("dup.zip/letter.pdf (2/2); TOTAL_FAILED") for h in headers), headers


def test_a_signed_pdf_in_an_eml_sent_as_a_file_is_verified_when_the_letter_is_released(gateway, pdfs):
    """A forwarded letter sent as an .eml file (application/octet-stream, as a mail client
    attaches a saved message) is held as a type not accepted; released by the operator,
    it was registered with no word on the forged PDF inside it (main read its text only).
    It is verified now, named forwarded.eml/member."""
    inner = letter(to=REVIEWING, files=[("2569_dds_0403_91.pdf", pdfs["forged"])])
    queue_id, mid = send(gateway, [("forwarded.eml", inner), ("2569_dds_0403_92.pdf", make_pdf("cover"))], REVIEWING)
    gateway.wait_idle()
    with sqlite3.connect(gateway.data_dir / "saraban.db") as db:
        [(held,)] = db.execute("select id from quarantine where queue_id = ?", (queue_id,)).fetchall()
    gateway.cli("quarantine", "release", str(held), "--reason", "ผอ.เขตสั่งให้รับเรื่อง")
    entry = entry_for(gateway, mid, REVIEWING)
    assert verdicts(entry, "forwarded.eml") == {"2569_dds_0403_91.pdf": ("TOTAL_FAILED", "HASH_FAILURE")}
    assert entry["review"] is True
    show = gateway.cli("register", "show", "saraban.pomprap", entry["receive_no"]).stdout
    assert "the electronic signature in forwarded.eml/2569_dds_0403_91.pdf is invalid (HASH_FAILURE)" in show


def test_a_forged_pdf_in_a_zip_is_quarantined_where_a_unit_rejects_bad_signatures(gateway, pdfs):
    queue_id, _ = send(gateway, [("x.zip", zipped([("2569_dds_0403_81.pdf", pdfs["forged"])]))], REJECTING)
    gateway.wait_idle()
    [(_, findings)] = quarantined(gateway, queue_id)
    assert any(f["rule"] == "signature" and "x.zip/2569_dds_0403_81.pdf" in f["message_en"] for f in findings), findings


# Session 17: Outlook's winmail.dat (tests/test_containers_session17.py has the pure parts).

@pytest.fixture(scope="module")
def outlook(gateway, pdfs) -> tuple[dict, str, email.message.EmailMessage]:
    """One letter as Outlook sends rich text (its files in winmail.dat) with a ZIP that
    holds another winmail.dat: its register entry, `register show`, its folder copy."""
    tnef = tnef_file([("2569_dds_0403_84.pdf", pdfs["valid"]), ("หนังสือแก้ไข.pdf", pdfs["forged"])])
    inner = tnef_file([("2569_dds_0403_85.pdf", pdfs["forged"])])
    mid = f"<{uuid.uuid4()}@dds.bangkok.go.th>"
    queue_id = gateway.send(outlook_letter(tnef, files=[("x.zip", zipped([("winmail.dat", inner)]))], to=REVIEWING,
                                           message_id=mid), REVIEWING)
    entry = entry_for(gateway, mid, REVIEWING)
    show = gateway.cli("register", "show", "saraban.pomprap", entry["receive_no"]).stdout
    return entry, show, folder_copy(gateway, "pomprap", queue_id)


def test_the_files_of_a_winmail_dat_are_registered_verified_and_stamped(outlook, pdfs):
    """On main the letter was sealed as ลับ (uncertain) for the secret registrar: no file of
    it was read, verified or stamped. Each is now a file of the letter in the register."""
    entry, show, _ = outlook
    assert entry["secrecy"] == "none" and entry["review"] is True
    by_name = {a["filename"]: a for a in entry["attachments"]}
    assert list(by_name) == ["winmail.dat", "2569_dds_0403_84.pdf", "หนังสือแก้ไข.pdf", "x.zip"]
    assert [s["indication"] for s in by_name["2569_dds_0403_84.pdf"]["signatures"]] == ["TOTAL_PASSED"]
    assert by_name["หนังสือแก้ไข.pdf"]["signatures"][0]["sub_indication"] == "HASH_FAILURE"
    assert by_name["winmail.dat"]["signatures"] == []
    assert verdicts(entry, "x.zip") == {"winmail.dat/2569_dds_0403_85.pdf": ("TOTAL_FAILED", "HASH_FAILURE")}
    assert "the electronic signature in หนังสือแก้ไข.pdf is invalid (HASH_FAILURE)" in show
    assert "the electronic signature in x.zip/winmail.dat/2569_dds_0403_85.pdf is invalid (HASH_FAILURE)" in show


def test_the_folder_copy_carries_winmail_dat_and_its_files_beside_it(outlook, pdfs):
    """Thunderbird and the web clients do not open winmail.dat: its files go beside it
    (the letter as sent kept whole), the cover letter stamped."""
    _, _, copy = outlook
    files = files_of(copy)
    assert list(files) == ["winmail.dat", "x.zip", "2569_dds_0403_84.pdf", "หนังสือแก้ไข.pdf",
                           "2569_dds_0403_84.stamped.pdf"]
    assert files["2569_dds_0403_84.pdf"] == pdfs["valid"] and files["หนังสือแก้ไข.pdf"] == pdfs["forged"]
    assert copy["X-Saraban-Stamp"] == "stamped: 2569_dds_0403_84.stamped.pdf"
    assert "รับ" in stamp_text(files["2569_dds_0403_84.stamped.pdf"])
    signatures = copy.get_all("X-Saraban-Signature")
    assert any(h.startswith(f"2569_dds_0403_84.pdf; TOTAL_PASSED; {VALID_SIGNER_NAME}") for h in signatures), signatures


@pytest.fixture(scope="module")
def signed_files(gateway, pki, pdfs) -> tuple[dict, str, email.message.EmailMessage]:
    """A letter of two signed files as Thai agencies' CAdES tools save them: a valid
    `.pdf.p7m` (sent as application/pkcs7-mime) of a PDF that is signed itself, and one
    whose PDF was changed after signing (sent as application/octet-stream); the mail
    itself S/MIME-signed (multipart/signed, smime.p7s), as Outlook sends it."""
    forged = bytearray(make_p7m(pki, make_letter()))
    at = forged.index(b"Saraban test letter")
    forged[at] ^= 0x01
    mid = f"<{uuid.uuid4()}@dds.bangkok.go.th>"
    entity = letter_entity([("2569_dds_0403_88.pdf.p7m", make_p7m(pki, pdfs["valid"])),
                            ("หนังสือแก้ไข.pdf.p7m", bytes(forged))])
    entity = entity.replace(b"Content-Type: application/octet-stream",
                            b"Content-Type: application/pkcs7-mime; smime-type=signed-data", 1)
    raw = make_smime(pki, inner=entity, headers={"From": "saraban.dds@bangkok.go.th", "To": REVIEWING,
                                                 "Message-ID": mid, "Subject": "=?utf-8?b?4Lir4LiZ4Lix4LiH4Liq4Li34Lit?="})
    queue_id = gateway.send(raw, REVIEWING)
    entry = entry_for(gateway, mid, REVIEWING)
    show = gateway.cli("register", "show", "saraban.pomprap", entry["receive_no"]).stdout
    return entry, show, folder_copy(gateway, "pomprap", queue_id)


def test_a_signed_p7m_file_is_verified_and_its_pdf_is_a_file_of_the_letter(signed_files):
    """On main the .p7m sent as octet-stream was not verified at all, the one sent as
    pkcs7-mime was judged as a signed mail (the other file "outside the S/MIME signed
    part"), and neither PDF inside was registered, verified or stamped."""
    entry, show, copy = signed_files
    by_name = {a["filename"]: a for a in entry["attachments"]}
    assert list(by_name) == ["2569_dds_0403_88.pdf.p7m", "2569_dds_0403_88.pdf", "หนังสือแก้ไข.pdf.p7m",
                             "หนังสือแก้ไข.pdf", "smime.p7s"]
    # The mail's own signature sits on smime.p7s, each signed file's on its .p7m.
    assert [(s["indication"], s["covers"]) for s in by_name["smime.p7s"]["signatures"]] == [
        ("TOTAL_PASSED", ["2569_dds_0403_88.pdf.p7m", "หนังสือแก้ไข.pdf.p7m"])]
    [cades] = by_name["2569_dds_0403_88.pdf.p7m"]["signatures"]
    assert (cades["indication"], cades["signer"], cades["covers"]) == ("TOTAL_PASSED", VALID_SIGNER_NAME,
                                                                       ["2569_dds_0403_88.pdf"])
    # The PDF inside is signed too (PAdES): verified as an attached PDF is.
    assert [s["indication"] for s in by_name["2569_dds_0403_88.pdf"]["signatures"]] == ["TOTAL_PASSED"]
    [forged] = by_name["หนังสือแก้ไข.pdf.p7m"]["signatures"]
    assert (forged["indication"], forged["sub_indication"]) == ("TOTAL_FAILED", "HASH_FAILURE")
    assert entry["review"] is True
    assert "the electronic signature in หนังสือแก้ไข.pdf.p7m is invalid (HASH_FAILURE)" in show
    assert "ลายมือชื่ออิเล็กทรอนิกส์ใน หนังสือแก้ไข.pdf.p7m ไม่ถูกต้อง" in show
    assert "outside the S/MIME signed part" not in show
    assert copy["X-Saraban-Stamp"] == "stamped: 2569_dds_0403_88.stamped.pdf"
    assert "2569_dds_0403_88.stamped.pdf" in [p.get_filename() for p in copy.walk()]

# The hostile files below include classified letters whose registrar deliveries wait
# for a certificate this daemon has none of: the letters above, whose fixtures wait_idle,
# go before them.


@pytest.mark.timeout(900)  # 27 hostile files, some of which run into the per-file timeout
def test_hostile_pdfs_end_registered_or_quarantined_never_a_crash(gateway):
    corpus = sorted(p for p in shared_path("corpus", "pdf", "pyhanko").rglob("*") if p.is_file())
    assert corpus
    sent = {}
    for path in corpus:
        queue_id, mid = send(gateway, [(f"2569_dds_0403_{len(sent) + 70}.pdf", path.read_bytes())],
                             "saraban.dindaeng@bangkok.go.th")
        sent[queue_id] = (path.name, mid)
    # Encrypted corpus PDFs make their letters classified-opaque (docs/secrecy.md): with
    # no registrar certificate configured here, their sealed delivery waits, retried.
    def idle_but_registrar():
        status = gateway.status()
        waiting = sum(n.get("pending", 0) for kind, n in status["outbox"].items() if kind != "registrar")
        return status["spool"]["pending"] == 0 and waiting == 0

    gateway.wait_for(idle_but_registrar, timeout=800, what="everything but registrar deliveries")
    registered = {e["queue_id"]: e for e in gateway.register("--unit", "saraban.dindaeng")}
    for queue_id, (name, _) in sent.items():
        if queue_id in registered:
            entry = registered[queue_id]
            for sig in entry["attachments"][0].get("signatures", []):  # classified: hidden
                assert sig["indication"] in ("TOTAL_PASSED", "TOTAL_FAILED", "INDETERMINATE"), name
                if sig["indication"] != "TOTAL_PASSED" or sig["review"]:
                    assert entry["review"] is True, name
        else:
            assert quarantined(gateway, queue_id), f"{name} neither registered nor quarantined"
    events = gateway.events()
    assert not [e for e in events if e.get("event") in ("process_failed", "runner_died", "message_parked")]
    assert not [e for e in events if e.get("event") == "non_json_line"]
    assert gateway.proc.poll() is None
    # Signed corpus files were really looked at, not skipped.
    signed = [e for e in registered.values() if e["attachments"] and e["attachments"][0].get("signatures")]
    assert len(signed) >= 3
    files = {Path(p).name for p in corpus}
    assert "minimal-signed-twice-both-created.pdf" in files


# The letter below is classified (ลับ): its registrar delivery waits for a registrar
# certificate this daemon has none of, so `wait_idle` would wait for it; it is last, and
# its entry is polled for.


def registered(gateway, message_id: str) -> dict:
    def entry():
        return [e for e in gateway.register("--unit", "saraban.pomprap") if e["message_id"] == message_id]

    return gateway.wait_for(entry, 90, what="the letter registered")[0]


def test_a_thai_member_name_zipped_on_windows_is_read_as_thai(gateway):
    """Windows' own "compressed folder" writes a Thai name in code page 874 without the
    UTF-8 flag; the stdlib reads it as CP437. On main "ลับมาก_2569.pdf" so zipped read as
    "┼╤║┴╥í_2569.pdf": no marking, and the letter was registered in plain."""
    archive = windows_zip("ลับมาก_2569.pdf", make_pdf("x"))
    _, mid = send(gateway, [("x.zip", archive)], REVIEWING)
    assert registered(gateway, mid)["secrecy"] == "secret"


def test_a_ลับมาก_page_in_a_winmail_dat_or_one_that_cannot_be_read_is_sealed(gateway):
    """A ลับมาก page inside winmail.dat: secret. A winmail.dat cut short: ลับ, and the
    register says why in Thai and English (on main both were "not read", uncertain)."""
    from tests.thai_pdfs import thai_pdf

    mid = f"<{uuid.uuid4()}@dds.bangkok.go.th>"
    gateway.send(outlook_letter(tnef_file([("2569_dds_0403_86.pdf", thai_pdf(["ลับมาก", "เรียน ผู้อำนวยการ"]))]),
                                to=REVIEWING, message_id=mid), REVIEWING)
    cut = f"<{uuid.uuid4()}@dds.bangkok.go.th>"
    queue_id = gateway.send(outlook_letter(tnef_file([("2569_dds_0403_87.pdf", make_pdf("x"))])[:-40], to=REVIEWING,
                                           message_id=cut), REVIEWING)
    assert registered(gateway, mid)["secrecy"] == "secret"
    assert registered(gateway, cut)["secrecy"] == "confidential"
    with sqlite3.connect(gateway.data_dir / "saraban.db") as db:
        [(findings,)] = db.execute("select findings from letters where queue_id = ?", (queue_id,)).fetchall()
    [reason] = [f for f in json.loads(findings) if f["rule"] == "classified_unread"]
    assert "(ไฟล์ที่ 1: ไฟล์ Outlook แบบ TNEF (winmail.dat) ที่อ่านได้ไม่ครบทั้งไฟล์)" in reason["message_th"]
    assert "ระบบอ่านเนื้อหาบางส่วนของหนังสือไม่ได้" in reason["message_th"]
    assert "(file 1: Outlook TNEF file (winmail.dat) could not be read whole), so it is treated as at least ลับ" \
        in reason["message_en"]
