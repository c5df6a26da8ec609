"""SMTP intake: aiosmtpd handler hooks, kept thin.

RCPT decides who we accept mail for; DATA decides whether the message may be written at
all (ลับที่สุด, top secret, may not) and then hands the bytes to the spool. Everything
else (parsing, rules, numbering) happens in the pipeline runner's own process.
"""
from __future__ import annotations

import asyncio
import inspect
import re
from email.header import decode_header, make_header
from collections.abc import Iterable
from typing import Callable

import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway.pipeline import charsets  # noqa: F401  (windows-874 alias for the subject)
from gateway.intake import replies
from gateway.intake.client_block import IPV6_PREFIX, ClientKeys
from gateway.intake.clock_guard import ClockGuard
from gateway.intake.disk_space import BelowFloor, StorageGuard, size_parameter
from gateway.intake.log_rate import LogRate
from gateway.units.directory import POSTMASTER, Directory, is_postmaster, is_saraban_address
from gateway.intake.smtp_protocol import ClientNoise, ConnectionLimits, SarabanSMTP, names_for_aiosmtpd
from gateway.intake.tls import TlsContexts, session_tls
from gateway.service.crashpoints import crashpoint
from gateway.spool import Spool, SpoolDraft
from gateway.secrecy.markings import (DATA_CHECK_QUEUE_TIMEOUT, DATA_CHECKS_PER_IP, MAX_HEADER_SIZE,
                                      PART_HEADERS_TOO_LARGE, TOO_MANY_LINES, DataCheck, DataCheckBusy,
                                      header_end)
from gateway.pipeline.parse_limits import MAX_PART_HEADERS, MEAN_LINE_FLOOR, MIN_LINE_LIMIT

log = structlog.get_logger("gateway.intake")

_HEAD_LIMIT = 262144 + 4  # the header block read at DATA (see _headers)


# Refused RCPTs logged: 10 lines a second on average, 100 at once; the others are
# counted (saraban_rejected_total, and `not_logged` in the next line). Nothing else bounds
# them (max_recipients counts accepted ones): one connection pipelined 1,800 a second,
# 235 bytes of log each, about 37 GB a day.
RCPT_REFUSALS_LOG_RATE = 10.0
RCPT_REFUSALS_LOG_BURST = 100.0
# A session's exception (a bug, or input a library could not take) is logged at error
# level: 1 line a second on average, 20 at once. Session 35's red team made one
# pipelining connection write 10,000 a second (5 MB) with MAIL arguments aiosmtpd's
# address parser raised on; those are now 553, but the next such input must not fill
# the disk or drown the journal either.
EXCEPTIONS_LOG_RATE = 1.0
EXCEPTIONS_LOG_BURST = 20.0


# Messages up to this size get their sender checked before the 250 (a DMARC p=reject
# can still be refused); larger ones are checked by the pipeline from the spool file.
SENDER_CHECK_AT_DATA_MAX = 8 * 1024 * 1024

_HOOKS = ("handle_", "auth_")  # what aiosmtpd reads of a handler in every session


