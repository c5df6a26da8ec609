"""Session 18: the leftovers of Outlook's and the signing tools' containers.

* a signed file (`letter.pdf.p7m`, CAdES) inside a ZIP: its signature verified, in the
  verdicts a signed file attached directly has (it was read for markings only);
* a signed file that is not a PDF (`บัญชี.zip.p7m`): unwrapped, read and verified (a
  ลับมาก PDF zipped then signed was read as a message, no text: the letter ordinary);
* winmail.dat inside an S/MIME opaque-signed mail: its files beside it in the folder copy;
* hostile containers: signed files nested deep, encrypted (enveloped) and detached ones,
  encrypted ZIP entries, a ZIP whose directory and local headers disagree.

One daemon for the module (the test PKI's root trusted), its letters told apart by
Message-ID; the pure parts read letters as the DATA check does (classify_raw)."""
from __future__ import annotations

import email
import email.policy
import hashlib
import io
import uuid
import zipfile

import pytest

from gateway.secrecy.markings import classify_raw
from tests.daemon import Daemon, write_config
from tests.letters import letter, make_pdf, outlook_letter, tnef_file
from tests.pki import VALID_SIGNER_NAME, build_pki, make_p7m, make_smime
from tests.signatures.test_archives_session16 import zipped
from tests.thai_pdfs import thai_pdf

UNIT = "saraban.pomprap@bangkok.go.th"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return build_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def secret_pdf() -> bytes:
    return thai_pdf(["ลับมาก", "ที่ กท ๐๔๐๗/๕๗", "เรื่อง ขอส่งแผนการปฏิบัติงาน"])


def deflated(members: list[tuple[str, bytes]]) -> bytes:
    """A ZIP as Windows and 7-Zip write one: compressed, so no member's bytes show."""
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return packed.getvalue()


def forged(p7m: bytes, at: bytes = b"page 1") -> bytes:
    """The signed content changed after signing (one byte of the PDF's text)."""
    out = bytearray(p7m)
    out[out.index(at)] ^= 0x01
    return bytes(out)


def reading(raw: bytes) -> tuple[str, bool]:
    found = classify_raw(raw)
    return found.level, found.certain


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, pki):
    extra = ("[signatures]\n"
             "stamp = false\n"  # not about the receive stamp: no seal key, no stamping
             f'trust_roots = "{pki.roots_pem}"\n'
             f'revocation_dir = "{pki.revocation_dir}"\n')
    d = Daemon(write_config(tmp_path_factory.mktemp("containers18"), extra=extra)).start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def sent(gateway, pki):
    """Every letter of the module, sent before the first is waited for: name -> (queue id, Message-ID)."""
    cover = make_pdf("cover letter")
    inner_zip = zipped([("y.pdf.p7m", make_p7m(pki, make_pdf("self"), pki.self_signed))])
    mids = {name: f"<{uuid.uuid4()}@dds.bangkok.go.th>" for name in ("zip", "signed zip", "opaque outlook")}
    letters = {
        "zip": letter(to=UNIT, message_id=mids["zip"], files=[
            ("2569_dds_0403_56.pdf", cover), ("ส่งมา.zip", zipped([
            ("2569_dds_0403_57.pdf.p7m", make_p7m(pki, cover)),
            ("หนังสือแก้ไข.pdf.p7m", forged(make_p7m(pki, make_pdf("changed")))),
            ("inner.zip", inner_zip),
            ("z.pdf.p7m.p7m", make_p7m(pki, make_p7m(pki, make_pdf("twice")))),
        ]))]),
        "signed zip": letter(to=UNIT, message_id=mids["signed zip"], files=[
            ("2569_dds_0403_58.pdf", cover),
            ("บัญชี.zip.p7m", make_p7m(pki, deflated([("รายชื่อ.pdf", make_pdf("list"))])))]),
        "opaque outlook": make_smime(
            pki, detached=False, inner=outlook_letter(tnef_file([("2569_dds_0403_59.pdf", cover)])),
            headers={"From": "saraban.dds@bangkok.go.th", "To": UNIT, "Subject": "winmail",
                     "Message-ID": mids["opaque outlook"]}),
    }
    out = {name: (gateway.send(raw, UNIT), mids[name]) for name, raw in letters.items()}
    gateway.wait_idle(timeout=120)
    return out


@pytest.fixture(scope="module")
def register(gateway, sent) -> list[dict]:
    return gateway.register("--unit", "saraban.pomprap")


