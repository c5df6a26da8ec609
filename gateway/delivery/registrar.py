"""Delivery of classified letters to the unit's secret registrars (นายทะเบียนลับ), and
the alerts that go with them. Outbox kinds "registrar" and "alert".

A classified letter never goes to the unit's ordinary folder. The sealed message —
S/MIME EnvelopedData (AES-256) to every registrar certificate of the unit, with the
gateway's signature inside — goes through the unit's own backend (route.py): the
registrar's Maildir `{folder}.secret`, an IMAP registrar folder (and account), or the
registrars' SMTP addresses; exactly once on Maildir and IMAP, retried and dead-lettered
like folder copies. When a certificate is missing, expired or unusable nothing is sent:
the letter stays sealed, a quarantine entry says why, the central unit gets an alert,
and the item is retried (with backoff) until an operator imports a usable certificate
or it goes dead.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING

import structlog

from gateway.delivery.copy_seal import alert_seal_header, seal_header
from gateway.delivery.errors import RegistrarCopyWaits
from gateway.delivery.maildir import message_name
from gateway.delivery.route import Destination, RegistrarRouteMissing, destination, transport
from gateway.pipeline.classified import registers_own, store_for
from gateway.secrecy.errors import SecrecyError
from gateway.service.services import Services
from rules.names import shown_name
from rules.thai_time import to_bangkok
from storage import outbox
from storage.models import Letter, OutboxItem

if TYPE_CHECKING:
    from gateway.secrecy.keys import KeyStore

# gateway/secrecy/keys.py and envelope.py (over `cryptography`, ~9 MiB of a process)
# are imported by the functions that seal or alert, as in gateway/pipeline/classified.py:
# the delivery runner imports this module for every letter's route.

log = structlog.get_logger("gateway.deliver.registrar")

SECRECY_TH = {"confidential": "ลับ", "secret": "ลับมาก", "top_secret": "ลับที่สุด"}
SYSTEM_WHO = "saraban-gateway"


def secret_folder(services: Services, unit_name: str, payload: dict | None = None) -> str:
    """The registrar's Maildir: `[unit.settings] secret_folder`, else the configured
    template (default "{folder}.secret") applied to the unit's folder; `payload` the
    item's (the unit as registered, copy_unit.py)."""
    from gateway.delivery.copy_unit import unit_for_copy

    unit = unit_for_copy(services, unit_name, payload)
    own = (unit.settings or {}).get("secret_folder")
    folder = unit.folder
    name = str(own) if own else services.settings.secrecy.secret_folder.replace("{folder}", folder)
    if "/" in name or ".." in name or not name or name.startswith("."):
        raise SecrecyError(f"secret folder {name!r} of {unit_name} is not a safe folder name")
    return name


def registrar_certs(keystore: KeyStore, unit_name: str):
    """(usable certificates, problem or None) of a unit's registrars.

    The key store's unit code is the address local part with or without "saraban."
    (`saraban.dds.sd` or `dds.sd`). Any certificate that is unusable blocks delivery,
    unless a usable certificate with the same subject supersedes it (a renewal): one
    registrar silently left out would lose that registrar's copy.
    """
    from gateway.secrecy.keys import registrar_cert_problem

    codes = [unit_name]
    if unit_name.startswith("saraban."):
        codes.append(unit_name[len("saraban."):])
    certs = []
    for code in codes:
        try:
            certs = keystore._all_registrar_certs(code)
        except SecrecyError:
            continue
        if certs:
            break
    if not certs:
        return [], f"no secret registrar certificate for {unit_name}"
    usable = [c for c in certs if registrar_cert_problem(c) is None]
    good_subjects = {c.subject for c in usable}
    for cert in certs:
        problem = registrar_cert_problem(cert)
        if problem and cert.subject not in good_subjects:
            return [], f"registrar certificate {cert.subject.rfc4514_string()}: {problem}"
    return usable, None


