"""One letter's sender, checked: SPF + DKIM + ARC -> DMARC -> `SenderAuth`.

Used at three places: SMTP intake at the end of DATA (in a thread pool with a
deadline, `IntakeChecker`), the pipeline when intake had no answer from DNS or the
letter came over IMAP (`settle`), and `saraban-gateway rules check --dns`."""
from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import re
import time
from typing import TYPE_CHECKING

import authres
import structlog

from gateway.sender import dmarc
from gateway.sender.dkim import verify_arc, verify_dkim
from gateway.sender.dns import DnsTemporary, Resolver
from gateway.sender.results import (CHECK_FAILED, NO_SUCH_DOMAIN, SenderAuth, refused_signature,
                                    results_authserv_id)
from rules.thai_time import now_utc
from gateway.sender.spf import check_spf, peer_ip, spf_identity

if TYPE_CHECKING:
    from gateway.sender.settings import SenderSection
    from gateway.spool import SpoolEntry

log = structlog.get_logger("gateway.sender")

DNS_SILENT = "DNS did not answer in time"  # the reason of a temperror whose DNS did not answer


def check_message(raw: bytes, resolver: Resolver, settings: SenderSection, ip: str | None = None,
                  mail_from: str = "", helo: str | None = None,
                  upstream_spf: tuple[str, str | None] | None = None,
                  deadline: float | None = None) -> SenderAuth:
    """`upstream_spf`: (result, domain) from a trusted Authentication-Results (IMAP);
    then no SPF is evaluated here (the connecting IP is the mail server's).
    `deadline` (time.monotonic()): no DNS query runs past it; what was not answered by
    then is temperror, as a query that timed out."""
    if deadline is not None:
        resolver = resolver.until(deadline)
    auth = SenderAuth()
    author = dmarc.author(raw, mail_from)
    from_domain = author.domain
    record = None
    record_temporary = False
    exists: bool | None = True
    if from_domain is not None:
        # First, before the keys and SPF records the sender chose: what decides the
        # verdict is asked while the deadline is still far (session 39).
        try:
            record = dmarc.lookup(resolver, from_domain)
        except DnsTemporary:
            record_temporary = True
        if record is None and not record_temporary:
            exists = _exists(resolver, from_domain)
    if upstream_spf is not None:
        auth.spf, auth.spf_domain = upstream_spf
        auth.spf_source = "upstream"
    elif ip:
        auth.spf, auth.spf_domain, _ = check_spf(resolver, ip, mail_from, helo)
    else:
        auth.spf_source = "none"
        auth.spf_domain = spf_identity(mail_from, helo)
    auth.dkim = verify_dkim(raw, resolver, from_domain)
    arc = verify_arc(raw, resolver)
    auth.arc, auth.arc_sealer = arc.result, arc.sealer
    if author.domain is None:
        # Not exactly one mailbox DMARC can judge, or not the one the register shows:
        # nothing can be vouched for (RFC 7489 6.6.1); it is a fail, never "none".
        auth.claimed_domains = author.claimed
        auth.from_domain = _shown_domain(author, settings)
        auth.status, auth.dmarc = "fail", "permerror"
        auth.reason = f"unusable From: {author.problem}"
        return auth.stamp()
    auth.from_domain = from_domain
    if record is not None:
        auth.dmarc_policy, auth.dmarc_domain, auth.dmarc_pct = record.policy, record.domain, record.pct
    adkim = record.adkim if record else "r"
    aspf = record.aspf if record else "r"
    for sig in auth.dkim:
        sig.aligned = sig.result == "pass" and dmarc.aligned(sig.domain, from_domain, adkim)
    spf_aligned = auth.spf == "pass" and dmarc.aligned(auth.spf_domain, from_domain, aspf)
    aligned_sig = next((s for s in auth.dkim if s.aligned), None)
    repeated = dmarc.duplicated(raw)
    if repeated:
        # Which Subject, Date or Content-Type a reader shows is up to the reader; the
        # signature may cover the other one.
        auth.status, auth.dmarc = "fail", "permerror"
        auth.reason = "duplicated header fields: " + ", ".join(repeated)
        return auth.stamp()
    if dmarc.bare_cr(raw):
        auth.status, auth.dmarc = "fail", "permerror"
        auth.reason = dmarc.BARE_CR
        return auth.stamp()
    if aligned_sig or spf_aligned:
        auth.status = "pass"
        auth.aligned_domain = aligned_sig.domain if aligned_sig else auth.spf_domain
        auth.dmarc = "pass" if record else ("temperror" if record_temporary else "none")
        auth.reason = "aligned DKIM signature" if aligned_sig else "aligned SPF pass"
        return auth.stamp()
    if _temporary(auth, arc, from_domain, record_temporary, settings):
        auth.status = auth.dmarc = "temperror"
        auth.reason = DNS_SILENT
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
    elif exists is None:
        # Whether the domain exists decides between none and fail: it waits (session 39).
        auth.status = auth.dmarc = "temperror"
        auth.reason = DNS_SILENT
        return auth.stamp()
    elif not exists:
        # No agency sends from a name that does not exist: until session 39 such a
        # From (saraban@moi-official.go.th, NXDOMAIN) was "none", registered as that
        # agency's letter, and the clerk read that it should set up DMARC. DMARCbis
        # (np=) and most MTAs refuse it; here it is a fail like any other.
        auth.status, auth.dmarc = "fail", "fail"
        auth.reason = NO_SUCH_DOMAIN
    else:
        auth.status, auth.dmarc = "none", "none"
        auth.reason = "no DMARC record and no aligned authentication"
        auth.from_spf = _spf_published(resolver, from_domain)
    if arc.result == "pass" and arc.note:
        auth.reason = f"ARC seal of {arc.sealer} not counted: {arc.note}"
    refused = refused_signature(auth)
    if refused is not None:
        # The From's own signer did sign: what a person must know is why that does not count.
        auth.reason = f"DKIM signature of {refused.domain} not counted: {refused.note}"
    return auth.stamp()


