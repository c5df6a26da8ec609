"""`saraban-gateway keys ...` and `saraban-gateway audit verify`.

gateway/cli/classified.py calls `register_keys_parser(sub)` and `register_audit_parser(sub)` on its
subparsers; each sets `func`, so `args.func(args)` runs the command and returns the
exit code. The data directory comes from `args.data_dir` when the main CLI sets it
(from the config), else `SARABAN_DATA_DIR`, else `./var`.

Passwords are never taken on the command line (other users see it in `ps`): use
--password-env, --password-file, or answer the prompt.
"""
from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path

from typing import TYPE_CHECKING

from gateway.secrecy.errors import SecrecyError
from gateway.secrecy.key_files import seal_dir

if TYPE_CHECKING:  # loaded by the commands that use it: cryptography costs every other command's start
    from gateway.secrecy.keys import KeyStore



def _validity_days(text: str) -> int:
    """--days: a whole number of days from 1 (`--days -5` was a traceback, `--days 0` a key
    expired at once, until session 36) to 100 years (a date past 9999 is no date)."""
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
    if not 1 <= days <= 36500:
        raise argparse.ArgumentTypeError(f"{text} days: give 1 to 36500 (the key is valid that many days from now)")
    return days

def _data_dir(args: argparse.Namespace) -> Path:
    return Path(getattr(args, "data_dir", None) or os.environ.get("SARABAN_DATA_DIR") or "var")


def _keystore(args: argparse.Namespace) -> KeyStore:
    from gateway.secrecy.keys import KeyStore

    keys_dir = getattr(args, "keys_dir", None)
    return KeyStore(keys_dir) if keys_dir else KeyStore.for_data_dir(_data_dir(args))


def register_keys_parser(subparsers) -> argparse.ArgumentParser:
    keys = subparsers.add_parser(
        "keys", help="gateway key pair and secret registrars' (นายทะเบียนลับ) certificates"
    )
    keys.add_argument("--keys-dir", help="key store directory (default: <data dir>/keys)")
    sub = keys.add_subparsers(dest="keys_action", required=True, metavar="ACTION")

    create = sub.add_parser("create", help="generate the gateway key and its certificate (issued by a one-off local CA)")
    create.add_argument("--cn", required=True, help="certificate common name")
    create.add_argument("--email", help="address put in the certificate (default: [secrecy] from_address, "
                                        "else saraban-gateway@<domain>); the daemon refuses any other")
    create.add_argument("--days", type=_validity_days, default=730, help="validity in days, 1 to 36500 (default 730)")
    create.add_argument("--rotate", action="store_true",
                        help="replace the current key; the old one is kept for reading old letters")

    seal = sub.add_parser("create-seal",
                          help="generate the receive stamp's own seal key (EC P-256; made with the first gateway key)")
    seal.add_argument("--cn", help="certificate common name (default: Saraban Gateway Seal (<domain>))")
    seal.add_argument("--days", type=_validity_days, default=730, help="validity in days, 1 to 36500 (default 730)")
    seal.add_argument("--rotate", action="store_true",
                      help="replace the current seal; older ones are kept so their stamps still verify")

    imp = sub.add_parser("import", help="import the gateway key and certificate (PEM bundle or PKCS#12)")
    imp.add_argument("file", help="PEM file with key and certificate, or .p12/.pfx")
    imp.add_argument("--password-env", metavar="VAR", help="read the password from this environment variable")
    imp.add_argument("--password-file", metavar="PATH", help="read the password from this file")
    imp.add_argument("--rotate", action="store_true", help="replace the current key (old one kept)")

    reg = sub.add_parser("import-registrar", help="add a unit's secret registrar certificate")
    reg.add_argument("unit", help="the unit's address, e.g. saraban.latkrabang")
    reg.add_argument("file", help="certificate (PEM or DER)")

    bulk = sub.add_parser(
        "import-registrars",
        help="add many registrar certificates at once: a folder (one sub-folder or <unit>.pem per unit) "
             "or a CSV with columns unit,certificate")
    bulk.add_argument("source", help="folder, or CSV file (certificate paths relative to it)")

    lst = sub.add_parser("list", help="list keys and certificates with their expiry")
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    lst.add_argument("--warn-days", type=int, default=30, help="warn this many days before expiry")
    lst.add_argument("--check", action="store_true", help="exit 1 when there is any warning (for monitoring)")

    keys.set_defaults(func=keys_command)
    return keys


def register_audit_parser(subparsers) -> argparse.ArgumentParser:
    audit = subparsers.add_parser("audit", help="the decryption audit trail")
    sub = audit.add_subparsers(dest="audit_action", required=True, metavar="ACTION")
    verify = sub.add_parser("verify", help="check that the audit trail is unbroken")
    verify.add_argument("--path", help="audit log (default: <data dir>/audit/audit.log)")
    audit.set_defaults(func=audit_command)
    return audit