def deliver_registrar(services: Services, item: OutboxItem) -> None:
    from gateway.delivery.copy_unit import unit_for_copy
    from gateway.secrecy.envelope import letter_entity, seal_for_registrars
    from gateway.secrecy.keys import seal_address

    letter = item.letter  # read with the item (outbox.LETTER_COPIES)
    unit = unit_for_copy(services, letter.unit, item.payload)  # before anything is opened
    store = store_for(services)
    letter_id = f"{letter.queue_id}:{letter.unit}"
    certs, problem = registrar_certs(store.keystore, letter.unit)
    if problem is None:
        try:
            gateway_key, gateway_cert = store.keystore.gateway_identity()
        except SecrecyError as exc:
            problem = str(exc)
    if problem is not None:
        _hold(services, letter, problem)
        raise RegistrarCopyWaits(problem)
    opened = store.open(letter.queue_id, ["raw", "meta"], who=SYSTEM_WHO, action="seal_for_registrar",
                        letter_id=letter_id, receive_no=letter.receive_no, book=letter.book)
    meta = json.loads(opened["meta"])
    entity = letter_entity(opened["raw"], _note(letter, meta))
    domain = services.settings.gateway.domain
    label = SECRECY_TH.get(letter.secrecy, "ลับ")
    sealed = seal_for_registrars(entity, certs, gateway_key, gateway_cert,
                                 chain=store.keystore.gateway_chain(), headers={
        "From": seal_address(services.settings),
        "To": f"{letter.unit}@{domain}",
        # The real subject travels inside the envelope only.
        "Subject": f"[รับ {letter.receive_no} ทะเบียนลับ] หนังสือชั้น{label} / classified letter",
        "Date": format_datetime(dt.datetime.now(dt.timezone.utc)),
        "Message-ID": f"<{letter.queue_id}.{letter.unit}@{domain}>",
        "X-Saraban-Receive-No": letter.receive_no,
        "X-Saraban-Book": letter.book,
        "X-Saraban-Unit": letter.unit,
        "X-Saraban-Queue-Id": letter.queue_id,
        **dict([seal_header(services.settings.data_dir, letter)]),
    })
    where = destination(services.settings, letter.unit, unit.folder,
                        registrar=True, maildir_folder=secret_folder(services, letter.unit, item.payload))
    went = transport(services, item, where, letter.queue_id, letter.unit, sealed)
    outbox.release_registrar_hold(services.db, letter.queue_id, letter.unit, "registrar_certificate")
    log.info("filed_for_registrar", receive_no=letter.receive_no, registrars=len(certs), **went)


def _note(letter: Letter, meta: dict) -> str:
    facts = meta.get("facts") or {}
    lines = [
        f"เลขรับ (receive no.): {letter.receive_no}   ทะเบียน (book): {letter.book}",
        f"หน่วยงาน (unit): {letter.unit}",
        f"ชั้นความลับ (classification): {SECRECY_TH.get(letter.secrecy, letter.secrecy)}",
        f"รับเมื่อ (received): {to_bangkok(letter.received_at).isoformat(timespec='seconds')}",
        f"จาก (from): {meta.get('sender_name') or ''} <{letter.sender}>",
        f"เรื่อง (subject): {meta.get('subject') or facts.get('subject') or ''}",
        f"ที่ (reference): {facts.get('reference') or ''}",
    ]
    # The letter inside goes byte for byte (evidence), so a name its sender's client wrote
    # raw in Windows-874 or under a wrong label reads garbled there: named here as read.
    for a in meta.get("attachments") or []:
        name = shown_name(a["filename"]) if a.get("filename") else "(ไม่มีชื่อ / no name)"
        lines.append(f"ไฟล์ (file): {name}  {a.get('size')} bytes")
    if meta.get("smime_arrival"):
        lines.append("มาถึงแบบเข้ารหัส S/MIME ถึงระบบ (arrived S/MIME-encrypted to the gateway)")
    for f in [f for f in meta.get("findings") or [] if f.get("verdict") != "pass"] + registers_own(letter.findings):
        lines.append(f"- {f['verdict']}: {f['rule']}: {f.get('message', '')}")
    if meta.get("opaque"):
        lines.append("- PDF ติดรหัสผ่าน ส่งต่อตามที่ได้รับ (password-protected PDF, forwarded as it came)")
    lines.append(f"คิว (queue id): {letter.queue_id}")
    return "\n".join(lines) + "\n"


