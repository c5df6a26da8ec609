"""Red team of the signature verdicts and what the register says of them (session 15).

Signed mail and letters through the REAL daemon over SMTP, judged by what a clerk sees:
the register (`register list --json`: each S/MIME signer's verdict, which files a
signature covers, the findings and the review flag) and the unit's folder copy
(X-Saraban-Signature, X-Saraban-Stamp, the receipt). One daemon serves the module.
"""
from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import functools
import re
import uuid
from email.mime.application import MIMEApplication
from email.mime.message import MIMEMessage

import pytest

from tests.letters import letter
from tests.pki import NOW, VALID_SIGNER_NAME, leaf_identity, make_letter, make_smime, sign_letter, tamper_smime
from tests.signatures.test_pipeline_signatures import folder_copy, letter_entity
from tests.signatures.test_red_team_session14 import SENDER, UNIT, assert_receipt, red_team_daemon

CO_SIGNER = "สมศรี มีสุข"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, pki):
    # A signed file (smime.p7m: DER, application/octet-stream) is no accepted enclosure
    # type; here that is a warning, so that the letter is registered.
    yield from red_team_daemon(tmp_path_factory, pki, "redteam15", 'allowed_types = "warn"\n')


@pytest.fixture(scope="module")
def people(pki, tmp_path_factory):
    """The sender's own mail certificate, a co-signer's (no address), and one that
    starts ten days from now."""
    keys = tmp_path_factory.mktemp("signers15")
    return {
        "own": leaf_identity(pki, keys, "dds", emails=(SENDER,)),
        "co": leaf_identity(pki, keys, "co", cn=CO_SIGNER),
        "future": leaf_identity(pki, keys, "future", cn="ผู้ลงนามล่วงหน้า", valid_from=NOW + dt.timedelta(days=10)),
    }


def mid() -> str:
    return f"<{uuid.uuid4()}@dds.bangkok.go.th>"


def p7m_part(pki, inner: bytes) -> MIMEApplication:
    """An opaque-signed `smime.p7m` file, as a client attaches a signed letter."""
    signed = make_smime(pki, detached=False, inner=inner, headers={"X-Test": "p7m"})
    part = MIMEApplication(base64.b64decode(signed.partition(b"\r\n\r\n")[2]), "pkcs7-mime")
    part.set_param("smime-type", "signed-data")
    part.add_header("Content-Disposition", "attachment", filename="smime.p7m")
    return part


INSIDE, BESIDE = "2569_dds_0403_72.pdf", "2569_dds_0403_73.pdf"
FUTURE_PDF, JUNK_PDF = "2569_dds_0403_74.pdf", "2569_dds_0403_75.pdf"


@functools.cache
def junk_letter() -> bytes:
    """An unsigned letter with 20 bytes after its %EOF (a scanner's stray trailer)."""
    return make_letter() + b"\nscanner trailer 0001\n"


@pytest.fixture(scope="module")
def sent(gateway, pki, people) -> dict[str, tuple[str, str]]:
    """Every letter of the module, sent once: name -> (queue id, Message-ID). The
    daemon works through them while the first test waits."""
    out = {}

    def send(name: str, raw: bytes, message_id: str) -> None:
        out[name] = (gateway.send(raw, UNIT, sender=SENDER), message_id)

    def mail(name: str, who, **kwargs) -> None:
        message_id = mid()
        headers = {"From": SENDER, "To": UNIT, "Message-ID": message_id, "Subject": name, **kwargs.pop("headers", {})}
        send(name, make_smime(pki, who, headers=headers, **kwargs), message_id)

    mail("both_valid", people["own"], co_signers=(people["co"],))
    mail("one_revoked", people["own"], co_signers=(pki.revoked,))
    mail("on_behalf", people["own"], headers={"From": "saraban.pawnshop@bangkok.go.th", "Sender": SENDER})
    mail("future_mail", people["future"])
    mail("whole", pki.valid, inner=letter_entity([(INSIDE, make_letter())]))
    message_id = mid()
    outer = email.message_from_bytes(letter(to=UNIT, files=[(BESIDE, make_letter())], message_id=message_id))
    outer.attach(p7m_part(pki, letter_entity([(INSIDE, make_letter())])))
    send("mixed", outer.as_bytes(policy=email.policy.SMTP), message_id)
    for name, signed in (("forwarded", tamper_smime(make_smime(pki))),
                         ("nested", make_smime(pki, inner=letter_entity([(INSIDE, make_letter())])))):
        message_id = mid()
        outer = email.message_from_bytes(letter(to=UNIT, files=[(BESIDE, make_letter())], message_id=message_id))
        if name == "forwarded":
            outer.attach(MIMEMessage(email.message_from_bytes(signed)))
        else:  # the multipart/signed entity itself as a part, without the mail's own headers
            outer.attach(email.message_from_bytes(signed[signed.index(b"Content-Type: multipart/signed"):]))
        send(name, outer.as_bytes(policy=email.policy.SMTP), message_id)
    for name, pdf in ((FUTURE_PDF, sign_letter(make_letter(), pki, people["future"])), (JUNK_PDF, junk_letter())):
        message_id = mid()
        send(name, letter(to=UNIT, files=[(name, pdf)], message_id=message_id), message_id)
    return out


