"""One letter's sender, checked: SPF + DKIM + ARC -> DMARC -> `SenderAuth`.

Used at three places: SMTP intake at the end of DATA (in a thread pool with a
deadline, `IntakeChecker`), the pipeline when intake had no answer from DNS or the
letter came over IMAP (`settle`), and `saraban-gateway rules check --dns`."""
from __future__ import annotations

import asyncio
import concurrent.futures
import re
import time
from typing import TYPE_CHECKING

import authres
import structlog

from gateway.sender import dmarc
from gateway.sender.dkim import verify_arc, verify_dkim
from gateway.sender.dns import DnsTemporary, Resolver
from gateway.sender.results import SenderAuth
from gateway.sender.settings import SenderSection
from gateway.sender.spf import check_spf, peer_ip

if TYPE_CHECKING:
    from gateway.spool import SpoolEntry

log = structlog.get_logger("gateway.sender")


def check_message(raw: bytes, resolver: Resolver, settings: SenderSection, ip: str | None = None,
                  mail_from: str = "", helo: str | None = None,
                  upstream_spf: tuple[str, str | None] | None = None) -> SenderAuth:
    """`upstream_spf`: (result, domain) from a trusted Authentication-Results (IMAP);
    then no SPF is evaluated here (the connecting IP is the mail server's)."""
    auth = SenderAuth()
    domains = dmarc.from_domains(raw)
    if upstream_spf is not None:
        auth.spf, auth.spf_domain = upstream_spf
        auth.spf_source = "upstream"
    elif ip:
        auth.spf, auth.spf_domain, _ = check_spf(resolver, ip, mail_from, helo)
    else:
        auth.spf_source = "none"
        auth.spf_domain = mail_from.rpartition("@")[2].lower() or None
    auth.dkim = verify_dkim(raw, resolver)
    arc = verify_arc(raw, resolver)
    auth.arc, auth.arc_sealer = arc.result, arc.sealer
    if not domains:
        auth.reason = "no usable From address"
        auth.dmarc = "permerror"
        return auth.stamp()
    from_domain = auth.from_domain = domains[0]
    record = None
    record_temporary = False
    try:
        record = dmarc.lookup(resolver, from_domain)
    except DnsTemporary:
        record_temporary = True
    if record is not None:
        auth.dmarc_policy, auth.dmarc_domain = record.policy, record.domain
    adkim = record.adkim if record else "r"
    aspf = record.aspf if record else "r"
    for sig in auth.dkim:
        sig.aligned = sig.result == "pass" and dmarc.aligned(sig.domain, from_domain, adkim)
    spf_aligned = auth.spf == "pass" and dmarc.aligned(auth.spf_domain, from_domain, aspf)
    aligned_sig = next((s for s in auth.dkim if s.aligned), None)
    if len(set(domains)) > 1:
        # Several From domains: none of them can be vouched for (RFC 7489 6.6.1).
        auth.status, auth.dmarc, auth.reason = "fail", "permerror", "several From domains"
        return auth.stamp()
    if aligned_sig or spf_aligned:
        auth.status = "pass"
        auth.aligned_domain = aligned_sig.domain if aligned_sig else auth.spf_domain
        auth.dmarc = "pass" if record else ("temperror" if record_temporary else "none")
        auth.reason = "aligned DKIM signature" if aligned_sig else "aligned SPF pass"
        return auth.stamp()
    temporary = (record_temporary or auth.spf == "temperror"
                 or any(s.result == "temperror" for s in auth.dkim) or arc.result == "temperror")
    if temporary:
        auth.status = auth.dmarc = "temperror"
        auth.reason = "DNS did not answer in time"
        return auth.stamp()
    if arc.result == "pass" and _trusted_arc(arc, from_domain, settings):
        auth.status, auth.arc_trusted = "pass", True
        auth.aligned_domain = from_domain
        auth.dmarc = "fail" if record else "none"
        auth.reason = f"DMARC passed before the trusted forwarder {arc.sealer} (ARC)"
        return auth.stamp()
    if record is not None:
        auth.status, auth.dmarc = "fail", "fail"
        auth.reason = "no aligned DKIM signature or SPF pass"
    else:
        auth.status, auth.dmarc = "none", "none"
        auth.reason = "no DMARC record and no aligned authentication"
    return auth.stamp()


def _trusted_arc(arc, from_domain: str, settings: SenderSection) -> bool:
    """A trusted sealer's chain whose first hop saw DMARC pass for this From domain."""
    trusted = {d.lower().rstrip(".") for d in settings.trusted_arc_sealers}
    if not arc.sealer or arc.sealer not in trusted or not arc.first_results:
        return False
    try:
        parsed = authres.all_features().parse_value(arc.first_results)
    except Exception:
        return False
    for result in parsed.results:
        if result.method == "dmarc" and result.result == "pass":
            header_from = (getattr(result, "header_from", None) or "").lower().rstrip(".")
            if header_from in ("", from_domain):
                return True
    return False