class IntakeHandler:
    def __init__(self, spool: Spool, directory_source: Callable[[], Directory], domain: str,
                 max_recipients: int = 100, on_refused: Callable[[str, dict], None] | None = None,
                 data_check_queue_timeout: float = DATA_CHECK_QUEUE_TIMEOUT,
                 data_checks_per_ip: int = DATA_CHECKS_PER_IP, client_ipv6_prefix: int = IPV6_PREFIX,
                 client_limit_exceptions: Iterable[str] = (), max_header_size: int = MAX_HEADER_SIZE):
        self.spool = spool
        self.max_header_size = max_header_size
        self._directory = directory_source  # a callable so SIGHUP can swap the directory
        self.domain = domain.lower()
        self.max_recipients = max_recipients
        self.on_refused = on_refused or (lambda reason, info: None)
        self.on_accepted: Callable[[str, int], None] = lambda queue_id, size: None
        self.sender_check = None  # gateway/sender/check.py IntakeChecker, set by the daemon
        # The whole message read in a worker, with a deadline; a bounded wait for a worker
        # and a share of them per client IP ([smtp] data_check_queue_timeout, data_checks_per_ip).
        self.markings = DataCheck(queue_timeout=data_check_queue_timeout, per_ip=data_checks_per_ip)
        # The share counts an IPv6 client's network; a relay in the exceptions has none.
        self._client_key = ClientKeys(client_ipv6_prefix, client_limit_exceptions)
        self._busy_refusals = 0  # since the last letter checked
        self.storage_guard: StorageGuard | None = None  # free space at MAIL FROM, set by the daemon
        self._low_disk_refusals = 0  # since the last MAIL FROM taken
        self._rcpt_log = LogRate(RCPT_REFUSALS_LOG_RATE, RCPT_REFUSALS_LOG_BURST)
        self._exceptions_log = LogRate(EXCEPTIONS_LOG_RATE, EXCEPTIONS_LOG_BURST)
        # aiosmtpd's unknown-command warnings and failed handshakes, throttled and counted
        # (the daemon puts it on aiosmtpd's logger; see smtp_protocol.ClientNoise).
        self.client_noise = ClientNoise(lambda reason: self.on_refused(reason, {}))
        self.clock_guard: ClockGuard | None = None  # the host's clock in a year already past, set by the daemon

    def __dir__(self) -> list[str]:
        """The hooks and AUTH mechanisms aiosmtpd looks for in every session (see
        `names_for_aiosmtpd`)."""
        return names_for_aiosmtpd(self, _HOOKS)

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str,
                          responses: list[str]) -> list[str]:
        """Say what the session already does: PIPELINING (RFC 2920: aiosmtpd reads
        commands in order, whatever arrived with them; a sending MTA then saves a round
        trip per command) and ENHANCEDSTATUSCODES (RFC 2034: every reply carries one,
        "550 5.7.1 ..."), which it did without saying so."""
        session.host_name = hostname  # aiosmtpd leaves it to a handler with this hook
        *lines, last = responses
        # No AUTH: the gateway has no accounts (aiosmtpd offered LOGIN and PLAIN after
        # STARTTLS, inviting password guessing that could only ever get 535).
        lines = [line for line in lines if not line[4:].upper().startswith("AUTH")]
        return [*lines, "250-PIPELINING", "250-ENHANCEDSTATUSCODES", last]

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        if _needs_smtputf8(address, envelope):
            self.on_refused("smtputf8_required", {})
            return replies.ADDRESS_NEEDS_SMTPUTF8
        size = size_parameter(mail_options)
        if self.storage_guard is not None and self.storage_guard.refuses(size):
            self.on_refused("low_disk", {})
            self._low_disk_refusals += 1
            # Every sender retries while the disk stays low: the 1st refusal and every
            # 1000th are logged, all of them counted (saraban_rejected_total).
            if self._low_disk_refusals % 1000 == 1:
                log.warning("mail_refused", reason="low_disk", mail_from=address, size=size,
                            peer=_peer(session), floor=self.storage_guard.floor,
                            refused=self._low_disk_refusals)
            return replies.INSUFFICIENT_STORAGE
        self._low_disk_refusals = 0
        if self._clock_wrong():
            return replies.CLOCK_WRONG
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if _needs_smtputf8(address, envelope):
            self.on_refused("smtputf8_required", {})
            return replies.ADDRESS_NEEDS_SMTPUTF8
        recipient, reason = self._recipient(address)
        if recipient is None:
            self._rcpt_refused(session, address, reason)
            return self._refusal(reason)
        return self._add_recipient(envelope, recipient, rcpt_options)

    async def handle_VRFY(self, server: SMTP, session: Session, envelope: Envelope, address: str) -> str:
        """What RCPT TO would answer for `address`, without a transaction: aiosmtpd said
        "252 ... will accept message" to any address, also to the ones RCPT refuses (a
        misspelt unit, another domain), and whoever checked an address so was told wrong.
        The unit addresses are public (the BMA's list): nothing is given away."""
        if "@" not in address:  # a user name alone (RFC 5321 3.5.3): one of ours
            address = f"{address}@{self.domain}"
        recipient, reason = self._recipient(address)
        return replies.VRFY_TAKEN if recipient is not None else self._refusal(reason)

    def _recipient(self, address: str) -> tuple[str | None, str]:
        """The recipient `address` is taken as (a unit's address or postmaster's, as
        the directory spells it), or None and why not ("relay", "unknown_unit")."""
        local, _, domain = address.rpartition("@")
        if is_postmaster(address, self.domain):
            # RFC 5321 4.5.1: a server that delivers mail MUST take mail to the reserved
            # mailbox postmaster (any case, with our domain or none at all). Not a letter:
            # the pipeline holds it in quarantine for the operator (gateway/pipeline/dispose.py).
            return f"{POSTMASTER}@{self.domain}", ""
        # ASCII only: str.lower() maps some non-ASCII letters onto ASCII ones (the Kelvin
        # sign K to k), and `bangKok.go.th` is not our domain.
        if not local or not domain.isascii() or domain.lower() != self.domain:
            return None, "relay"
        unit = self._directory().lookup(address)
        if unit is None:
            # A saraban address misspelt ("saraban.latkrabang+urgent", a stray character)
            # is a wrong unit to its sender, not a relay attempt.
            lowered = local.lower()
            return None, "unknown_unit" if is_saraban_address(lowered) or lowered.startswith("saraban.") else "relay"
        return f"{unit.address}@{self.domain}", ""

    def _refusal(self, reason: str) -> str:
        return replies.UNKNOWN_UNIT if reason == "unknown_unit" else replies.no_relay(self.domain)

    def _add_recipient(self, envelope: Envelope, recipient: str, rcpt_options: list[str]) -> str:
        if recipient in envelope.rcpt_tos:
            # The same unit again (To: and Cc:, or another spelling): one copy, one
            # receive number. Twice in the envelope, the letter was disposed of twice:
            # held twice (the second hold failed its batch) or "duplicate of" itself.
            # Not counted against the limit either: a 452 would have the sender send it
            # again in a second transaction, a second letter to the unit.
            return "250 2.1.5 OK"
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return replies.TOO_MANY_RECIPIENTS
        envelope.rcpt_tos.append(recipient)
        envelope.rcpt_options.append(rcpt_options)
        return "250 2.1.5 OK"

    def _rcpt_refused(self, session: Session, address: str, reason: str) -> None:
        self.on_refused(reason, {})
        if (skipped := self._rcpt_log.allow()) is not None:
            log.info("rcpt_refused", rcpt=address, reason=reason, peer=_peer(session), **skipped)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        # SarabanSMTP has already written the message to a spool draft as it arrived.
        draft: SpoolDraft = envelope.spool_draft  # type: ignore[attr-defined]
        mail_from = reverse_path(envelope)
        if (size := header_past(draft, self.max_header_size)) is not None:
            # Before the check: every header line costs it (and the pipeline after it)
            # its Thai normalisation, and past the check's deadline such a letter was
            # taken as uncertain and held a runner for minutes. Not cut either: what a
            # cut would leave out may be the Subject that says ลับ.
            self.on_refused("header_too_large", {})
            log.warning("header_too_large", mail_from=mail_from, peer=_peer(session), size=draft.size,
                        header_at_least=size, limit=self.max_header_size)
            return replies.header_too_big(self.max_header_size)  # the protocol discards the draft
        # The one classification (rules/markings.py), read from the whole draft by a worker.
        try:
            marking = await self.markings.classify(draft.path, offset=draft.message_start,
                                                   reading=draft.reading_path,
                                                   client=self._client_key(_peer_ip(session)))
        except DataCheckBusy as busy:
            # Not read, so not accepted: never a letter unchecked. The sender retries.
            self.on_refused("data_check_busy", {})
            self._busy_refusals += 1
            if self._busy_refusals % 1000 == 1:  # a flood must not also flood the log
                log.warning("data_check_busy", reason=busy.reason, waited=round(busy.waited, 1),
                            mail_from=mail_from, peer=_peer(session), refused=self._busy_refusals)
            return replies.CHECK_BUSY  # the protocol discards the draft
        self._busy_refusals = 0
        if marking.where == PART_HEADERS_TOO_LARGE and not marking.certain and marking.level != "top_secret":
            # Refused whole, as a header block too large: never taken to be read by halves.
            self.on_refused("header_too_large", {})
            log.warning("part_headers_too_large", mail_from=mail_from, peer=_peer(session), size=draft.size,
                        limit=MAX_PART_HEADERS)
            return replies.part_headers_too_big(MAX_PART_HEADERS)  # the protocol discards the draft
        if marking.where == TOO_MANY_LINES and not marking.certain and marking.level != "top_secret":
            self.on_refused("too_many_lines", {})
            log.warning("too_many_lines", mail_from=mail_from, peer=_peer(session), size=draft.size)
            return replies.too_many_lines(MEAN_LINE_FLOOR, MIN_LINE_LIMIT)  # the protocol discards the draft
        if marking.level == "top_secret":
            # Nothing of the content is kept: only who, when and which Message-ID.
            message_id = _header(draft.head(_HEAD_LIMIT), "message-id")
            self.on_refused("top_secret", {"mail_from": mail_from, "message_id": message_id,
                                           "peer": _peer(session)})
            log.warning("top_secret_refused", mail_from=mail_from, peer=_peer(session),
                        message_id=message_id, rcpt=envelope.rcpt_tos, where=marking.where)
            return replies.TOP_SECRET  # the protocol discards the draft
        loop = asyncio.get_running_loop()
        auth = None
        if self.sender_check is not None and draft.size <= SENDER_CHECK_AT_DATA_MAX:
            # SPF/DKIM/ARC/DMARC in threads, bounded. DKIM hashes the whole body, so the
            # draft is read back; a larger message is checked by the pipeline instead.
            raw = await loop.run_in_executor(None, lambda: b"".join(draft.chunks()))
            verdict = await self.sender_check.check(raw, _peer_ip(session), mail_from, session.host_name)
            del raw
            if self.sender_check.refuse_at_data(verdict):
                self.on_refused("dmarc_reject", {"mail_from": mail_from, "peer": _peer(session),
                                                 "message_id": _header(draft.head(_HEAD_LIMIT), "message-id")})
                log.warning("dmarc_reject", mail_from=mail_from, from_domain=verdict.from_domain,
                            peer=_peer(session))
                return replies.DMARC_REJECT  # the protocol discards the draft
            auth = verdict.as_dict()
        if self._clock_wrong():  # stepped back since MAIL FROM: the spool would date it
            return replies.CLOCK_WRONG  # the protocol discards the draft
        begin_commit = getattr(server, "begin_commit", None)
        if begin_commit is not None:
            begin_commit()  # from here on neither the session budget nor a drain cuts it
        try:
            # fsync takes milliseconds; off the event loop so other sessions go on.
            queue_id = await loop.run_in_executor(None, draft.commit, auth)
        except OSError as exc:
            log.error("spool_write_failed", error=str(exc), errno=exc.errno, mail_from=mail_from)
            return replies.SPOOL_FAILED
        crashpoint("after_spool_commit")
        log.info("accepted", queue_id=queue_id, mail_from=mail_from, rcpt=envelope.rcpt_tos,
                 size=draft.size, peer=_peer(session), **(session_tls(session) or {"tls": "no"}))
        self.on_accepted(queue_id, draft.size)
        if self.clock_guard is not None:
            self.clock_guard.accepted()
        return replies.queued(queue_id)

    def _clock_wrong(self) -> bool:
        """The time of receipt would number the letter in a register year already past
        (gateway/intake/clock_guard.py): not taken, the sender retries."""
        if self.clock_guard is None or not self.clock_guard.wrong():
            return False
        self.on_refused("clock_wrong", {})
        return True

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd would answer "500 Error: (TypeName) text": Python for a person to read.
        # The text is cut and quoted: it may hold what the client sent.
        if (skipped := self._exceptions_log.allow()) is not None:
            log.error("smtp_session_exception", error=f"{type(error).__name__}: {ascii(str(error)[:200])}", **skipped)
        return replies.INTERNAL_ERROR

    def open_draft(self, server: SarabanSMTP) -> SpoolDraft:
        """SarabanSMTP's data_sink: the spool file DATA is written into."""
        envelope, session = server.envelope, server.session
        mail_from = reverse_path(envelope)
        draft = self.spool.draft(mail_from, list(envelope.rcpt_tos), _peer(session), session.host_name)
        if self.storage_guard is not None:
            draft.room = lambda size: self._room_for(size, session, mail_from)
        return draft

    def _room_for(self, size: int, session: Session, mail_from: str) -> BelowFloor | None:
        """The floor of MAIL FROM, kept while the message is written (`size` bytes so
        far). MAIL FROM judges a message that announces no SIZE= (or a smaller one than
        it is) by the space free then: 6 MiB uploaded over a disk 2 MiB above the floor
        were taken, and the letters already acknowledged were left 4 MiB to be
        registered in (session 50's red team); so were many clients uploading at once."""
        guard = self.storage_guard
        if guard is None or not guard.refuses(0):
            return None
        self.on_refused("low_disk", {})
        self._low_disk_refusals += 1
        if self._low_disk_refusals % 1000 == 1:
            log.warning("mail_refused", reason="low_disk", at="data", mail_from=mail_from,
                        size=size, peer=_peer(session), floor=guard.floor,
                        refused=self._low_disk_refusals)
        return BelowFloor(guard.floor)