@pytest.fixture(scope="module")
def register(gateway, sent) -> dict[str, dict]:
    """The unit's register once every letter is through: name -> register entry."""
    gateway.wait_idle()
    by_id = {e["message_id"]: e for e in gateway.register("--unit", UNIT.split("@")[0])}
    return {name: by_id[message_id] for name, (_queue_id, message_id) in sent.items()}


def smime_verdicts(entry: dict) -> list[dict]:
    return [s for a in entry["attachments"] for s in a["signatures"] if s["kind"] == "smime"]


def signature_finding(entry: dict) -> dict:
    [finding] = [f for f in entry["findings"] if f["rule"] == "signature"]
    return finding


def test_every_signer_of_a_mail_is_verified(register):
    """RFC 5652 lets several people sign one mail (two SignerInfos). On main pyHanko
    took exactly one: a mail signed by the sender and a co-signer, both valid, was
    INDETERMINATE / FORMAT_FAILURE "the S/MIME structure could not be read"."""
    entry = register["both_valid"]
    verdicts = smime_verdicts(entry)  # SignerInfos is a DER SET: in the order of their bytes
    assert {(v["indication"], v["signer"]) for v in verdicts} == {
        ("TOTAL_PASSED", CO_SIGNER), ("TOTAL_PASSED", VALID_SIGNER_NAME)} and len(verdicts) == 2
    assert entry["review"] is False and not [f for f in entry["findings"] if f["rule"] == "signature"]

    entry = register["one_revoked"]
    by_signer = {v["signer"]: v for v in smime_verdicts(entry)}
    assert by_signer[VALID_SIGNER_NAME]["indication"] == "TOTAL_PASSED"
    revoked = by_signer["สมหญิง รักดี"]
    assert (revoked["indication"], revoked["sub_indication"]) == ("INDETERMINATE", "REVOKED_NO_POE")
    assert re.fullmatch(r"signature [12] of 2 \(สมหญิง รักดี\): the signer's certificate has been revoked",
                        revoked["message"])
    assert entry["review"] is True
    assert revoked["message"] in signature_finding(entry)["message_en"]


def test_a_file_beside_a_signed_part_is_named_as_not_signed(gateway, sent, register):
    """A signed smime.p7m inside a multipart/mixed, beside an unsigned PDF. On main the
    register showed smime.p7m TOTAL_PASSED (สมชาย ใจดี), the PDF beside it without a
    word, and nothing said which letter was inside the signed envelope: the attacker's
    PDF read as the one a signed mail brought."""
    entry = register["mixed"]
    [verdict] = smime_verdicts(entry)
    assert verdict["indication"] == "TOTAL_PASSED"
    assert (verdict["covers"], verdict["not_covered"]) == ([INSIDE], [BESIDE])
    assert entry["review"] is True
    [finding] = [f for f in entry["findings"] if f["rule"] == "signature"]
    assert finding["message_en"] == (f"{BESIDE} is outside the S/MIME signed part (smime.p7m) and not signed by "
                                     f"{VALID_SIGNER_NAME} (the signature covers {INSIDE} only)")
    assert finding["message_th"].startswith(f"{BESIDE} อยู่นอกส่วนที่ลงลายมือชื่อ S/MIME")
    copy = folder_copy(gateway, "pomprap", sent["mixed"][0])
    [line] = [v for v in copy.get_all("X-Saraban-Signature") if v.startswith("smime.p7m")]
    assert f"covers {INSIDE}; not signed: {BESIDE}" in " ".join(line.split())

    # A mail signed as a whole (multipart/signed) covers its files and leaves none out.
    [verdict] = smime_verdicts(register["whole"])
    assert (verdict["covers"], verdict["not_covered"]) == ([INSIDE], [])


