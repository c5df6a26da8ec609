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