def _exists(resolver: Resolver, from_domain: str) -> bool | None:
    """False when DNS says the From domain does not exist (NXDOMAIN), None when it did
    not answer. Its organisational domain needs no question of its own: a name under
    one that does not exist does not exist either (RFC 8020)."""
    try:
        return resolver.exists(from_domain)
    except DnsTemporary:
        return None
    except Exception:  # noqa: BLE001 - a name that cannot be asked: the From was read as one
        return True


def _spf_published(resolver: Resolver, from_domain: str) -> str:
    """"published" if the From's domain or its organisational domain has a "v=spf1"
    record, "none" if neither has, "unknown" if DNS did not say: a domain that names its
    mail servers has said who may send for it, and a letter that none of them sent (no
    aligned SPF pass) is not answered at it (session 36: `MAIL FROM:<x@bounce.victim.example>`,
    a name without SPF, with `From: ceo@victim.example`, whose SPF is `-all`, got the
    acknowledgement, its subject the forger's)."""
    names = dict.fromkeys([from_domain, dmarc.org_domain(from_domain)])
    for name in names:
        try:
            records = resolver.txt(name)
        except DnsTemporary:
            return "unknown"
        except Exception:  # noqa: BLE001 - NXDOMAIN, no answer, a malformed name: no record there
            continue
        if any(r.strip().lower().startswith(b"v=spf1") for r in records):
            return "published"
    return "none"


def _shown_domain(author: dmarc.Author, settings: SenderSection) -> str | None:
    """The domain an unusable From is shown (and judged) under: one the letter claims
    that is protected, else the first it claims."""
    protected = [d for d in author.claimed if settings.protected(d)]
    return (protected or author.claimed or [None])[0]


def _org(domain: str | None) -> str | None:
    if not domain:
        return None
    try:
        return dmarc.org_domain(domain)
    except Exception:
        return None


def _temporary(auth: SenderAuth, arc, from_domain: str, record_temporary: bool,
               settings: SenderSection) -> bool:
    """A DNS failure makes the verdict wait only if its answer could change it: the
    DMARC record itself, or an identifier of the From's own organization (anything
    else can never align, and a forger chooses it to make the letter wait and then be
    registered). A trusted sealer's ARC chain is one only when the sealer's own results
    say DMARC passed for this From: otherwise no answer makes the seal vouch, and a
    forger's own older ARC set with a key that never answers, passed on by the trusted
    forwarder that honestly recorded dmarc=fail, made a forged ministry letter wait and
    then be registered "ไม่มีข้อมูล" instead of held (session 20)."""
    if record_temporary:
        return True
    org = _org(from_domain)
    if auth.spf == "temperror" and _org(auth.spf_domain) == org:
        return True
    if any(s.result == "temperror" and _org(s.domain) == org for s in auth.dkim):
        return True
    return arc.result == "temperror" and _trusted_arc(arc, from_domain, settings)


