"""Red team of the signatures and the receive stamp, round 2 (session 14).

Signed mail through the REAL daemon over SMTP, judged by what the register shows
(`register list --json`): the S/MIME verdict on the signature file and the letter's
review flag; and the folder copy a unit gets, with the receive stamp or its receipt.
One daemon serves the module; each test tells its letters apart by Message-ID. A mail
with no document is registered here (`no_document = "warn"`), so a signed mail of text
alone shows its verdict too.
"""
from __future__ import annotations

import base64
import email
import email.policy
import io
import uuid

import pypdf
import pytest

from gateway.secrecy.markings import classify_raw
from gateway.signatures.smime import verify_smime
from tests.daemon import Daemon, write_config
from tests.letters import letter
from tests.pki import VALID_SIGNER_NAME, leaf_identity, make_letter, make_smime, sign_letter
from tests.signatures.producers import lying_page_tree
from tests.signatures.test_pipeline_signatures import files_of, folder_copy, letter_entity
from tests.signatures.test_stamp_outlined_text import raw_pdf

UNIT = "saraban.pomprap@bangkok.go.th"
SENDER = "saraban.dds@bangkok.go.th"


def red_team_daemon(tmp_path_factory, pki, name: str, policy: str = ""):
    """The daemon of a red-team module: the test PKI trusted, its CRLs as the offline
    cache, a mail without a document registered; `policy`: more [rules.policy] lines."""
    extra = (f'[signatures]\ntrust_roots = "{pki.roots_pem}"\nrevocation_dir = "{pki.revocation_dir}"\n'
             '[rules.policy]\nno_document = "warn"\n' + policy)
    d = Daemon(write_config(tmp_path_factory.mktemp(name), extra=extra)).start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, pki):
    yield from red_team_daemon(tmp_path_factory, pki, "redteam14")


def signed_mail(pki, message_id: str, *, who=None, inner: bytes | None = None, sender: str = SENDER) -> bytes:
    return make_smime(pki, who, inner=inner, headers={
        "From": f"=?utf-8?b?4Liq4Liz4LiZ4Lix4LiB4LiB4Liy4Lij4Lij4Liw4Lia4Liy4Lii4LiZ4LmJ4Liz?= <{sender}>",
        "To": UNIT, "Message-ID": message_id, "Subject": "=?utf-8?b?4Lir4LiZ4Lix4LiH4Liq4Li34Lit?="})


def register_entry(d: Daemon, message_id: str) -> dict:
    d.wait_idle()
    [entry] = [e for e in d.register("--unit", UNIT.split("@")[0]) if e["message_id"] == message_id]
    return entry


def smime_verdict(entry: dict) -> dict:
    [sig] = [s for a in entry["attachments"] for s in a["signatures"] if s["kind"] == "smime"]
    return sig


def signed_part_end(raw: bytes) -> int:
    """Where the signed part ends: the line break before the second delimiter line."""
    boundary = b"\r\n--" + email.message_from_bytes(raw).get_boundary().encode()
    return raw.index(boundary, raw.index(boundary) + 1)


def test_text_after_a_line_that_only_begins_with_the_boundary_is_not_signed(pki, trust):
    """An attacker takes a signed mail and appends to its signed text a line that starts
    with the boundary but goes on ("--<boundary>x"), then text of their own. That line is
    no delimiter to Python's parser (RFC 2046), which reads the appended text as part of
    the signed body. On main the verifier cut the signed bytes at the look-alike line:
    TOTAL_PASSED, no review. (OpenSSL, which also matches the boundary as a prefix,
    refuses the mail: "no multipart body failure".) Since session 40 such a line makes
    the letter at least ลับ, uncertain (Dovecot and Thunderbird read it as a delimiter:
    tests/secrecy/test_boundary_prefix_session40.py), so it is sealed for the secret
    registrar, whom this module's gateway does not have: judged here as the pipeline
    judges it."""
    mid = f"<{uuid.uuid4()}@dds.bangkok.go.th>"
    raw = signed_mail(pki, mid)
    at = signed_part_end(raw)
    boundary = email.message_from_bytes(raw).get_boundary().encode()
    added = "\r\nและขอให้โอนเงินค่าธรรมเนียมไปยังบัญชี 123-4-56789-0".encode()
    forged = raw[:at] + b"\r\n--" + boundary + b"x" + added + raw[at:]
    parsed = email.message_from_bytes(forged, policy=email.policy.default)
    assert "123-4-56789-0" in parsed.get_payload()[0].get_content()  # what a reader shows as signed

    found = classify_raw(forged)
    assert (found.level, found.certain) == ("confidential", False), found
    [sig] = verify_smime(forged, trust)
    assert (sig["indication"], sig["sub_indication"]) == ("TOTAL_FAILED", "HASH_FAILURE")