def _hold(services: Services, letter: Letter, problem: str) -> None:
    """Quarantine (once) and alert the central unit (once); the letter stays sealed."""
    th = "ส่งหนังสือลับให้นายทะเบียนลับไม่ได้: ใบรับรองไม่มี หมดอายุ หรือใช้ไม่ได้ หนังสือถูกเก็บเข้ารหัสไว้"
    en = f"the classified letter cannot be sent to the secret registrar: {problem}; it is kept encrypted"
    reasons = [{"rule": "registrar_certificate", "verdict": "fail", "message_th": th,
                "message_en": en, "message": f"{th} / {en}", "attachment": None}]

    def alert(session) -> None:
        outbox.add_alert(session, letter.queue_id, letter.unit, "registrar_certificate", "central",
                  receive_no=letter.receive_no, book=letter.book, problem=problem)

    if outbox.hold_for_registrar(services.db, letter, reasons, also=alert):
        log.error("classified_undeliverable", receive_no=letter.receive_no, problem=problem)


_ALERT_TEXT = {
    "registrar_certificate": (
        "หนังสือชั้นความลับถึง {unit} (เลขรับ {receive_no} ทะเบียน {book}, รหัสคิว {queue_id}) "
        "ยังส่งให้นายทะเบียนลับไม่ได้: {problem}\nหนังสือถูกเก็บเข้ารหัสไว้ในพื้นที่กักกัน "
        "กรุณานำเข้าใบรับรองที่ใช้ได้ (saraban-gateway keys import-registrar) ระบบจะส่งให้อัตโนมัติ",
        "A classified letter for {unit} (receive no. {receive_no}, book {book}, queue id {queue_id}) "
        "cannot be delivered to its secret registrar: {problem}.\nIt is kept encrypted in quarantine. "
        "Import a usable certificate (saraban-gateway keys import-registrar); delivery resumes by itself.",
    ),
    "parked": (
        "ระบบตรวจหนังสือถึง {units} (รหัสคิว {queue_id}) ไม่สำเร็จ {attempts} ครั้ง ({problem}) "
        "จึงพักไว้โดยเข้ารหัส ยังไม่ได้ลงทะเบียน ผู้ส่งได้รับแจ้งว่าส่งถึงแล้ว\nรายการอยู่ในหนังสือที่กักไว้ "
        "กรุณาแจ้งผู้ดูแลระบบ เมื่อแก้ไขแล้วกด \"ตรวจซ้ำ\" (saraban-gateway reprocess {queue_id})",
        "The gateway failed {attempts} times to process a letter for {units} (queue id {queue_id}; "
        "{problem}) and parked it, sealed; it is not registered, and its sender was told it arrived.\n"
        "It is listed among the held letters. Tell the administrator; once fixed, reprocess it "
        "(saraban-gateway reprocess {queue_id}).",
    ),
    "top_secret": (
        "มีหนังสือที่ระบุชั้นความลับ \"ลับที่สุด\" ส่งมาทางอีเมลถึง {unit} จาก {sender} (รหัสคิว {queue_id}) "
        "ซึ่งระเบียบห้ามส่งทางอิเล็กทรอนิกส์\nระบบไม่ได้ลงทะเบียน เก็บข้อความทั้งฉบับเข้ารหัสไว้ในพื้นที่กักกัน "
        "และแจ้งผู้ส่งให้ส่งเป็นเอกสารกระดาษแล้ว",
        "A letter marked ลับที่สุด (top secret) arrived by e-mail for {unit} from {sender} "
        "(queue id {queue_id}); the regulation forbids sending it electronically.\nIt was not "
        "registered: the whole message is kept encrypted in quarantine and the sender is told "
        "to send it on paper.",
    ),
}