def entry_of(register, sent, name: str) -> dict:
    queue_id, _ = sent[name]
    [entry] = [e for e in register if e["queue_id"] == queue_id]
    return entry


def folder_copy(gateway, sent, name: str) -> email.message.EmailMessage:
    queue_id, _ = sent[name]
    [path] = [p for p in gateway.maildir_files("pomprap") if p.name.startswith(queue_id)]
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


def test_a_signed_file_inside_a_zip_has_its_signature_verified(gateway, sent, register):
    """On main a .p7m inside a ZIP was read for its markings only: its signature had no
    verdict at all, a signed file changed after signing none either, and the letter was
    not flagged. Each signed file now has the verdict one attached directly has, on its
    member; the file it carries follows it; ZIP in ZIP and a file signed twice too."""
    entry = entry_of(register, sent, "zip")
    [archive] = [a for a in entry["attachments"] if a["filename"] == "ส่งมา.zip"]
    found = {s["member"]: (s["indication"], s["sub_indication"]) for s in archive["signatures"]}
    assert found == {
        "2569_dds_0403_57.pdf.p7m": ("TOTAL_PASSED", None),
        "หนังสือแก้ไข.pdf.p7m": ("TOTAL_FAILED", "HASH_FAILURE"),
        "inner.zip/y.pdf.p7m": ("INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND"),
        "z.pdf.p7m.p7m": ("TOTAL_PASSED", None),
        "z.pdf.p7m.p7m/z.pdf.p7m": ("TOTAL_PASSED", None),
    }, archive["signatures"]
    [valid] = [s for s in archive["signatures"] if s["member"] == "2569_dds_0403_57.pdf.p7m"]
    assert valid["signer"] == VALID_SIGNER_NAME and valid["covers"] == ["2569_dds_0403_57.pdf"]
    assert entry["review"] is True
    show = gateway.cli("register", "show", "saraban.pomprap", entry["receive_no"]).stdout
    assert "the electronic signature in ส่งมา.zip/หนังสือแก้ไข.pdf.p7m is invalid (HASH_FAILURE)" in show
    assert "ส่งมา.zip/inner.zip/y.pdf.p7m could not be confirmed (NO_CERTIFICATE_CHAIN_FOUND)" in show


def test_a_signed_zip_is_unwrapped_registered_and_verified(sent, register):
    """`บัญชี.zip.p7m` (CAdES over a ZIP): on main it was read as a signed message, its
    ZIP as a message's text (nothing), its signature unverified. Now the ZIP follows it
    as a file of the letter, and its signature covers that ZIP."""
    entry = entry_of(register, sent, "signed zip")
    by_name = {a["filename"]: a for a in entry["attachments"]}
    assert list(by_name) == ["2569_dds_0403_58.pdf", "บัญชี.zip.p7m", "บัญชี.zip"]
    [cades] = by_name["บัญชี.zip.p7m"]["signatures"]
    assert (cades["indication"], cades["signer"], cades["covers"]) == ("TOTAL_PASSED", VALID_SIGNER_NAME,
                                                                       ["บัญชี.zip"])
    assert entry["secrecy"] == "none"
    # The cover letter beside it is unsigned: flagged for that alone, since session 52
    # (tests/signatures/test_unsigned_cover_session52.py), never for the signed ZIP.
    [finding] = [f for f in entry["findings"] if f["rule"] == "signature"]
    assert finding["message_en"].startswith("the cover letter 2569_dds_0403_58.pdf is not signed")


def test_a_zipped_secret_letter_signed_as_a_file_is_found(pki, secret_pdf):
    """The leak: a ลับมาก PDF zipped (deflated, as every tool zips) then signed as
    `x.zip.p7m` was registered as ordinary, certain, on main."""
    packed = deflated([("2569.pdf", secret_pdf)])
    assert reading(letter(files=[("x.zip.p7m", make_p7m(pki, packed))])) == ("secret", True)
    assert reading(letter(files=[("x.docx.p7m.p7m", make_p7m(pki, make_p7m(pki, packed)))])) == ("secret", True)
    # Three signed files deep, past the parse's own unwrapping (two), and in a ZIP.
    thrice = make_p7m(pki, make_p7m(pki, make_p7m(pki, packed)))
    assert reading(letter(files=[("x.zip.p7m.p7m.p7m", thrice)])) == ("secret", True)
    assert reading(letter(files=[("a.zip", zipped([("x.zip.p7m.p7m.p7m", thrice)]))])) == ("secret", True)
    # A signed message (Outlook's smime.p7m) is still read as a message.
    message = b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + "ลับมาก\r\nเรียน ผอ.".encode()
    assert reading(letter(files=[("smime.p7m", make_p7m(pki, message))])) == ("secret", True)
    # So is one named by a subject with a dot in it: its PDF (base64) read as a PDF.
    forwarded = letter(files=[("2569.pdf", secret_pdf)])
    assert reading(letter(files=[("กท.0403.p7m", make_p7m(pki, forwarded))])) == ("secret", True)