def test_a_certificate_of_the_sender_header_alone_does_not_confirm_the_from(register):
    """RFC 8550 accepts the Sender address for the signer's; the register, the receipt
    and the notice name the From. On main a mail From saraban.pawnshop, Sender
    saraban.dds, signed with saraban.dds's certificate, was TOTAL_PASSED: the register
    showed a letter of saraban.pawnshop confirmed by a signature saraban.pawnshop never
    made. Now it is not confirmed, and the message names who signed."""
    entry = register["on_behalf"]
    [verdict] = smime_verdicts(entry)
    assert (verdict["indication"], verdict["sub_indication"]) == ("INDETERMINATE", "SIG_CONSTRAINTS_FAILURE")
    assert verdict["message"].startswith(f"signed by the Sender {SENDER}, not by the From address "
                                         "saraban.pawnshop@bangkok.go.th the letter is registered under")
    assert entry["review"] is True


def test_a_certificate_that_starts_later_is_not_yet_valid(register):
    """ETSI EN 319 102-1 NOT_YET_VALID: a signature made now with a certificate that
    starts in ten days. On main the letter and the mail read
    CERTIFICATE_CHAIN_GENERAL_FAILURE "the signer's certificate chain could not be
    validated", which sends the operator to the trust roots."""
    starts = (NOW + dt.timedelta(days=10)).date().isoformat()
    [pdf_sig] = register[FUTURE_PDF]["attachments"][0]["signatures"]
    [mail_sig] = smime_verdicts(register["future_mail"])
    for verdict in (pdf_sig, mail_sig):
        assert (verdict["indication"], verdict["sub_indication"]) == ("TOTAL_FAILED", "NOT_YET_VALID")
        assert verdict["message"] == f"the signer's certificate is not valid before {starts}: the signature was made before it"


def test_junk_after_the_end_of_an_unsigned_letter_is_not_called_an_attack(gateway, sent, register):
    """An unsigned letter with bytes after its %%EOF (a scanner's stray trailer) gets a
    receipt, not a stamp. On main the receipt said "a possible incremental saving
    attack", an attack on signatures, of a letter that carries none."""
    queue_id, message_id = sent[JUNK_PDF]
    assert_receipt(gateway, queue_id, message_id, JUNK_PDF, junk_letter(),
                   "the letter holds 20 bytes after its end (%EOF) or between its revisions that belong to no "
                   "part of it; it is kept as received")
    assert "attack" not in folder_copy(gateway, "pomprap", queue_id)["X-Saraban-Stamp"]


def test_a_signed_mail_forwarded_or_nested_is_verified(register):
    """A signed mail forwarded inside another (message/rfc822), or a multipart/signed
    part of a multipart/mixed. On main neither got a verdict: the forwarded letter,
    altered after signing, read as unsigned, as did the nested one."""
    entry = register["forwarded"]
    [verdict] = smime_verdicts(entry)
    assert (verdict["indication"], verdict["sub_indication"]) == ("TOTAL_FAILED", "HASH_FAILURE")
    assert verdict["not_covered"] == [BESIDE] and entry["review"] is True
    # On the forwarded letter's signature file, not on the file beside it.
    assert [a["filename"] for a in entry["attachments"] if a["signatures"]] == ["smime.p7s"]

    [verdict] = smime_verdicts(register["nested"])
    assert (verdict["indication"], verdict["signer"]) == ("TOTAL_PASSED", VALID_SIGNER_NAME)
    assert (verdict["covers"], verdict["not_covered"]) == ([INSIDE], [BESIDE])
