"""CLI for classified letters: `keys ...`, `audit verify` and `letter view|export`.

The data directory comes from the configuration (so `--config` or SARABAN_CONFIG picks
the same key store and audit trail as the daemon). `letter view|export` of a classified
letter decrypts only after an audit entry naming the person (--who) is on disk.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from gateway.cli.common import JSON_HELP, settings_of
from gateway.tools.common import cannot_write
from rules.names import shown_name
from rules.thai_text import clean_field
from gateway.cli.secrecy import register_audit_parser, register_keys_parser


def register(sub) -> None:
    for parser in (register_keys_parser(sub), register_audit_parser(sub)):
        func = parser.get_default("func")
        parser.set_defaults(func=_with_data_dir(func))
    letter = sub.add_parser("letter", help="one register entry in full (classified ones decrypted, audited)")
    letter_sub = letter.add_subparsers(dest="letter_command", required=True)
    for name, text in (("view", "show the entry: subject, sender, files, findings"),
                       ("export", "write the letter as received (.eml)")):
        p = letter_sub.add_parser(name, help=text)
        p.add_argument("id", help="queue id (from `register list --json`), or a receive number like 3/2569")
        p.add_argument("--unit", help="unit address, when the letter went to several units")
        p.add_argument("--book", help="register book for a receive number (default: the secret book)")
        p.add_argument("--who", help="your name, recorded in the audit trail (required for classified letters)")
        if name == "export":
            p.add_argument("--out", "-o", help="file to write (mode 0600; default: standard output)")
        if name == "view":
            p.add_argument("--json", action="store_true", help=JSON_HELP)
        p.set_defaults(func=cmd_letter, letter_action=name)


def _with_data_dir(func):
    def run(args: argparse.Namespace) -> int:
        if not getattr(args, "data_dir", None):
            args.data_dir = str(settings_of(args).data_dir)
        return func(args)

    return run


def _find(session, args, settings):
    from storage.register import find_by_number, find_by_queue_id

    from gateway.tools.common import ToolError, listed_unit, looks_like_receive_no, parse_receive_no

    from gateway.units.directory import load_directory
    from storage.register import unit_has_letters

    def refusal(exc: ToolError) -> str:
        return f"{exc}" + (f"\n  {exc.th}" if exc.th else "")

    try:
        # An unknown unit (a typo, another domain) was "no register entry ... for nowhere"
        # until session 38, as if the unit existed and had no such letter.
        unit = listed_unit(load_directory(settings.directory_path, settings.gateway.domain), args.unit,
                           lambda name: unit_has_letters(session, name))
    except ToolError as exc:
        return None, refusal(exc)
    if "/" in args.id or looks_like_receive_no(args.id):
        # 15-2569 and 15/69 were looked up as queue ids ("no register entry 15-2569"),
        # 1/69 as a number of the year 69 (session 38): parse_receive_no says how to write it.
        try:
            number, year = parse_receive_no(args.id)
        except ToolError as exc:
            return None, refusal(exc)
        if not unit:
            return None, ("a receive number needs --unit (the unit whose register it is, e.g. "
                          "--unit saraban.latkrabang)\n  เลขรับต้องระบุหน่วยงานด้วย --unit เช่น --unit saraban.latkrabang")
        book = args.book or settings.register_.secret_book
        found = find_by_number(session, unit, number, year, book)
        if not found:
            # A clerk's receive number is mostly one of the general book: "no register
            # entry 1/2569" said nothing of the book that was searched.
            other = settings.register_.general_book if book == settings.register_.secret_book else None
            hint = f" (a number of the {other} register: add --book {other})" if other else ""
            return None, (f"no register entry {args.id} for {unit} in the {book} register{hint}\n"
                          f"  ไม่พบเลขรับ {number}/{year} ของ {unit} ในทะเบียน {book}"
                          + (f" (ถ้าเป็นเลขของทะเบียน {other} ให้เพิ่ม --book {other})" if other else ""))
        letters = [found]
    else:
        letters = find_by_queue_id(session, args.id, unit)
    if not letters:
        shown = args.id if len(args.id) <= 40 else args.id[:40] + "…"
        return None, (f"no register entry {shown}" + (f" for {unit}" if unit else "")
                      + ": give a queue id (from `saraban-gateway register list --json`) or a receive "
                      "number like 3/2569 with --unit\n  ไม่พบหนังสือนี้ในทะเบียน กรุณาระบุเลขคิว (queue id) "
                      "หรือเลขรับ เช่น 3/2569 พร้อม --unit")
    if len(letters) > 1:
        return None, f"{args.id} went to {len(letters)} units; pick one with --unit"
    return letters[0], None


def cmd_letter(args: argparse.Namespace) -> int:
    from gateway.secrecy.errors import SecrecyError, TamperedError
    from gateway.secrecy.sealed_store import SealedStore
    from storage.schema_version import require_current
    from storage.register import letter_as_dict
    from storage.vault import Vault

    settings = settings_of(args)
    unwritable = cannot_write(args.out) if getattr(args, "out", None) else None
    if not unwritable and getattr(args, "out", None) and os.path.lexists(args.out):
        # Written over until session 38, keeping the old file's mode: a decrypted
        # classified letter in a file any user could read (0644), or a file of the
        # system's replaced by a letter.
        unwritable = ("the file exists and is not written over; give a new file name (or remove it first)"
                      "\n  มีไฟล์ชื่อนี้อยู่แล้ว จะไม่เขียนทับ กรุณาระบุชื่อไฟล์ใหม่")
    elif unwritable:  # in Thai too since session 38, like the command's other refusals
        unwritable += (f"\n  ไม่สามารถเขียนไฟล์ {args.out} ได้ กรุณาระบุชื่อไฟล์ใหม่ "
                       "ในโฟลเดอร์ที่มีอยู่และท่านมีสิทธิ์เขียน")
    if unwritable:
        # Said before anything is decrypted or audited; it was a traceback after both
        # (FileNotFoundError, IsADirectoryError).
        print(f"saraban-gateway: cannot write {args.out}: {unwritable}", file=sys.stderr)
        return 1
    db = settings.open_database()
    require_current(db.engine)
    with db.session() as session:
        letter, problem = _find(session, args, settings)
        if letter is not None:
            entry = letter_as_dict(letter)
            session.expunge(letter)
    db.dispose()
    if problem:
        print(f"saraban-gateway: {problem}", file=sys.stderr)
        return 1
    classified = bool((letter.facts or {}).get("sealed"))
    if not classified:
        if args.letter_action == "view":
            _print(entry, args)
            return 0
        vault = Vault(settings.vault_dir)
        if not vault.has(letter.raw_sha256):
            return _not_here(letter.receive_no)
        _write(vault.get(letter.raw_sha256), args)
        return 0
    who, refusal = _named_person(args.who)
    if refusal:
        print(f"saraban-gateway: {refusal}", file=sys.stderr)
        return 2
    from gateway.pipeline.classified import registers_own

    store = SealedStore(settings.data_dir)
    if not store.has(letter.queue_id, "raw"):
        return _not_here(letter.receive_no)
    audit = {"who": who, "letter_id": f"{letter.queue_id}:{letter.unit}",
             "receive_no": letter.receive_no, "book": letter.book}
    try:
        if args.letter_action == "view":
            meta = store.open_json(letter.queue_id, "meta", action="view", **audit)
            entry.update(subject=meta.get("subject"), sender_name=meta.get("sender_name"),
                         reference=(meta.get("facts") or {}).get("reference"),
                         letter_date=(meta.get("facts") or {}).get("letter_date"),
                         findings=[f for f in meta.get("findings") or [] if f.get("verdict") != "pass"]
                         + registers_own(letter.findings),
                         attachments=meta.get("attachments") or [],
                         smime_arrival=meta.get("smime_arrival"), opaque=meta.get("opaque"))
            _print(entry, args)
        else:
            raw = store.open(letter.queue_id, ["raw"], action="export", **audit)["raw"]
            _write(raw, args)
    except TamperedError as exc:
        print(f"saraban-gateway: the stored letter was changed, it will not be shown: {exc}", file=sys.stderr)
        return 3
    except SecrecyError as exc:
        print(f"saraban-gateway: cannot decrypt: {exc}", file=sys.stderr)
        return 1
    return 0


WHO_MAX = 100  # characters of a name kept in the audit trail


def _named_person(text: str | None) -> tuple[str, str | None]:
    """The name --who gave, as the audit trail keeps it (one line, no control or format
    character), or the refusal in English and Thai. Until session 38 a name of bytes
    that are not UTF-8 was UnicodeEncodeError's traceback (after the letter was found),
    and an escape sequence or a 10 000-character name was kept as typed."""
    try:
        (text or "").encode("utf-8")
    except UnicodeEncodeError:
        return "", ("the name given with --who is not UTF-8 text (is the terminal set to UTF-8?); type it again"
                    "\n  ชื่อที่ระบุใน --who อ่านไม่ได้ (ไม่ใช่ UTF-8) กรุณาพิมพ์ใหม่")
    who = clean_field(text)
    if who is None:
        return "", ("a classified letter is decrypted only for a named person: add --who NAME (your name, "
                    "kept in the audit trail)\n  หนังสือลับจะเปิดได้เมื่อระบุชื่อผู้เปิดเท่านั้น กรุณาเพิ่ม --who ชื่อของท่าน")
    if len(who) > WHO_MAX:
        return "", (f"the name given with --who is {len(who)} characters long; at most {WHO_MAX} are kept: "
                    f"give your name\n  ชื่อใน --who ยาว {len(who)} ตัวอักษร ระบุได้ไม่เกิน {WHO_MAX} ตัวอักษร")
    return who, None


def _not_here(receive_no: str) -> int:
    from gateway.tools.common import not_on_this_gateway

    refusal = not_on_this_gateway(f"letter {receive_no}")
    print(f"saraban-gateway: {refusal}\n  {refusal.th}", file=sys.stderr)
    return 1


def _print(entry: dict, args) -> None:
    if getattr(args, "json", False):
        print(json.dumps(entry, ensure_ascii=False, indent=2))
        return
    for key in ("unit", "book", "receive_no", "secrecy", "received_at", "sender", "sender_name",
                "reference", "letter_date", "subject", "queue_id"):
        if entry.get(key) is not None:
            print(f"{key:<12} {entry[key]}")
    for a in entry.get("attachments") or []:
        print(f"file         {shown_name(a['filename']) if a.get('filename') else '(no name)'}  {a.get('size')} bytes  {a.get('content_type')}")
    for f in entry.get("findings") or []:
        print(f"finding      {f.get('verdict')}: {f.get('rule')}: {f.get('message', '')}")


def _write(data: bytes, args) -> None:
    if not args.out:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    fd = os.open(Path(args.out), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # a new file, mode 0600
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    print(f"written {len(data)} bytes to {args.out}", file=sys.stderr)
