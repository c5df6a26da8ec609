"""What an operator must fix before senders are answered and every letter reaches
its reader: said the same way in `status`, `/healthz`, `check-config` and the log at
start-up, so whichever the sysadmin looks at first tells them.

Warnings, not failures: a gateway without a smarthost still receives, registers and
files every letter; only the answers to senders wait (held, `notices release`)."""
from __future__ import annotations

from gateway.config.settings import Settings

NO_SMARTHOST = ("notices are held: no smarthost is configured ([notices] smarthost or SARABAN_SMARTHOST), "
                "so senders get no acknowledgement or rejection; set one, then run `saraban-gateway notices release`")


def notice_warnings(settings: Settings) -> list[str]:
    if settings.notices.enabled and not settings.notices.smarthost:
        return [NO_SMARTHOST]
    return []


def ocr_warnings() -> list[str]:
    """No OCR for the secrecy stamp on scanned pages (gateway/pipeline/scanned_pages.py)."""
    from gateway.pipeline.scanned_pages import ocr_missing

    missing = ocr_missing()
    if missing is None:
        return []
    return [f"no {missing} on this machine: the secrecy stamp on scanned pages cannot be read, so every "
            "scanned letter is sealed as ลับ (uncertain); install the Debian packages tesseract-ocr "
            "tesseract-ocr-tha"]


def registrar_gaps(settings: Settings, classified_units: list[str]) -> list[str]:
    """Units with classified letters and no usable registrar certificate."""
    from gateway.secrecy.keys import KeyStore

    store = KeyStore.for_data_dir(settings.data_dir)
    return [unit for unit in classified_units if not store.registrar_certs(unit)]


def registrar_warning(missing: list[str]) -> list[str]:
    if not missing:
        return []
    return [f"{len(missing)} unit(s) with classified mail have no registrar certificate "
            f"({', '.join(missing[:10])}{', ...' if len(missing) > 10 else ''}): their ลับ/ลับมาก letters "
            "cannot be delivered; import one with `saraban-gateway keys import-registrar`"]


def waiting_warnings(db) -> list[str]:  # noqa: ANN001 - storage.db.Database
    """What waits on a server that failed it, in the words of `status`: the notices on
    the smarthost, the letters' copies on a unit's IMAP server or relay, a pulled
    mailbox not connected since its last error. For /healthz, so that a monitor shows
    which dependency is stuck, not only that the gateway itself is up."""
    from gateway.delivery.error_texts import error_for_person
    from storage.counts import imap_mailboxes, retrying
    from storage.outbox import LETTER_COPIES

    out: list[str] = []
    with db.read_session() as session:
        notice = retrying(session, "notice")
        copies = {kind: found for kind in sorted(LETTER_COPIES) if (found := retrying(session, kind))}
        mailboxes = imap_mailboxes(session)
    if notice:
        out.append(f"notices to senders wait ({notice['items']} item(s), attempt {notice['attempts']}): "
                   f"{error_for_person(notice['last_error'])}")
    for kind, found in copies.items():
        out.append(f"{kind} copies wait ({found['items']} item(s); the oldest for {found['unit']}, attempt "
                   f"{found['attempts']}): {error_for_person(found['last_error'])}")
    for mailbox, info in sorted(mailboxes.items()):
        if info.get("last_error") and not (info.get("connected_at") and info["connected_at"] > info["last_error_at"]):
            out.append(f"IMAP intake {mailbox} is not connected: {info['last_error']}")
    return out