def test_a_file_added_after_the_signature_of_a_signed_mail_is_not_signed(gateway, pki):
    """RFC 1847: multipart/signed has two parts, the signed one and the signature. An
    attacker adds a third, a PDF: on main the S/MIME verdict stayed TOTAL_PASSED (signer
    สมชาย ใจดี), review off, and the added letter read as one of a signed mail."""
    mid = f"<{uuid.uuid4()}@dds.bangkok.go.th>"
    raw = signed_mail(pki, mid, inner=letter_entity([("2569_dds_0403_63.pdf", sign_letter(make_letter(), pki))]))
    closing = raw.rindex(b"--\r\n")  # the outer close delimiter "--<boundary>--"
    forged_pdf = make_letter()  # an unsigned letter of the attacker's
    added = (b"\r\nContent-Type: application/pdf; name=\"2569_dds_0403_64.pdf\"\r\n"
             b"Content-Disposition: attachment; filename=\"2569_dds_0403_64.pdf\"\r\n"
             b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(forged_pdf).replace(b"\n", b"\r\n")
             + b"\r\n--" + email.message_from_bytes(raw).get_boundary().encode())
    forged = raw[:closing] + added + raw[closing:]
    assert len(email.message_from_bytes(forged).get_payload()) == 3

    gateway.send(forged, UNIT, sender=SENDER)
    entry = register_entry(gateway, mid)
    sig = smime_verdict(entry)
    assert (sig["indication"], sig["sub_indication"]) == ("INDETERMINATE", "SIG_CONSTRAINTS_FAILURE")
    assert "1 part(s) after its signature that the signature does not cover" in sig["message"]
    assert entry["review"] is True
    assert {a["filename"] for a in entry["attachments"]} >= {"2569_dds_0403_63.pdf", "2569_dds_0403_64.pdf"}


def test_a_signature_by_a_certificate_for_another_address_is_not_the_senders(gateway, pki, tmp_path_factory):
    """RFC 8550 section 3: the From address must be one the signer's certificate names.
    On main a mail From saraban.dds@bangkok.go.th signed with a valid certificate issued
    for somchai@phranakhon.bangkok.go.th was TOTAL_PASSED with review off."""
    keys = tmp_path_factory.mktemp("mailcerts")
    other = leaf_identity(pki, keys, "somchai", emails=("somchai@phranakhon.bangkok.go.th",))
    own = leaf_identity(pki, keys, "dds", emails=("Saraban.DDS@bangkok.go.th",))

    wrong, right = (f"<{uuid.uuid4()}@dds.bangkok.go.th>" for _ in range(2))
    gateway.send(signed_mail(pki, wrong, who=other), UNIT, sender=SENDER)
    gateway.send(signed_mail(pki, right, who=own), UNIT, sender=SENDER)

    entry = register_entry(gateway, wrong)
    sig = smime_verdict(entry)
    assert (sig["indication"], sig["sub_indication"]) == ("INDETERMINATE", "SIG_CONSTRAINTS_FAILURE")
    assert sig["signer"] == VALID_SIGNER_NAME
    assert sig["message"].startswith("signed with a certificate for somchai@phranakhon.bangkok.go.th, "
                                     "not for the sender's address saraban.dds@bangkok.go.th")
    assert entry["review"] is True

    # The sender's own certificate (its address in another case) passes.
    entry = register_entry(gateway, right)
    assert smime_verdict(entry)["indication"] == "TOTAL_PASSED" and entry["review"] is False


