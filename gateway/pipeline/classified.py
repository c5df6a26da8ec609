"""Classified letters in the pipeline: ลับ (confidential) and ลับมาก (secret) are sealed
at rest and registered in the secret book; ลับที่สุด (top secret) found only after
parsing is sealed into quarantine. Everything here fails closed.

The pipeline calls, in order:
  `open_arrival`  S/MIME encrypted to the gateway is decrypted in memory;
  `classify`      the effective classification (S/MIME and password-protected PDFs
                  make a letter at least ลับ: the gateway cannot vouch it is not);
  `seal_letter`   raw message, attachments and the readable facts, encrypted (SGV1),
                  instead of the plain vault;
  `bare`          findings as the plaintext register and quarantine may show them
                  (gateway/pipeline/dispose.py holds and registers with these);
  `finish_spool`  the spool file is shredded, not just unlinked.
"""
from __future__ import annotations

import dataclasses
import email.message
from dataclasses import dataclass, field

import structlog

from typing import TYPE_CHECKING

from gateway.pipeline.unread_words import thai_phrase
from gateway.secrecy.errors import SecrecyError
from gateway.secrecy.markings import classify_headers, raw_headers
from gateway.secrecy.shred import shred
from gateway.service.services import Services
from gateway.spool import SpoolEntry
from rules.model import Finding, LetterFacts, ParsedMail
from storage.fsync import fsync_dir, write_durably

if TYPE_CHECKING:
    from gateway.secrecy.sealed_store import SealedStore

# The keys, the vault's encryption and S/MIME (gateway/secrecy/keys.py, vault_crypto.py,
# envelope.py, all over `cryptography`) are imported where a letter needs them, not
# here: the pipeline and the delivery runner import this module, and `cryptography`
# is ~9 MiB of each process that loads it, for the few letters that are classified,
# S/MIME or parked (docs/performance.md, session 30; tests/test_process_imports.py).

log = structlog.get_logger("gateway.pipeline.classified")

CLASSIFIED = ("confidential", "secret", "top_secret")
# Rules whose messages never quote the letter (no file names, no text): kept as they
# are in the plaintext register and quarantine; any other rule's text is sealed.
_SAFE_MESSAGES = {"top_secret", "unit_directory", "smime_undecryptable", "registrar_certificate",
                  "classified_opaque", "classified_unread", "no_document", "mime_parse",
                  "header_size", "reading_time"}


@dataclass
class Arrival:
    """The message the rules read and the registrar will get."""

    raw: bytes
    smime: bool = False  # arrived encrypted to the gateway
    error: str | None = None  # S/MIME that no gateway key opens


@dataclass
class Sealed:
    """Where a classified message's encrypted objects are, and what may be shown."""

    queue_id: str
    secrecy: str
    raw_ref: str  # SHA-256 of the encrypted raw blob (never of the plaintext)
    attachments: list[dict] = field(default_factory=list)  # blob sha256, size, type
    opaque: bool = False
    smime: bool = False
    unread: list[Finding] = field(default_factory=list)  # `unread_finding`, when a file was not read
    files_mac: str | None = None  # `files_mac`: the keyed hash of its files' set, None without files

    def locations(self, store: SealedStore) -> dict:
        return {"dir": str(store.dir_for(self.queue_id).relative_to(store.data_dir)),
                "raw": store.relative(self.queue_id, "raw"),
                "meta": store.relative(self.queue_id, "meta")}


def store_for(services: Services) -> SealedStore:
    """The sealed store, its keys read when a blob is written or opened: every letter's
    `finish_spool` asks it whether the letter was sealed."""
    from gateway.secrecy.sealed_store import SealedStore

    return SealedStore(services.settings.data_dir)


def _smime_by_header(raw: bytes) -> bool:
    """The top-level Content-Type, from the header block alone: parsing the whole
    message here would recurse (~1,000 nested multiparts) outside the parser's guard."""
    from gateway.secrecy.smime_label import smime_labelled

    try:
        fields = {k.lower(): v for k, v in reversed(list(raw_headers(raw)))}  # the first of each
    except Exception:
        return False
    message = email.message.Message()
    for name in ("Content-Type", "Content-Disposition"):
        if name.lower() in fields:
            message[name] = fields[name.lower()].replace("\r", " ").replace("\n", " ")
    return smime_labelled(message)


def open_arrival(services: Services, entry: SpoolEntry) -> Arrival:
    if not _smime_by_header(entry.raw):
        return Arrival(entry.raw)
    from gateway.secrecy.envelope import decrypt_incoming, is_encrypted_smime

    if not is_encrypted_smime(entry.raw):
        return Arrival(entry.raw)
    try:
        return Arrival(decrypt_incoming(entry.raw, store_for(services).keystore), smime=True)
    except SecrecyError as exc:
        log.warning("smime_not_decrypted", error=str(exc))
        return Arrival(entry.raw, smime=True, error=str(exc))