_CLASSIFIED_SUBJECT = "[แจ้งเตือน หนังสือลับ / classified alert]"
# A parked letter need not be classified: its alert must not say it is.
_ALERT_SUBJECT = {"parked": "[แจ้งเตือน หนังสือที่ระบบตรวจไม่สำเร็จ / letter not processed]"}


def alert_message_id(queue_id: str, name_unit: str, domain: str) -> str:
    """One Message-ID an alert keeps at every attempt. A retry after an attempt whose
    answer was lost looks for the alert by it in the account's other folders too (imap.py:
    the registrar may have moved it on); a fresh one each attempt filed it again there
    (session 35's red team)."""
    left = re.sub(r"\.{2,}", ".", re.sub(r"[^A-Za-z0-9._-]+", "-", f"{queue_id}.{name_unit}")).strip(".-")
    return f"<{left}@{domain}>"


def deliver_alert(services: Services, item: OutboxItem) -> None:
    """File an alert (no letter content: ids, unit, sender address, the reason) into the
    central unit's alert folder or to the unit's secret registrar. A registrar's alert
    goes where the registrar's sealed copies go (route.py: their Maildir `{folder}.secret`,
    their IMAP folder and account, their SMTP addresses): on the gateway host's Maildir
    the registrar of a unit on IMAP never saw it. The central unit's alert folder is
    the gateway host's Maildir."""
    from gateway.secrecy.keys import seal_address

    payload = dict(item.payload or {})
    reason = payload.get("reason", "")
    th, en = _ALERT_TEXT.get(reason, ("แจ้งเตือนเรื่องหนังสือชั้นความลับ ({reason}) รหัสคิว {queue_id}",
                                      "classified letter alert ({reason}), queue id {queue_id}"))
    values = {"unit": item.unit, "queue_id": item.queue_id, "receive_no": "-", "book": "-",
              "problem": "", "sender": "", "reason": reason, "units": item.unit, "attempts": "?", **payload}
    # A unit gone from the directory has no registrar to read it (and no folder to be
    # sure of): its alert goes to the central unit, which reads them, naming the unit.
    central = payload.get("to") == "central" or services.directory.lookup(item.unit) is None
    folder = services.settings.secrecy.alert_folder if central else secret_folder(services, item.unit)
    # One name per alert: the file name on Maildir, X-Saraban-Unit on IMAP, by which a
    # retry finds the alert filed (never the registrar copy of the same letter).
    name_unit = f"{item.unit}.{reason}.{payload.get('to', 'registrar')}-alert" + (
        f".{int(payload['occasion'])}" if payload.get("occasion") else "")  # a second parking's alert
    domain = services.settings.gateway.domain
    msg = EmailMessage()
    msg["From"] = seal_address(services.settings)
    msg["To"] = f"{item.unit}@{domain}"
    msg["Subject"] = f"{_ALERT_SUBJECT.get(reason, _CLASSIFIED_SUBJECT)} {reason} {item.unit}"
    msg["Date"] = format_datetime(dt.datetime.now(dt.timezone.utc))
    msg["Message-ID"] = alert_message_id(item.queue_id, name_unit, domain)
    msg["X-Saraban-Alert"] = reason
    msg["X-Saraban-Queue-Id"] = item.queue_id
    msg["X-Saraban-Unit"] = name_unit
    seal_name, seal_value = alert_seal_header(services.settings.data_dir, name_unit, item.queue_id)
    msg[seal_name] = seal_value
    msg.set_content(th.format(**values) + "\n\n" + en.format(**values) + "\n")
    data = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    where = Destination("maildir", maildir_folder=folder)
    if not central:
        unit = services.directory.lookup(item.unit)
        try:
            where = destination(services.settings, item.unit, unit.folder if unit else item.unit,
                                registrar=True, maildir_folder=folder)
        except RegistrarRouteMissing:
            pass  # an SMTP unit with no registrar address (its sealed copies wait too): kept on the gateway host
    went = transport(services, item, where, item.queue_id, name_unit, data, name_unit=name_unit)
    log.warning("classified_alert_filed", queue_id=item.queue_id, unit=item.unit, reason=reason,
                to=payload.get("to"), file=message_name(item.queue_id, name_unit), **went)