def reverse_path(envelope: Envelope) -> str:
    """MAIL FROM's address, "" for the null reverse-path. aiosmtpd keeps `MAIL FROM:<>` as
    the text "<>" (its envelope needs a true value there); the spool and the sender check
    take "" as IMAP intake gives it: SPF then judges the HELO name (RFC 7208 2.4), where
    "<>" was read as an address without a domain and had no SPF identity at all."""
    address = (envelope.mail_from or "").strip()
    return "" if address == "<>" else address


def _needs_smtputf8(address: str, envelope: Envelope) -> bool:
    """A non-ASCII address in a transaction whose MAIL FROM did not say SMTPUTF8: RFC
    6531 3.4 has it refused (553 5.6.7). It was taken, and a UTF-8 sender address went
    into the register and into notices and replies to a client that never said it could
    take UTF-8. aiosmtpd sets `smtp_utf8` from MAIL FROM's parameters before the hooks."""
    return not address.isascii() and not getattr(envelope, "smtp_utf8", False)


def _peer_ip(session: Session) -> str | None:
    peer = session.peer
    return str(peer[0]) if isinstance(peer, tuple) and peer else None


def _peer(session: Session) -> str | None:
    peer = session.peer
    if isinstance(peer, tuple):
        return f"{peer[0]}:{peer[1]}"
    return str(peer) if peer else None