def marked_in_headers(raw: bytes) -> bool:
    return classify_headers(raw).level != "none"


def unreadable_secrecy(raw: bytes) -> str:
    """The level of a message the parser could not read: what its headers say, and at
    least ลับ (confidential) since nothing else of it could be looked at."""
    found = classify_headers(raw)
    return found.level if found.level != "none" else "confidential"


def classify(mail: ParsedMail, facts: LetterFacts, arrival: Arrival) -> LetterFacts:
    """At least ลับ for S/MIME arrivals. (Markings, password-protected and unreadable
    PDFs are rules/markings.py `read_classification`'s, already in `facts`.)"""
    if facts.secrecy in CLASSIFIED:
        return facts
    if arrival.smime or is_opaque(mail):
        return dataclasses.replace(facts, secrecy="confidential")
    return facts


def is_opaque(mail: ParsedMail | None) -> bool:
    """A PDF with a user password (owner-only protection opens and is read as usual)."""
    return bool(mail) and any(a.pdf_encrypted and a.pdf_pages is None for a in mail.attachments)


def is_classified(facts: LetterFacts) -> bool:
    return facts.secrecy in CLASSIFIED


def opaque_finding() -> Finding:
    return Finding(
        "classified_opaque", "warn",
        "มีไฟล์ PDF ติดรหัสผ่าน ระบบอ่านเนื้อหาไม่ได้ จึงลงทะเบียนเป็นหนังสือลับและส่งต่อให้นายทะเบียนลับตามที่ได้รับ",
        "a PDF is password-protected and cannot be read, so the letter is registered as "
        "ลับ (confidential) and forwarded to the secret registrar as it came",
    )


UNREAD_SHOWN = 10  # what could not be read, listed in the finding; the rest counted


def unread_finding(unread: tuple[str, ...] | list[str]) -> Finding:
    """Why a letter is at least ลับ when a file of it could not be read: each phrase names
    the file by its number ("file 2: 7z archive", never its name, which may be the
    letter's words), so the clerk and the registrar know which file to open and judge."""
    unread = list(dict.fromkeys(unread))  # a ZIP of 100 encrypted members: one phrase
    more = f"; +{len(unread) - UNREAD_SHOWN}" if len(unread) > UNREAD_SHOWN else ""
    listed = "; ".join(unread[:UNREAD_SHOWN]) + more
    # The same phrases, each in Thai (since session 36: the clerks read this sentence).
    listed_th = "; ".join(thai_phrase(u) for u in unread[:UNREAD_SHOWN]) + more
    return Finding(
        "classified_unread", "warn",
        f"ระบบอ่านเนื้อหาบางส่วนของหนังสือไม่ได้ ({listed_th}) จึงถือเป็นหนังสือลับอย่างน้อยชั้นลับ "
        "โปรดตรวจชั้นความลับจากไฟล์นั้นเอง",
        f"part of the letter could not be read ({listed}), so it is treated as at least ลับ (confidential); "
        "check the classification in that file itself",
    )


def seal_letter(services: Services, entry: SpoolEntry, arrival: Arrival, mail: ParsedMail | None,
                facts: LetterFacts, findings: list[Finding]) -> Sealed:
    """Encrypt everything of the message; nothing of it goes to the plain vault."""
    from gateway.secrecy.keys import ensure_gateway_key

    store = store_for(services)
    ensure_gateway_key(store.keystore, services.settings)  # else put() fails: the letter waits
    qid = entry.queue_id
    # The blobs become durable by one syncfs before the meta that names them, not by an
    # fsync each: a letter past the 500-part cap has 499 files.
    raw_ref = store.put(qid, "raw", arrival.raw, sync=False)
    if arrival.raw is not entry.raw and arrival.raw != entry.raw:
        store.put(qid, "arrival", entry.raw, sync=False)
    shown, described = [], []
    for n, a in enumerate(mail.attachments if mail else ()):
        blob_sha = store.put(qid, f"att-{n}", a.data, sync=False)
        shown.append({"filename": None, "sha256": blob_sha, "size": a.size, "content_type": a.sniffed_type})
        described.append({"index": n, "blob": f"att-{n}", "blob_sha256": blob_sha, "filename": a.filename,
                          "sha256": a.sha256, "size": a.size, "content_type": a.sniffed_type,
                          "declared_type": a.declared_type, "pdf_encrypted": a.pdf_encrypted})
    store.sync()
    files = [a.sha256 for a in mail.attachments] if mail else []
    mac = files_mac(store.keystore.same_files_key(), files) if files else None
    store.put_json(qid, "meta", {
        "subject": mail.subject if mail else None,
        "from": mail.from_address if mail else None,
        "sender_name": _display_name(mail),
        "message_id": mail.message_id if mail else None,
        "facts": facts.as_dict(),
        "findings": [f.as_dict() for f in findings] + [f.as_dict() for f in _unread(mail)],
        "attachments": described,
        "smime_arrival": arrival.smime,
        "opaque": is_opaque(mail),
    })
    log.info("classified_sealed", secrecy=facts.secrecy, objects=len(shown) + 2)
    return Sealed(qid, facts.secrecy, raw_ref, shown, opaque=is_opaque(mail), smime=arrival.smime,
                  unread=_unread(mail), files_mac=mac)


