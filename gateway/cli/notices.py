"""`saraban-gateway notices release` and `saraban-gateway notices preview`.

The main CLI calls `register(sub)`; each command sets `func`."""
from __future__ import annotations

import argparse
import datetime as dt
import email
import email.header
import email.policy
import re
import sys

from gateway.config.settings import load_settings

SAMPLE = {
    "to": "saraban.dds@bangkok.go.th",
    "unit": "saraban.latkrabang",
    "unit_name_th": "สำนักงานเขตลาดกระบัง",
    "unit_name_en": "Lat Krabang District Office",
    "from": "saraban.latkrabang@bangkok.go.th",
    "queue_id": "20260611T113300-000001",
    "received_at": "2026-06-11T11:33:00+00:00",
    "receive_no": "1572/2569",
    "book": "general",
    "classified": False,
    "subject": "ขอเชิญประชุมคณะกรรมการ",
    "reference": "กท 0403/ว 276",
    "letter_date": "2026-06-10",
    "in_reply_to": "<sample@dds.bangkok.go.th>",
    "references": ["<sample@dds.bangkok.go.th>"],
}


def register(subparsers) -> argparse.ArgumentParser:
    notices = subparsers.add_parser("notices", help="acknowledgements and rejection notices to senders")
    sub = notices.add_subparsers(dest="notices_command", required=True)
    release = sub.add_parser("release", help="send the notices held while no smarthost was configured")
    release.set_defaults(func=cmd_release)
    preview = sub.add_parser("preview", help="render a sample notice with the configured templates")
    preview.add_argument("type", choices=("ack", "reject"),
                         help="ack: the acknowledgement a sender gets; reject: the refusal")
    preview.add_argument("--html", action="store_true", help="print the HTML part, not the whole message")
    preview.set_defaults(func=cmd_preview)
    return notices


def cmd_release(args: argparse.Namespace) -> int:
    from storage.outbox import release_held_notices

    settings = load_settings(args.config)
    if not settings.notices.smarthost:
        print("saraban-gateway: no smarthost configured ([notices] smarthost or SARABAN_SMARTHOST); "
              "held notices stay held", file=sys.stderr)
        return 1
    from gateway.tools.actions import record_outbox_act

    db = settings.open_database()
    db.create_schema()
    with db.session() as session:
        released = release_held_notices(session)
        record_outbox_act(session, "notices_released", released)
        count = len(released)
    db.dispose()
    print(f"released {count} held notice(s) to {settings.notices.smarthost}")
    return 0


def sample_findings(settings) -> list[dict]:
    """The naming finding the configured rule gives a file called scan.pdf in the sample
    letter: the preview shows the rule's own words, never a hand-written copy."""
    from gateway.service.services import rule_settings_from
    from rules.checks.naming import Naming
    from rules.model import Attachment, LetterFacts, ParsedMail

    pdf = Attachment(index=0, filename="scan.pdf", declared_type="application/pdf", disposition="attachment",
                     data=b"%PDF-1.4", sniffed_type="application/pdf", sha256="0" * 64)
    mail = ParsedMail(subject=SAMPLE["subject"], from_address=SAMPLE["to"], reply_to=None,
                      envelope_sender=SAMPLE["to"], message_id=None, date=None, headers=(), body_text="",
                      body_html="", attachments=(pdf,))
    facts = LetterFacts(reference=SAMPLE["reference"], letter_date=dt.date.fromisoformat(SAMPLE["letter_date"]))
    return [{"rule": f.rule, "th": f.message_th, "en": f.message_en}
            for f in Naming().check(mail, facts, rule_settings_from(settings)) if f.verdict != "pass"]


def _decoded(value: str) -> str:
    return str(email.header.make_header(email.header.decode_header(re.sub(r"\r?\n", "", value))))


def cmd_preview(args: argparse.Namespace) -> int:
    from gateway.notices.compose import build_notice
    from gateway.notices.send import templates_dir

    settings = load_settings(args.config)
    payload = dict(SAMPLE, type=args.type, findings=sample_findings(settings))
    if args.type == "reject":
        payload.pop("receive_no")
        payload["findings"] = [{"rule": "splitting", "th": "ไม่รับไฟล์บีบอัด (letter.zip) กรุณาแนบเอกสารแต่ละฉบับเป็นไฟล์ PDF แยกกัน",
                                "en": "archives (letter.zip) are not accepted; attach each document as a separate PDF file"}]
    notice = build_notice(payload, f"{args.type}:preview", dt.datetime.now(dt.timezone.utc),
                          templates_dir(settings), settings.notices.thai_digits)
    message = notice.parsed()
    # The lines as a mail client shows them: the text's CRLF printed as "?" at the end of
    # every line (control characters are made visible on a terminal).
    print(message.get_body(("html",) if args.html else ("plain",)).get_content().replace("\r\n", "\n"))
    if not args.html:
        # Decoded as RFC 2047 says and mail clients do: the email package's address parser
        # put a space between two encoded words ("สำนักงานเขตลาด กระบัง").
        head = email.message_from_bytes(notice.data, policy=email.policy.compat32)
        shown = [f"{k}: {_decoded(v)}" for k, v in head.items() if not k.lower().startswith("content")]
        print("\n".join(shown), file=sys.stderr)
    return 0
