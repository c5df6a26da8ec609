"""Every hostile message of shared/corpus/mime through the rules: a clear outcome,
never an exception. The MIME side here is a stand-in (stdlib email + libmagic) for
gateway/pipeline/parse.py; what is under test is that rules/ copes with what comes out."""
import email
import email.policy
import hashlib

import magic
import pytest

from rules.extract import extract_facts
from rules.model import Attachment, ParsedMail
from rules.policy import decide
from rules.registry import run_rules
from tests.paths import shared_dir, shared_path


def _corpus():
    base = shared_dir()
    if base is None or not (base / "corpus" / "mime").exists():
        return []
    return sorted(p.relative_to(base) for p in (base / "corpus" / "mime").rglob("*.eml"))


def _text(part) -> str:
    try:
        return part.get_content() if part.get_content_maintype() == "text" else ""
    except (LookupError, UnicodeError, AssertionError, ValueError):
        return ""


def _parsed(raw: bytes) -> ParsedMail:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    atts, body = [], ""
    for i, part in enumerate(msg.walk()):
        if part.is_multipart():
            continue
        name = part.get_filename()
        if name is None and part.get_content_type() in ("text/plain", "text/html"):
            body += _text(part)
            continue
        data = part.get_payload(decode=True) or b""
        atts.append(Attachment(
            index=i, filename=name, declared_type=part.get_content_type(),
            disposition=part.get_content_disposition(), data=data,
            sniffed_type=magic.from_buffer(data, mime=True) if data else "application/x-empty",
            sha256=hashlib.sha256(data).hexdigest(),
        ))
    try:
        subject = str(msg.get("Subject", "") or "")
    except (ValueError, LookupError):
        subject = ""
    return ParsedMail(
        subject=subject, from_address="", reply_to=None, envelope_sender="", message_id=None,
        date=None, headers=tuple((k, str(v)) for k, v in msg.raw_items()),
        body_text=body, body_html="", attachments=tuple(atts),
    )


@pytest.mark.parametrize("rel", _corpus() or [None], ids=str)
def test_corpus_message_gets_a_clear_outcome(rel):
    if rel is None:
        shared_path("corpus", "mime")  # skips cleanly when shared/ is absent
    mail = _parsed(shared_path(str(rel)).read_bytes())
    facts = extract_facts(mail)
    decision = decide(run_rules(mail, facts))
    assert decision.action in ("accept", "reject")
    assert all(f.message_th and f.message_en for f in decision.findings)
    # a rule that broke would say so: none may
    assert not [f for f in decision.findings if "could not run" in f.message_en]