def test_a_page_tree_readers_disagree_on_gets_a_receipt_not_a_stamp_over_its_text(gateway):
    """The stamp's widget goes on pyHanko's page 1, its free place is measured on
    PDFium's page 1. On a page tree that lies (a /Pages node whose /Count says 0; a
    /Page with /Kids) they are different pages: on main the letter was "stamped", its
    place found on the blank page that viewers show first, and the stamp's opaque white
    ground printed over the top right of the text page (the lines at y 800-745 of
    "TEXT OF THE LETTER" hidden in pdftoppm's and Chromium's rendering)."""
    sent = {}
    for n, kind in enumerate(("count0", "page_with_kids"), start=65):
        name, mid = f"2569_dds_0403_{n}.pdf", f"<{uuid.uuid4()}@dds.bangkok.go.th>"
        sent[name] = (gateway.send(letter(to=UNIT, files=[(name, lying_page_tree(kind))], message_id=mid), UNIT),
                      mid, lying_page_tree(kind))
    for name, (queue_id, mid, pdf) in sent.items():
        assert_receipt(gateway, queue_id, mid, name, pdf, "readers of the letter disagree on which page is its first")


def assert_receipt(d: Daemon, queue_id: str, mid: str, name: str, pdf: bytes, reason: str) -> None:
    """The unit's folder copy holds the letter as it came and a receipt giving `reason`."""
    entry = register_entry(d, mid)
    copy = folder_copy(d, "pomprap", queue_id)
    receipt = f"receipt-{entry['receive_no'].replace('/', '-')}.pdf"
    assert copy["X-Saraban-Stamp"].startswith(f"receipt: {receipt}"), copy["X-Saraban-Stamp"]
    files = files_of(copy)
    assert files[name] == pdf
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(files[receipt])).pages)
    assert reason in " ".join(text.split())


def test_a_page_turned_by_other_than_a_multiple_of_90_gets_a_receipt(gateway):
    """/Rotate 135 or 90.0: PDFium (Chrome) shows the page turned by 90, poppler by 135
    and by 0 (pdfinfo "Page rot"). On main the stamp was laid out for a page not turned
    at all, so in Chrome it read sideways from the bottom right corner."""
    sent = []
    for n, rotate in enumerate((b"135", b"90.0"), start=68):
        name, mid = f"2569_dds_0403_{n}.pdf", f"<{uuid.uuid4()}@dds.bangkok.go.th>"
        pdf = raw_pdf(b"BT /F1 12 Tf 72 700 Td (Letter) Tj ET", page_extra=b"/Rotate " + rotate)
        sent.append((gateway.send(letter(to=UNIT, files=[(name, pdf)], message_id=mid), UNIT), mid, name, pdf, rotate))
    for queue_id, mid, name, pdf, rotate in sent:
        assert_receipt(gateway, queue_id, mid, name, pdf,
                       f"/Rotate {rotate.decode()} is not a whole multiple of 90 degrees")


def test_a_web_servers_tls_certificate_does_not_sign_letters(gateway, pki, tmp_path_factory):
    """RFC 5280 4.2.1.12: a certificate whose extended key usage is TLS server
    authentication only may be used for nothing else. Its key lives on a web server,
    not on a signer's token; on main a letter signed with one (chained to the configured
    root) was TOTAL_PASSED, and so was a signed mail. `openssl smime -verify` refuses the
    mail: "unsuitable certificate purpose"."""
    from cryptography.x509.oid import ExtendedKeyUsageOID

    tls = leaf_identity(pki, tmp_path_factory.mktemp("tlscert"), "www", eku=[ExtendedKeyUsageOID.SERVER_AUTH],
                        cn="www.phranakhon.go.th")
    name, pdf_mid, mail_mid = "2569_dds_0403_67.pdf", *(f"<{uuid.uuid4()}@dds.bangkok.go.th>" for _ in range(2))
    gateway.send(letter(to=UNIT, files=[(name, sign_letter(make_letter(), pki, tls))], message_id=pdf_mid), UNIT)
    gateway.send(signed_mail(pki, mail_mid, who=tls), UNIT, sender=SENDER)

    entry = register_entry(gateway, pdf_mid)
    [sig] = entry["attachments"][0]["signatures"]
    assert (sig["indication"], sig["sub_indication"]) == ("INDETERMINATE", "CHAIN_CONSTRAINTS_FAILURE")
    assert sig["message"] == "the signer's certificate is issued for server auth, not for signing documents or mail"
    assert entry["review"] is True
    sig = smime_verdict(register_entry(gateway, mail_mid))
    assert (sig["indication"], sig["sub_indication"]) == ("INDETERMINATE", "CHAIN_CONSTRAINTS_FAILURE")