def test_signed_files_nested_past_the_bound_or_unopenable_keep_the_letter_uncertain(pki, secret_pdf):
    """Each layer of a signed file is unwrapped in turn, to MAX_SIGNED_LAYERS inside an
    archive: one nested past it, an encrypted (enveloped) one, a detached one (no content)
    are not read, and the letter is at least ลับ, uncertain (docs/secrecy.md). On main
    the layers went as deep as the member's name was long; one not named .p7m was
    read as no text."""
    from asn1crypto import cms
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.serialization import pkcs7

    def bare(content: bytes) -> bytes:  # signed data with no signer: the cheapest layer
        return cms.ContentInfo({"content_type": "signed_data", "content": {
            "version": "v1", "digest_algorithms": [], "signer_infos": [],
            "encap_content_info": {"content_type": "data", "content": content}}}).dump()

    deep = make_pdf("deep")
    for _ in range(3000):
        deep = bare(deep)
    assert reading(letter(files=[("a.zip", zipped([("x.pdf" + ".p7m" * 3000, deep)]))])) == ("confidential", False)
    hidden = bare(bare(deflated([("2569.pdf", secret_pdf)])))  # two layers, named as one
    assert reading(letter(files=[("a.zip", zipped([("x.zip.p7m", hidden)]))])) == ("secret", True)
    cert = x509.load_pem_x509_certificate(pki.valid.cert_path.read_bytes())
    key = serialization.load_pem_private_key(pki.valid.key_path.read_bytes(), None)
    enveloped = pkcs7.PKCS7EnvelopeBuilder().set_data(make_pdf("x")).add_recipient(cert).encrypt(
        serialization.Encoding.DER, [])
    detached = pkcs7.PKCS7SignatureBuilder().set_data(make_pdf("x")).add_signer(cert, key, hashes.SHA256()).sign(
        serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary])
    four = bare(bare(bare(bare(make_pdf("x")))))
    for case in (enveloped, detached, four):
        if case is not four:  # attached: unwrapped twice, the rest read as the PDF a viewer finds in it
            assert reading(letter(files=[("x.pdf.p7m", case)])) == ("confidential", False)
        assert reading(letter(files=[("a.zip", zipped([("x.pdf.p7m", case)]))])) == ("confidential", False)
        # Named as anything: a CMS is known by its content.
        assert reading(letter(files=[("a.zip", zipped([("x.bin", case)]))])) == ("confidential", False)


def test_winmail_dat_inside_an_opaque_signed_mail_has_its_files_beside_it(gateway, sent, register):
    """An S/MIME opaque-signed mail (application/pkcs7-mime; smime-type=signed-data) of
    Outlook's rich text: the register lists winmail.dat's files, yet on main the folder
    copy had them only inside winmail.dat inside the signature, which Thunderbird and the
    web clients open neither of. They now go beside it; the signed part is unchanged."""
    entry = entry_of(register, sent, "opaque outlook")
    assert [a["filename"] for a in entry["attachments"]] == ["winmail.dat", "2569_dds_0403_59.pdf", "smime.p7m"]
    copy = folder_copy(gateway, sent, "opaque outlook")
    files = {p.get_filename(): p.get_content() for p in copy.iter_attachments()}
    assert files["2569_dds_0403_59.pdf"] == make_pdf("cover letter")
    [p7m] = [p for p in copy.walk() if p.get_content_type() == "application/pkcs7-mime"]
    [signature] = [s for s in entry["attachments"] if s["filename"] == "smime.p7m"][0]["signatures"]
    assert signature["indication"] == "TOTAL_PASSED"
    assert hashlib.sha256(p7m.get_content()).hexdigest() == \
        [a for a in entry["attachments"] if a["filename"] == "smime.p7m"][0]["sha256"]