def files_mac(key: bytes, sha256s: list[str]) -> str | None:
    """A sealed letter's files as a set, for the register to find the same files sent
    again (`same_files`, as an ordinary letter's plain SHA-256s are): HMAC-SHA256 under
    the gateway's key (KeyStore.same_files_key) of their sorted plain SHA-256s, computed
    in memory. A plain hash of a ลับ file in the database would let anyone holding a
    copy of the document confirm that the unit received it; this one cannot be computed
    without the key store. None for a letter without files (nothing to match)."""
    if not sha256s:
        return None
    import hmac

    return hmac.new(key, "\n".join(sorted(set(sha256s))).encode("ascii"), "sha256").hexdigest()


# The register's own warnings, decided after the letter was sealed (so not in its meta):
# the earlier letter with the same files or Message-ID, by its number.
REGISTERS_OWN = ("same_files", "message_id_reused")


def registers_own(findings: list[dict] | None) -> list[dict]:
    """Of a sealed letter's register row, the findings the registrar's note and `letter
    view` add to its sealed ones."""
    return [f for f in findings or [] if f.get("rule") in REGISTERS_OWN]


def _unread(mail: ParsedMail | None) -> list[Finding]:
    return [unread_finding(mail.unread)] if mail is not None and mail.unread else []


def seal_undecryptable(services: Services, entry: SpoolEntry, arrival: Arrival):
    from gateway.secrecy.auth_enveloped import UNSUPPORTED, UNSUPPORTED_CBC
    from gateway.secrecy.envelope import ENCRYPTED_AGAIN

    facts = LetterFacts(secrecy="confidential")
    if arrival.error == UNSUPPORTED:
        # authEnveloped-data in a cipher other than AES-GCM (ChaCha20-Poly1305, RFC 8103).
        # Its sender may well have encrypted to the gateway's certificate: what to change
        # is the cipher, which their client lets them choose.
        finding = Finding(
            "smime_undecryptable", "fail",
            "อีเมลเข้ารหัสแบบ S/MIME authEnveloped-data ด้วยวิธีที่ระบบถอดรหัสไม่ได้ (ไม่ใช่ AES-GCM) "
            "กรุณาเข้ารหัสแบบ AES (AES-GCM หรือ AES-CBC) ด้วยใบรับรองปัจจุบันของระบบสารบรรณ",
            "the message is encrypted as S/MIME authEnveloped-data with a cipher the gateway does not "
            "decrypt (not AES-GCM); encrypt it with AES (AES-GCM or AES-CBC) to the gateway's "
            "current certificate",
        )
        return facts, [finding], seal_letter(services, entry, arrival, None, facts, [finding])
    if arrival.error == UNSUPPORTED_CBC:
        # enveloped-data in RC2, DES or another old cipher: encrypted to the gateway,
        # perhaps, by a client set to a cipher nobody should use any more.
        finding = Finding(
            "smime_undecryptable", "fail",
            "อีเมลเข้ารหัสแบบ S/MIME ด้วยวิธีที่ระบบถอดรหัสไม่ได้ (ไม่ใช่ AES หรือ 3DES) "
            "กรุณาเข้ารหัสแบบ AES ด้วยใบรับรองปัจจุบันของระบบสารบรรณ",
            "the message is encrypted as S/MIME enveloped-data with a cipher the gateway does not "
            "decrypt (not AES or triple DES); encrypt it with AES to the gateway's current certificate",
        )
        return facts, [finding], seal_letter(services, entry, arrival, None, facts, [finding])
    if (arrival.error or "").startswith(ENCRYPTED_AGAIN):
        # Encrypted again inside its encryption (session 42): the outer layer opened, an
        # inner one is to someone else, or the layers are too many. Its sender's client
        # (or a relay) encrypted twice; once, to the gateway, is what to send.
        finding = Finding(
            "smime_undecryptable", "fail",
            "อีเมลถูกเข้ารหัสซ้ำซ้อนหลายชั้น และชั้นในเข้ารหัสถึงใบรับรองที่ระบบไม่มี "
            "กรุณาเข้ารหัสเพียงชั้นเดียวด้วยใบรับรองปัจจุบันของระบบสารบรรณ",
            "the message is encrypted again inside its encryption, and an inner layer is to a "
            "certificate the gateway does not hold (or the layers are too many); encrypt it once, "
            "to the gateway's current certificate",
        )
        return facts, [finding], seal_letter(services, entry, arrival, None, facts, [finding])
    finding = Finding(
        "smime_undecryptable", "fail",
        "อีเมลเข้ารหัสถึงใบรับรองที่ระบบไม่มี กรุณาเข้ารหัสด้วยใบรับรองปัจจุบันของระบบสารบรรณ",
        "the message is encrypted to a certificate the gateway does not hold; "
        "encrypt it to the gateway's current certificate",
    )
    return facts, [finding], seal_letter(services, entry, arrival, None, facts, [finding])