# An ordinary letter's header block ends in its first few KiB: read that much first.
_FIRST_READ = 65536


def header_past(draft: SpoolDraft, limit: int) -> int | None:
    """The size of the draft's header block (at least) when it is larger than `limit`
    bytes, else None; at most `limit` + 4 bytes of the draft are read."""
    first = min(limit + 4, _FIRST_READ)
    end = header_end(draft.head(first))
    if end is None and draft.size > first:
        end = header_end(draft.head(limit + 4))
    size = draft.size if end is None else end
    return size if size > limit else None


# A refused letter's header, found and decoded in the event loop that serves every
# session: by a regular expression over the header block, not by the email package's
# parser (every header line of up to 256 KiB of them), and only the first
# _HEADER_DECODED characters decoded: a Message-ID of 26,000 encoded words took 0.1-0.4 s
# to read, for 998 characters kept. Refusing ลับที่สุด letters so made (session 55's red
# team) held every other session: another sender's letter took 3-5 s instead of 0.1.
_HEADER_DECODED = 8192


def _header_block_of(raw: bytes) -> bytes:
    head = raw.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in raw[:65536] else raw.split(b"\n\n", 1)[0]
    return head[:262144]


def _header(raw: bytes, name: str) -> str | None:
    """A header (the Message-ID of a refused letter, for its record and the log): its
    first occurrence, unfolded as the email package reads it, at most 998 characters
    (RFC 5322's line): the record keeps no more, and a 256 KB one would be a 256 KB log
    line."""
    found = re.search(rb"(?:\A|(?<=[\r\n]))" + re.escape(name.encode("ascii"))
                      + rb":([^\r\n]*(?:(?:\r\n|\r|\n)[ \t][^\r\n]*)*)", _header_block_of(raw), re.IGNORECASE)
    if found is None:
        return None
    value = found.group(1).lstrip(b" \t")
    if len(value) > _HEADER_DECODED:
        value = value[:_HEADER_DECODED]
        # Not in the middle of an encoded word: cut, it was kept as " =?" text.
        start = value.rfind(b"=?")
        if start > 0 and value.find(b"?=", start + 2) < 0:
            value = value[:start]
    value = value.decode("ascii", "replace")
    try:
        return str(make_header(decode_header(value)))[:998] if value.strip() else None
    except Exception:  # a broken header is the pipeline's business, not intake's
        return None