def _trusted_arc(arc, from_domain: str, settings: SenderSection) -> bool:
    """A trusted sealer that itself recorded DMARC pass for this very From domain, in
    the ARC-Authentication-Results of its own instance (the newest, which its seal
    signs); what earlier hops wrote is only what they claimed."""
    trusted = {d.lower().rstrip(".") for d in settings.trusted_arc_sealers}
    if not arc.sealer or arc.sealer not in trusted or not arc.sealer_results or arc.note:
        return False
    try:
        parsed = authres.all_features().parse_value(arc.sealer_results)
    except Exception:
        return False
    for result in parsed.results:
        if result.method == "dmarc" and result.result == "pass":
            header_from = (getattr(result, "header_from", None) or "").lower().rstrip(".")
            if header_from and header_from == from_domain:
                return True
    return False


def trusted_upstream_spf(raw: bytes, authserv_ids: list[str]) -> tuple[str, str | None] | None:
    """SPF as the upstream mail server recorded it, from its own Authentication-Results
    only (RFC 8601 5: results of any other authserv-id may be forged by the sender).
    The server adds one such header to a letter; if the letter carries more than one
    in its name, the sender wrote the others, above or below it (not every server puts
    its own on top), and none is believed. One that cannot be read is no SPF either."""
    wanted = {a.lower().rstrip(".") for a in authserv_ids}
    if not wanted:
        return None
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    unfolded = re.sub(rb"(\r\n|\n|\r)[ \t]+", b" ", head)
    ours = []
    for line in re.split(rb"\r\n|\n|\r", unfolded):
        name, _, value = line.partition(b":")
        if name.strip().lower() != b"authentication-results":
            continue
        text = value.decode("utf-8", "replace").strip()
        serv_id = results_authserv_id(text)
        if serv_id is not None and serv_id in wanted:
            ours.append((serv_id, text))
    if len(ours) != 1:
        if ours:
            log.warning("upstream_results_ambiguous", count=len(ours))
        return None
    serv_id, text = ours[0]
    try:
        parsed = authres.all_features().parse_value(text)
    except Exception:
        return None
    if (parsed.authserv_id or "").lower().rstrip(".") != serv_id:
        return None
    for result in parsed.results:
        if result.method == "spf":
            mailfrom = getattr(result, "smtp_mailfrom", None) or ""
            domain = mailfrom.rpartition("@")[2].lower()
            domain = (dmarc.thai_a_labels(domain) or domain) or None
            return str(result.result).lower(), domain
    return None