def _display_name(mail: ParsedMail | None) -> str | None:
    # parse.py here, where a parsed letter is: the delivery runner imports this module
    # and has no use for the letter parser (mail-parser, libmagic: ~5 MiB).
    from gateway.pipeline.parse import sender_display_name

    return sender_display_name(mail) if mail else None


def bare(findings: list[Finding] | list[dict]) -> list[dict]:
    """Findings as the plaintext register/quarantine may keep them: rule and verdict,
    and the message only when the rule never quotes the letter."""
    out = []
    for f in findings:
        d = f.as_dict() if isinstance(f, Finding) else dict(f)
        if d["rule"] not in _SAFE_MESSAGES or d.get("attachment"):
            th = f"หนังสือไม่ผ่านการตรวจ ({d['rule']}) รายละเอียดเก็บเข้ารหัสไว้สำหรับนายทะเบียนลับ"
            en = f"the letter did not pass the check '{d['rule']}'; the details are kept encrypted for the secret registrar"
            d.update(message_th=th, message_en=en, message=f"{th} / {en}", attachment=None)
        out.append(d)
    return out


def finish_spool(services: Services, queue_id: str, sync: bool = True) -> None:
    """Remove the spool file; shred it when the message was classified (its sealed
    directory exists), so that no plaintext copy of it stays on disk. `sync=False`:
    the caller fsyncs the spool directory once for several removals."""
    store = store_for(services)
    path = services.spool.new / f"{queue_id}.msg"
    if store.exists(queue_id):
        # The reading first: a crash between the two leaves the letter, read again.
        services.spool.drop_reading(queue_id, shred=True)
        if shred(path) and sync:
            fsync_dir(services.spool.new)
        return
    if sync:
        services.spool.remove(queue_id)
        return
    services.spool.drop_reading(queue_id)
    try:
        path.unlink()
    except FileNotFoundError:
        pass


SEALED_MAGIC = b"SGV1"


def park(services: Services, queue_id: str) -> None:
    """Move an entry that keeps failing to `spool/failed/`, sealed: the gateway could not
    tell what the letter is, so it may be classified (fail closed). The parked file is
    an SGV1 blob to the gateway key (made now if there is none) and the plaintext spool
    file is shredded. Only when no key can be made at all is it parked as it came."""
    spool = services.spool
    source = spool.new / f"{queue_id}.msg"
    from gateway.secrecy.keys import ensure_gateway_key
    from gateway.secrecy.vault_crypto import encrypt_blob

    try:
        data = source.read_bytes()
        store = store_for(services)
        ensure_gateway_key(store.keystore, services.settings)
        blob = encrypt_blob(data, store.keystore)
    except FileNotFoundError:
        return
    except SecrecyError as exc:
        log.warning("parked_unsealed", queue_id=queue_id, error=str(exc))
        spool.park(queue_id)
        return
    write_durably(spool.failed / f"{queue_id}.msg", (blob,), tmp_dir=spool.tmp, mode=0o600)
    spool.drop_reading(queue_id, shred=True)
    if shred(source):
        fsync_dir(spool.new)
    log.info("parked_sealed", queue_id=queue_id)


def unpark(services: Services, queue_id: str) -> None:
    """Put a parked entry back in `spool/new/` for the pipeline, opening it if sealed."""
    spool = services.spool
    parked = spool.failed / f"{queue_id}.msg"
    blob = parked.read_bytes()
    if not blob.startswith(SEALED_MAGIC):
        spool.unpark(queue_id)
        return
    from gateway.secrecy.vault_crypto import decrypt_blob

    data = decrypt_blob(blob, store_for(services).keystore)
    write_durably(spool.new / f"{queue_id}.msg", (data,), tmp_dir=spool.tmp)
    parked.unlink()
    fsync_dir(spool.failed)
    spool.announce()