# aiosmtpd asks the EHLO hook's signature in every session (4 or 5 parameters): read once.
IntakeHandler.handle_EHLO.__signature__ = inspect.signature(IntakeHandler.handle_EHLO)  # type: ignore[attr-defined]


def make_smtp_factory(handler: IntakeHandler, hostname: str, max_size: int, data_timeout: float,
                      limits: ConnectionLimits | None = None, command_timeout: float | None = None,
                      session_timeout: float | None = None, tls: TlsContexts | None = None,
                      require_tls: bool = False) -> Callable[[], SMTP]:
    def factory() -> SMTP:
        context = tls.current if tls is not None else None
        return SarabanSMTP(
            handler,
            tls_context=context,
            require_starttls=require_tls and context is not None,
            hostname=hostname,
            ident="saraban-gateway",
            data_size_limit=max_size,
            enable_SMTPUTF8=True,
            # No accounts, so none of aiosmtpd's AUTH mechanisms; with no authenticator
            # given, SarabanSMTP answers every AUTH 502 5.5.1 (smtp_protocol.py).
            auth_exclude_mechanism=("LOGIN", "PLAIN"),
            decode_data=False,
            timeout=command_timeout or data_timeout,
            data_timeout=data_timeout,
            session_timeout=session_timeout,
            limits=limits,
            noise=handler.client_noise,
            data_sink=handler.open_draft,
            # Given, not looked up: aiosmtpd's lookup sets warnings filters for it in
            # every session, which also empties every module's cache of warnings seen.
            loop=asyncio.get_running_loop(),
        )

    return factory