def test_a_zip_behind_other_bytes_or_with_entries_its_directory_hides_is_read_or_uncertain(secret_pdf):
    """On main a ZIP was read only when it began as one: a ลับมาก PDF in a ZIP behind a
    byte (or a self-extractor's program), which unzip, 7-Zip and Python open by its end
    record, left the letter ordinary, certain. A local entry that no directory entry
    lists (an entry cut out of the directory; two archives back to back) is shown by a
    streaming unzip and by no directory reader: the letter is ลับ, uncertain."""
    hidden = deflated([("ลับมาก_2569.pdf", secret_pdf)])
    for before in (b"X", b"MZ" + bytes(200)):
        assert reading(letter(files=[("ส่งมา.zip", before + hidden)])) == ("secret", True)
    shown = deflated([("2569.pdf", make_pdf("x"))])
    local_only = hidden[:hidden.index(b"PK\x01\x02")]
    for packed in (local_only + shown, hidden + shown):
        assert zipfile.ZipFile(io.BytesIO(packed)).namelist() == ["2569.pdf"]  # what a directory reader lists
        assert reading(letter(files=[("ส่งมา.zip", packed)])) == ("confidential", False)
    # A member's own bytes may hold a local header (a ZIP stored in a ZIP): not hidden.
    stored = zipped([("2569.pdf", make_pdf("x")), ("inner.zip", shown)])
    assert reading(letter(files=[("ส่งมา.zip", stored)])) == ("none", True)


def test_hostile_zip_entries_fail_closed():
    """An encrypted entry (the flag, whatever the bytes), a directory that names a PDF
    the local header calls otherwise (what the clerk's unzip and the gateway read would
    differ), entry names that are paths: never an ordinary letter read as less."""
    packed = bytearray(zipped([("2569.pdf", make_pdf("x"))]))
    packed[packed.index(b"PK\x03\x04") + 6] |= 1
    packed[packed.index(b"PK\x01\x02") + 8] |= 1
    assert reading(letter(files=[("a.zip", bytes(packed))])) == ("confidential", False)
    confused = zipped([("2569.pdf", make_pdf("x"))]).replace(b"2569.pdf", b"ab\xe0.pdf", 1)  # the local name only
    assert reading(letter(files=[("a.zip", confused)])) == ("confidential", False)
    paths = zipped([("../../ลับมาก.pdf", make_pdf("x")), ("/etc/ลับ.pdf", make_pdf("y")),
                    ("a\\..\\ลับมาก_2569.pdf", make_pdf("z"))])
    assert reading(letter(files=[("a.zip", paths)])) == ("secret", True)


def test_signed_files_in_a_zip_or_an_attached_message_are_verified_within_the_letters_time(pki):
    """Verified in the runner's process (as one attached directly is), each within the
    letter's time for signatures: past it, "not checked in time", never an unbounded run
    of up to 300 archived signed files. Those of a message attached as a file (an .eml,
    which units' policies hold by default: checked here by the signature step itself),
    in its archives too, had no verdict on main either."""
    import time

    from gateway.pipeline.parse import parse_mail
    from gateway.signatures.check import SignatureChecker
    from gateway.signatures.trust import TrustSettings

    packed = zipped([("a.pdf.p7m", make_p7m(pki, make_pdf("a")))])
    raw = letter(files=[("2569.pdf", make_pdf("x")), ("ส่งมา.zip", packed)])
    checker = SignatureChecker(TrustSettings.load([pki.roots_pem], revocation_dir=pki.revocation_dir, env={}),
                               pool=None, timeout=10)  # no PDF here carries a signature: the pool is not asked
    mail = parse_mail(raw)
    [on_time] = checker.check(raw, mail).by_attachment[1]
    [late] = checker.check(raw, mail, deadline=time.monotonic() - 1).by_attachment[1]
    assert (on_time["member"], on_time["indication"]) == ("a.pdf.p7m", "TOTAL_PASSED")
    assert (late["member"], late["indication"], late["document"]) == ("a.pdf.p7m", "INDETERMINATE", "timeout")
    fwd = letter(files=[("ส่งต่อ.zip", zipped([("b.pdf.p7m", forged(make_p7m(pki, make_pdf("b"))))])),
                        ("c.pdf.p7m", forged(make_p7m(pki, make_pdf("c"))))])
    raw = letter(files=[("2569.pdf", make_pdf("x")), ("fwd.eml", fwd)])
    found = checker.check(raw, parse_mail(raw)).by_attachment[1]
    assert {s["member"]: (s["indication"], s["sub_indication"]) for s in found} == {
        "ส่งต่อ.zip/b.pdf.p7m": ("TOTAL_FAILED", "HASH_FAILURE"), "c.pdf.p7m": ("TOTAL_FAILED", "HASH_FAILURE")}
