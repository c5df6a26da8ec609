"""A file or signature that could not be examined is said in the gateway's own words,
Thai and English; the library's exception (Python's, asn1crypto's, pyHanko's) goes to
the log only. A verdict's message reaches the sender's notice, the folder copy, the
register, the desk's letter page and `verify` on the command line."""
from __future__ import annotations

import email
import email.policy
import json
import re

import pytest

from gateway.signatures.check import entries_for, finding_for
from gateway.signatures.smime import verify_smime
from gateway.signatures.verdict import SUB_INDICATIONS
from gateway.signatures.verify import PROBLEMS, TRUST_MESSAGES, verify_pdf
from tests.letters import assemble_pdf, letter, stream_object
from tests.notices.conftest import notices_config, sink  # noqa: F401  (the smarthost fixture)

LAT = "saraban.latkrabang@bangkok.go.th"
_SIG = b"<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /adbe.pkcs7.detached "
# Broken signature dictionaries (the red team's): each made the reader raise, and its
# text ("'Void' object is not subscriptable", asn1crypto's and pyHanko's) was the verdict.
VARIANTS = {
    "byte_range_int": _SIG + b"/ByteRange 5 /Contents <3082> >>",
    "short_der": _SIG + b"/ByteRange [0 10 20 10] /Contents <3082> >>",
    "contents_name": _SIG + b"/ByteRange [0 10 20 10] /Contents /Foo >>",
    "no_contents": _SIG + b"/ByteRange [0 10 20 10] >>",
    "byte_range_names": _SIG + b"/ByteRange [/a /b /c /d] /Contents <00> >>",
    "empty_signed_data": _SIG + b"/ByteRange [0 10 20 10] /Contents <300b06092a864886f70d010702> >>",
}
# What a library's exception looks like; none of it may reach a person.
LIBRARY_WORDS = re.compile(r"subscriptable|object|Void|Error|Exception|asn1|pyhanko|Expected|Traceback|\bNone\b"
                           r"|tag|byte string|parsing|Invalid|invalid literal|unpack|attribute", re.I)


def sig_pdf(value: bytes) -> bytes:
    return assemble_pdf([
        b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [6 0 R] /SigFlags 3 >> >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Annots [6 0 R] "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        stream_object(b"BT /F1 12 Tf 72 760 Td (signed letter) Tj ET"),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /FT /Sig /T (Sig1) /Type /Annot /Subtype /Widget /Rect [0 0 0 0] /P 3 0 R /F 132 /V 7 0 R >>",
        value,
    ])


OURS = ({en for _th, en in PROBLEMS.values()} | {en for _th, en in SUB_INDICATIONS.values()}
        | set(TRUST_MESSAGES.values()))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a_broken_signature_is_said_in_fixed_words(variant, trust):
    data = sig_pdf(VARIANTS[variant])
    verdict = verify_pdf(data, trust)
    messages = [verdict.message, *verdict.warnings, *(s.message for s in verdict.signatures)]
    assert verdict.indication != "TOTAL_PASSED"
    for message in filter(None, messages):
        assert message in OURS, (variant, message)
    finding = finding_for("attached file 1", entries_for(verdict, data))
    assert finding is not None and finding.verdict == "fail"
    for text in (finding.message_th, finding.message_en):
        assert not LIBRARY_WORDS.search(text.replace("attached file 1", "")), (variant, text)
    # Thai and English alike: the Thai says what the English says.
    assert "ไม่ได้" in finding.message_th


def test_the_unreadable_pdf_says_so_in_thai_and_english(trust):
    data = sig_pdf(VARIANTS["empty_signed_data"])
    finding = finding_for("ไฟล์แนบที่ 1", entries_for(verify_pdf(data, trust), data))
    problems = [kind for kind, (th, en) in PROBLEMS.items() if th in finding.message_th and en in finding.message_en]
    assert problems, finding


def test_broken_smime_is_said_in_fixed_words(trust):
    raw = (b"From: saraban.dds@bangkok.go.th\r\nTo: x@y\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\nMAsGCSqGSIb3DQEHAg==\r\n")
    entries = verify_smime(raw, trust)
    assert entries and all(not LIBRARY_WORDS.search(e["message"]) for e in entries), entries
    finding = finding_for("S/MIME (smime.p7m)", entries)
    assert not LIBRARY_WORDS.search(finding.message_en.replace("S/MIME (smime.p7m)", ""))


def test_no_exception_text_in_the_notice_the_folder_copy_or_the_register(daemon_factory, sink):  # noqa: F811
    d = daemon_factory(extra=notices_config(sink)).start()
    d.send(letter(subject="หนังสือมีลายมือชื่อ", files=[("2569_dds_0403_57.pdf", sig_pdf(VARIANTS["empty_signed_data"]))]), LAT)
    got = sink.wait(1)
    d.wait_idle()
    notice = got[0].message
    texts = [notice.get_body(("plain",)).get_content(), notice.get_body(("html",)).get_content()]
    assert any("could not be confirmed" in t for t in texts)
    copy = email.message_from_bytes(d.maildir_files("latkrabang")[0].read_bytes(), policy=email.policy.default)
    texts += [str(v) for k, v in copy.items() if k.lower().startswith("x-saraban")]
    entry = d.register()[0]
    texts += [json.dumps(entry["findings"], ensure_ascii=False),
              json.dumps(entry["attachments"][0]["signatures"], ensure_ascii=False)]
    texts.append(d.cli("register", "show", "saraban.latkrabang", entry["receive_no"]).stdout)
    for text in texts:
        for word in ("subscriptable", "Void", "Error", "asn1crypto", "pyhanko"):
            assert word not in text, (word, text)