def trusted_upstream_spf(raw: bytes, authserv_ids: list[str]) -> tuple[str, str | None] | None:
    """SPF as the upstream mail server recorded it, from its own Authentication-Results
    only (RFC 8601 5: results of any other authserv-id may be forged by the sender)."""
    wanted = {a.lower() for a in authserv_ids}
    if not wanted:
        return None
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    unfolded = re.sub(rb"\r?\n[ \t]+", b" ", head)
    for line in unfolded.splitlines():  # topmost first: the newest hop
        name, _, value = line.partition(b":")
        if name.strip().lower() != b"authentication-results":
            continue
        try:
            parsed = authres.all_features().parse_value(value.decode("utf-8", "replace").strip())
        except Exception:
            continue
        if (parsed.authserv_id or "").lower() not in wanted:
            continue
        for result in parsed.results:
            if result.method == "spf":
                mailfrom = getattr(result, "smtp_mailfrom", None) or ""
                domain = mailfrom.rpartition("@")[2].lower() or None
                return str(result.result).lower(), domain
        return None
    return None


class IntakeChecker:
    """The check at the end of DATA, in its own threads so that DNS never holds the
    event loop; past `check_deadline` the answer is temperror and the letter is
    accepted (the pipeline checks it again)."""

    def __init__(self, resolver: Resolver, settings: SenderSection):
        self.resolver = resolver
        self.settings = settings
        self.pool = concurrent.futures.ThreadPoolExecutor(settings.intake_workers,
                                                          thread_name_prefix="sender-check")

    async def check(self, raw: bytes, ip: str | None, mail_from: str, helo: str | None) -> SenderAuth:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.pool, check_message, raw, self.resolver, self.settings,
                                      ip, mail_from, helo)
        try:
            return await asyncio.wait_for(future, self.settings.check_deadline)
        except asyncio.TimeoutError:
            log.warning("sender_check_deadline", seconds=self.settings.check_deadline)
            return SenderAuth(status="temperror", dmarc="temperror",
                              reason="the check did not finish before the deadline").stamp()
        except Exception as exc:  # a library tripping over hostile input: no verdict
            log.error("sender_check_failed", error=f"{type(exc).__name__}: {exc}")
            return SenderAuth(status="temperror", dmarc="temperror",
                              reason=f"check failed ({type(exc).__name__})").stamp()

    def refuse_at_data(self, auth: SenderAuth) -> bool:
        """The domain's own p=reject, honoured when configured, on a definite fail."""
        return (self.settings.reject_at_data and auth.status == "fail" and auth.dmarc == "fail"
                and auth.dmarc_policy == "reject")

    def close(self) -> None:
        # Checks already queued still run: a session awaiting one gets its answer.
        self.pool.shutdown(wait=False)


class PipelineChecker:
    """In a pipeline runner: use intake's verdict, or check (again) when there is none
    or DNS failed; a letter whose DNS keeps failing waits, within `recheck_for`."""

    WAIT = None

    def __init__(self, resolver: Resolver, settings: SenderSection):
        self.resolver = resolver
        self.settings = settings
        self._next_try: dict[str, float] = {}

    def deferred(self, queue_id: str) -> bool:
        """True while a waiting letter's next check is not due (the runner skips it)."""
        due = self._next_try.get(queue_id)
        return due is not None and time.monotonic() < due

    def settle(self, entry: "SpoolEntry") -> SenderAuth | None:
        """The verdict to register with, or None: wait and come back."""
        auth = SenderAuth.from_dict(entry.auth)
        if auth is not None and auth.status != "temperror":
            self._next_try.pop(entry.queue_id, None)
            return auth
        upstream = None
        ip = peer_ip(entry.peer)
        if entry.peer and ";" in entry.peer:  # IMAP intake: the mailbox, not an IP
            upstream = trusted_upstream_spf(entry.raw, self.settings.upstream_authserv_ids)
        try:
            auth = check_message(entry.raw, self.resolver, self.settings, ip, entry.mail_from,
                                 entry.helo, upstream_spf=upstream)
        except Exception as exc:
            log.error("sender_check_failed", error=f"{type(exc).__name__}: {exc}")
            auth = SenderAuth(status="temperror", dmarc="temperror",
                              reason=f"check failed ({type(exc).__name__})").stamp()
        if auth.status != "temperror":
            self._next_try.pop(entry.queue_id, None)
            return auth
        import datetime as dt

        waited = (dt.datetime.now(dt.timezone.utc) - entry.received_at).total_seconds()
        if waited < self.settings.recheck_for:
            self._next_try[entry.queue_id] = time.monotonic() + self.settings.recheck_every
            log.info("sender_check_waiting", reason=auth.reason, waited=round(waited, 1),
                     recheck_in=self.settings.recheck_every)
            return self.WAIT
        self._next_try.pop(entry.queue_id, None)
        log.warning("sender_check_gave_up", reason=auth.reason, waited=round(waited, 1))
        return auth


def intake_checker(settings) -> IntakeChecker | None:
    if not settings.sender.enabled:
        return None
    return IntakeChecker(Resolver.from_settings(settings.dns), settings.sender)


def pipeline_checker(settings) -> PipelineChecker | None:
    if not settings.sender.enabled:
        return None
    return PipelineChecker(Resolver.from_settings(settings.dns), settings.sender)
