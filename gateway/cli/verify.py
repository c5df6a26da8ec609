"""`saraban-gateway verify FILE.pdf [--json]`: the verdicts for one file, offline."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from gateway.cli.common import JSON_HELP

if TYPE_CHECKING:  # pyHanko's side loads when `verify` runs, not with every other command
    from gateway.signatures.trust import TrustSettings
    from gateway.signatures.verdict import PdfVerdict

# Exit codes: scripts can tell "all signatures good" from "look at this".
EXIT_PASSED = 0
EXIT_REVIEW = 1  # failed / indeterminate / changed after signing / unreadable
EXIT_UNSIGNED = 2
EXIT_USAGE = 64

_LABELS = {
    "TOTAL_PASSED": "ถูกต้อง / valid",
    "TOTAL_FAILED": "ไม่ถูกต้อง / INVALID",
    "INDETERMINATE": "ยังสรุปไม่ได้ / indeterminate",
    "NO_SIGNATURE_FOUND": "ไม่มีลายมือชื่อ / no signature",
}


def verify_command(path: str | Path, json_output: bool, trust: TrustSettings, out: TextIO | None = None) -> int:
    from gateway.signatures.verdict import NO_SIGNATURE_FOUND, TOTAL_PASSED
    from gateway.signatures.verify import quiet_library_logs, verify_pdf

    out = out or sys.stdout
    quiet_library_logs()
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        print(f"cannot read {path}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    verdict = verify_pdf(data, trust)
    if json_output:
        doc = {"file": str(path), **verdict.as_dict()}
        print(json.dumps(doc, ensure_ascii=False, indent=2), file=out)
    else:
        print(render_text(str(path), verdict, trust), file=out)
    if verdict.indication == NO_SIGNATURE_FOUND:
        return EXIT_UNSIGNED
    return EXIT_PASSED if verdict.indication == TOTAL_PASSED and not verdict.review else EXIT_REVIEW


def render_text(name: str, verdict: PdfVerdict, trust: TrustSettings) -> str:
    from gateway.signatures.verdict import sub_indication_text

    lines = [f"{name}: {verdict.indication}" + (f" / {verdict.sub_indication}" if verdict.sub_indication else "")
             + f" — {_LABELS.get(verdict.indication, '')}"]
    if verdict.message:
        lines.append(f"  {verdict.message}")
    if verdict.review:
        lines.append("  ต้องตรวจสอบ / needs review")
    for w in verdict.warnings:
        lines.append(f"  note: {w}")
    for i, sig in enumerate(verdict.signatures, 1):
        kind = "document timestamp" if sig.kind == "document_timestamp" else "signature"
        lines.append(f"  [{i}] {kind} {sig.field or ''}: {sig.indication}" + (f" / {sig.sub_indication}" if sig.sub_indication else ""))
        if sig.sub_indication:
            thai, english = sub_indication_text(sig.sub_indication)
            lines.append(f"      {thai} / {english}")
        lines.append(f"      signer: {sig.signer or '?'}" + (f" — {sig.organisation}" if sig.organisation else ""))
        if sig.issuer:
            lines.append(f"      issued by: {sig.issuer}")
        if sig.signed_at:
            source = "trusted timestamp" if sig.signed_at_source == "timestamp" else "signer's own clock"
            lines.append(f"      signed at: {sig.signed_at.isoformat()} ({source})")
        lines.append(f"      covers whole file: {'yes' if sig.covers_whole_file else 'no'}; changes after signing: {sig.modifications}"
                     + (f" ({', '.join(sig.changed_fields)})" if sig.changed_fields else ""))
        if sig.certification:
            lines.append(f"      certified: {sig.certification}")
        if sig.message:
            lines.append(f"      {sig.message}")
    if not trust.roots:
        lines.append("  note: no trust roots configured; no signature can be trusted")
    return "\n".join(lines)


def cmd_verify(args) -> int:
    """`saraban-gateway verify`: trust from the configuration ([signatures])."""
    from gateway.config.settings import load_settings
    from gateway.signatures.settings import trust_from_settings

    settings = load_settings(args.config)
    return verify_command(args.file, args.json, trust_from_settings(settings))


def register(sub) -> None:
    """`saraban-gateway verify FILE.pdf [--json]`."""
    verify = sub.add_parser(
        "verify",
        help="check the electronic signatures of one PDF, offline",
        description="Verdicts (TOTAL_PASSED / TOTAL_FAILED / INDETERMINATE / NO_SIGNATURE_FOUND) "
                    "for every signature and document timestamp of a PDF, with the configured trust roots. "
                    "Exit 0: all valid; 1: needs review; 2: no signature; 64: file not readable.",
    )
    verify.add_argument("file", help="the PDF")
    verify.add_argument("--json", action="store_true", help=JSON_HELP)
    verify.set_defaults(func=cmd_verify)