def _author_domain(raw: bytes) -> str | None:
    try:
        return dmarc.author(raw).domain
    except Exception:  # noqa: BLE001 - the From is what may have tripped the check
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
        # The same deadline inside: a check past it stops asking DNS and frees its thread
        # (eight silent signers held one ~26 s, four of them the whole pool: session 39).
        deadline = time.monotonic() + self.settings.check_deadline
        future = loop.run_in_executor(self.pool, functools.partial(
            check_message, raw, self.resolver, self.settings, ip, mail_from, helo, deadline=deadline))
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
        """The domain's own p=reject, honoured when configured, on a definite fail, for
        all its failing mail (pct=100, the default): with a smaller pct= the domain asks
        that the rest be quarantined (RFC 7489 6.6.4), and until session 39 its failing
        letters were refused all the same (policy.py holds them instead)."""
        return (self.settings.reject_at_data and auth.status == "fail" and auth.dmarc == "fail"
                and auth.dmarc_policy == "reject" and auth.dmarc_pct in (None, 100))

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
        self._first_wait: dict[str, float] = {}  # queue id -> monotonic time of its first wait
        # (start, seconds spent): the re-checks of letters that already waited share
        # `check_deadline` seconds per window (`_may_recheck`).
        self._window = (float("-inf"), 0.0)
        self._turn: set[str] = set()  # postponed in the last window: checked first in this one
        self._next_turn: set[str] = set()  # postponed in this window

    def _window_length(self) -> float:
        return max(self.settings.recheck_every, 2 * self.settings.check_deadline)

    def _may_recheck(self, queue_id: str) -> bool:
        """Whether a letter that already waited on DNS may be checked again now. The runner
        registers nothing else while it checks, and each check of a letter whose DNS never
        answers takes up to `check_deadline`: a forger's letters naming domains whose
        nameservers never answer, re-checked one after another every `recheck_every`
        for `recheck_for`, delayed every genuine letter behind all of them (thirty such
        letters: ~3 minutes for each genuine letter, for an hour; red team of
        7 Dec 2026). Together they now take at most `check_deadline` per window of
        `recheck_every` (at least twice `check_deadline`); the rest wait for the next,
        where those postponed go first (else the oldest letters took every window)."""
        start, spent = self._window
        now = time.monotonic()
        if now - start >= self._window_length():
            self._window, spent = (now, 0.0), 0.0
            self._turn, self._next_turn = self._next_turn, set()
        if spent >= self.settings.check_deadline or (self._turn and queue_id not in self._turn):
            return False
        self._turn.discard(queue_id)
        return True

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
        # A letter whose own DNS did not answer at DATA is a re-check already: were it
        # not, a burst of such letters would each take check_deadline of the runner once.
        rechecked = entry.queue_id in self._first_wait or (auth is not None and auth.reason == DNS_SILENT)
        # Past recheck_for, the last check is made whatever the window: DNS may be back.
        if rechecked and self._waited(entry) < self.settings.recheck_for and not self._may_recheck(entry.queue_id):
            return self._postponed(entry)
        upstream = None
        ip = peer_ip(entry.peer)
        if entry.peer and ";" in entry.peer:  # IMAP intake: the mailbox, not an IP
            upstream = trusted_upstream_spf(entry.raw, self.settings.upstream_authserv_ids)
        # Bounded as at DATA: the runner registers nothing else while it checks, and a
        # letter whose DNS never answers held it ~26 s on every re-check until session 39.
        # Past the deadline it is temperror and tried again later, as for any DNS failure.
        started = time.monotonic()
        deadline = started + self.settings.check_deadline
        try:
            auth = check_message(entry.raw, self.resolver, self.settings, ip, entry.mail_from,
                                 entry.helo, upstream_spf=upstream, deadline=deadline)
        except Exception as exc:  # noqa: BLE001 - whatever trips, the letter is not verified
            # DNS outages are caught inside check_message; what reaches here is the letter
            # itself tripping a library, and it trips it again on every try. Waiting it out
            # ended in "no information" and a registered letter, so a forger could buy that
            # verdict for any domain with a header that breaks a parser: it is a failure,
            # held for the central unit (policy.CHECK_FAILED).
            log.error("sender_check_failed", error=type(exc).__name__)
            auth = SenderAuth(status="fail", dmarc="permerror", from_domain=_author_domain(entry.raw),
                              reason=f"{CHECK_FAILED} ({type(exc).__name__})").stamp()
        if rechecked:
            start, spent = self._window
            self._window = (start, spent + time.monotonic() - started)
        if auth.status != "temperror":
            self._forget(entry.queue_id)
            return auth
        waited = self._waited(entry)
        if waited < self.settings.recheck_for:
            self._next_try[entry.queue_id] = time.monotonic() + self.settings.recheck_every
            log.info("sender_check_waiting", reason=auth.reason, waited=round(waited, 1),
                     recheck_in=self.settings.recheck_every)
            return self.WAIT
        self._forget(entry.queue_id)
        log.warning("sender_check_gave_up", reason=auth.reason, waited=round(waited, 1))
        return auth

    def _waited(self, entry: "SpoolEntry") -> float:
        """Since its receipt (also across a restart), or since this runner first waited
        on it, whichever is longer: the wall clock alone stepped back a day (a clock a
        day fast set right) kept a letter waiting on a silent DNS a day past recheck_for."""
        first = self._first_wait.setdefault(entry.queue_id, time.monotonic())
        return max((now_utc() - entry.received_at).total_seconds(), time.monotonic() - first)

    def _postponed(self, entry: "SpoolEntry") -> None:
        """A letter that waited, not checked again in this window: it is due when the
        next window opens, and goes first in it."""
        self._next_turn.add(entry.queue_id)
        start, _ = self._window
        due = max(start + self._window_length(), time.monotonic())
        self._next_try[entry.queue_id] = due
        log.info("sender_check_postponed", waited=round(self._waited(entry), 1),
                 recheck_in=round(due - time.monotonic(), 1))
        return self.WAIT

    def _forget(self, queue_id: str) -> None:
        self._next_try.pop(queue_id, None)
        self._first_wait.pop(queue_id, None)
        self._turn.discard(queue_id)
        self._next_turn.discard(queue_id)


def intake_checker(settings) -> IntakeChecker | None:
    if not settings.sender.enabled:
        return None
    return IntakeChecker(Resolver.from_settings(settings.dns), settings.sender)


def pipeline_checker(settings) -> PipelineChecker | None:
    if not settings.sender.enabled:
        return None
    return PipelineChecker(Resolver.from_settings(settings.dns), settings.sender)