def keys_command(args: argparse.Namespace) -> int:
    from gateway.tools.common import ToolError

    store = _keystore(args)
    try:
        return _KEYS_ACTIONS[args.keys_action](store, args)
    except (SecrecyError, ToolError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        if getattr(exc, "th", None):
            print(f"  {exc.th}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2


def _has_current(store: KeyStore) -> bool:
    try:
        store.current_fingerprint()
    except SecrecyError:
        return False
    return True


def _create(store: KeyStore, args) -> int:
    if _has_current(store) and not args.rotate:
        print("error: a gateway key exists; pass --rotate to replace it "
              "(the old key is kept so older letters stay readable)", file=sys.stderr)
        return 1
    email = args.email
    if not email:  # the From of sealed mail, which the signer must carry (RFC 8550 §3)
        from gateway.config.settings import load_settings
        from gateway.secrecy.keys import seal_address

        email = seal_address(load_settings(getattr(args, "config", None)))
    first = not store.gateway_fingerprints() and not store.seal_fingerprints()
    if first:  # as the daemon's first start does (gateway/signatures/settings.py load_seal): the seal first
        _new_seal(store, _seal_name(args, email), args.days)
    fp = store.create_gateway_key(args.cn, email=email, days=args.days)
    print(f"gateway key {fp} created and made current")
    print(f"certificate: {store.path / 'gateway' / fp / 'cert.pem'} (give it to senders who encrypt to us)")
    return 0


def _seal_name(args, email: str | None = None) -> str:
    """The common name of a seal the command makes: the daemon's (`Saraban Gateway Seal
    (<domain>)`), from the configuration when it can be read, else from the address's."""
    from gateway.config.settings import load_settings
    from gateway.config.views import ConfigError
    from gateway.secrecy.key_files import seal_common_name

    try:
        return seal_common_name(load_settings(getattr(args, "config", None)))
    except ConfigError:
        if email and "@" in email:
            return f"Saraban Gateway Seal ({email.rsplit('@', 1)[1]})"
        raise


def _new_seal(store: KeyStore, name: str, days: int) -> str:
    fp = store.create_seal_key(name, days=days)
    print(f"seal key {fp} created and made current (EC P-256: signs the receive stamp)")
    print(f"certificate: {store.path / 'seal' / fp / 'cert.pem'} "
          "(give it to readers who check the receive stamp outside the gateway)")
    return fp


def _create_seal(store: KeyStore, args) -> int:
    current_file = seal_dir(store.path) / "CURRENT"
    if current_file.is_dir():  # else a new seal, and CURRENT not written to it
        print(f"error: {current_file} is a folder: remove it (rmdir), "
              "then run `keys create-seal` again", file=sys.stderr)
        return 1
    try:
        current = store.current_seal_fingerprint()
    except SecrecyError:
        current = None  # a lost or damaged CURRENT: a new seal mends it, --rotate or not
    if current is not None and not args.rotate:
        print("error: a seal key exists; pass --rotate to replace it "
              "(the old one is kept so stamps it made still verify)", file=sys.stderr)
        return 1
    _new_seal(store, args.cn or _seal_name(args), args.days)
    print("restart the daemon (systemctl restart saraban-gateway) for new stamps to use it")
    return 0


def _password(args) -> bytes | None:
    if args.password_env:
        value = os.environ.get(args.password_env)
        if value is None:
            raise SecrecyError(f"environment variable {args.password_env} is not set")
        return value.encode("utf-8")
    if args.password_file:
        return Path(args.password_file).read_bytes().rstrip(b"\r\n")
    return None


def _import(store: KeyStore, args) -> int:
    if _has_current(store) and not args.rotate:
        print("error: a gateway key exists; pass --rotate to replace it", file=sys.stderr)
        return 1
    data = Path(args.file).read_bytes()
    password = _password(args)
    try:
        fp = store.import_gateway_key(data, password)
    except SecrecyError:
        if password is not None or not sys.stdin.isatty():
            raise
        fp = store.import_gateway_key(data, getpass.getpass("password: "))
    print(f"gateway key {fp} imported and made current")
    return 0


def _directory(args):
    from gateway.config.settings import load_settings
    from gateway.units.directory import load_directory

    settings = load_settings(getattr(args, "config", None))
    return load_directory(settings.directory_path, settings.gateway.domain)


def _import_registrar(store: KeyStore, args) -> int:
    from gateway.tools.common import directory_unit

    # A unit the directory does not know (`saraban.latkrabng`) was given the certificate
    # all the same: "added to saraban.latkrabng (1 usable)", and the real unit's classified
    # letters waited for a registrar. The address with its domain or the unit's name as
    # units.toml writes it names the unit too, as for `register list --unit`.
    unit = directory_unit(_directory(args), args.unit)
    fp = store.import_registrar_cert(unit, Path(args.file).read_bytes())
    usable = len(store.registrar_certs(unit))
    print(f"registrar certificate {fp[:16]}… added to {unit} ({usable} usable)")
    return 0


CERT_SUFFIXES = (".pem", ".crt", ".cer", ".der")


def registrar_sources(source: Path) -> list[tuple[str, Path, int | None]]:
    """(unit, certificate file, CSV line or None) for a bulk import.

    A folder holds either one sub-folder per unit (`saraban.latkrabang/somsri.pem`:
    several registrars of one unit) or files named by the unit
    (`saraban.latkrabang.pem`); a CSV names them (`unit,certificate`)."""
    import csv

    if source.is_dir():
        out: list[tuple[str, Path, int | None]] = []
        for entry in sorted(source.iterdir()):
            if entry.is_dir():
                out += [(entry.name, f, None) for f in sorted(entry.iterdir()) if f.suffix.lower() in CERT_SUFFIXES]
            elif entry.suffix.lower() in CERT_SUFFIXES:
                out.append((entry.stem, entry, None))
        return out
    from gateway.tools.common import sheet_text

    reader = csv.DictReader(sheet_text(source).splitlines(), skipinitialspace=True)
    header = {name.strip().lower(): name for name in reader.fieldnames or []}
    if "unit" not in header or "certificate" not in header:
        raise SecrecyError(f"{source}: the first line must name the columns unit,certificate")
    rows = []
    for row in reader:
        unit, cert = (row.get(header["unit"]) or "").strip(), (row.get(header["certificate"]) or "").strip()
        if unit or cert:
            rows.append((unit.split("@", 1)[0].lower(), source.parent / cert, reader.line_num))
    return rows


def _import_registrars(store: KeyStore, args) -> int:
    source = Path(args.source)
    items = registrar_sources(source)
    if not items:
        print(f"error: {source}: no certificates found (*.pem, *.crt, *.cer, *.der)", file=sys.stderr)
        return 1
    from gateway.tools.common import ToolError, directory_unit

    directory = _directory(args)
    failed = 0
    for unit, path, line in items:
        where = f"{source} line {line}" if line else str(path)
        try:
            unit = directory_unit(directory, unit)
            fp = store.import_registrar_cert(unit, path.read_bytes())
        except (SecrecyError, OSError, ToolError) as exc:
            failed += 1
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            print(f"error: {where} ({unit}): {reason}", file=sys.stderr)
            continue
        print(f"{unit}: registrar certificate {fp[:16]}… added ({where})")
    print(f"{len(items) - failed} of {len(items)} certificate(s) imported" + (f", {failed} refused" if failed else ""))
    return 1 if failed else 0


def _list(store: KeyStore, args) -> int:
    rows = store.listing()
    warnings = store.warnings(days=args.warn_days)
    if args.json:
        print(json.dumps({"keys": rows, "warnings": warnings}, ensure_ascii=False, indent=2))
    else:
        if not rows:
            print("no keys")
        for r in rows:
            who = (r["kind"] + (" (current)" if r["current"] else "") if r["kind"] in ("gateway", "seal")
                   else f"registrar {r['unit']}")
            until = (r["not_after"] or "?")[:10]
            left = "" if r["days_left"] is None else f"{r['days_left']:>5}d"
            status = "ok" if r["usable"] else f"UNUSABLE: {r['problem']}"
            emails = ", ".join(r.get("emails") or [])
            print(f"{who:<28} {r['fingerprint'][:16]}  until {until} {left}  {status}  {r['subject'] or ''}"
                  + (f"  <{emails}>" if emails else ""))
        for w in warnings:
            print(f"warning: {w}")
    return 1 if (args.check and warnings) else 0


_KEYS_ACTIONS = {
    "create": _create,
    "create-seal": _create_seal,
    "import": _import,
    "import-registrar": _import_registrar,
    "import-registrars": _import_registrars,
    "list": _list,
}


def audit_command(args: argparse.Namespace) -> int:
    from gateway.secrecy.audit import audit_path

    given = getattr(args, "path", None)
    if given and not os.path.isfile(given):
        # A mistyped --path was "OK, no audit entries yet", and the audit folder instead
        # of its log file a traceback (IsADirectoryError).
        why = "is a folder: give the log file in it, audit.log" if os.path.isdir(given) else "no such file"
        print(f"saraban-gateway: audit trail {given}: {why}", file=sys.stderr)
        return 2
    return audit_verify_command(given or audit_path(_data_dir(args)))


def audit_verify_command(path: str | os.PathLike) -> int:
    """Print the verdict; 0 when the chain is intact, 1 when it is broken."""
    from gateway.secrecy.audit import verify_chain

    try:
        ok, bad_line, message = verify_chain(path)
    except OSError as exc:  # not readable by this user (the log is the daemon's, 0640)
        print(f"saraban-gateway: audit trail {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if ok:
        print(f"audit trail {path}: OK, {message}")
        return 0
    where = f" at line {bad_line}" if bad_line else ""
    print(f"audit trail {path}: BROKEN{where}: {message}", file=sys.stderr)
    return 1
