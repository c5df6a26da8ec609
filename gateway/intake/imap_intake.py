"""Pull one central mailbox from the mail server into the spool, exactly once.

The life of a message (UIDVALIDITY v, UID u) in mailbox M:

1. its headers are fetched first (size, Message-ID, sender): too big -> left on the
   server with `$SarabanTooBig`; a Message-ID already taken under an older UIDVALIDITY
   -> not taken again; then its bytes and INTERNALDATE: bytes (SHA-256) already taken
   from M under an older UIDVALIDITY -> not taken again (a restored mailbox);
2. a queue id is chosen and the row (M, v, u, queue id, "spooling") is committed, in a
   transaction that also proves we still hold M's lease (fencing), so of two gateways
   only the lease holder ever records u;
3. the body is fetched and written to the spool under that queue id ("spooled"); after a
   crash between 2 and 3 it is written again under the same id, and the register's
   (queue id, unit) constraint keeps it to one registration;
4. when the Message row of that queue id is finished (registered or quarantined), the
   message is marked on the server (keyword; optionally moved) and the row is "marked".

UIDs are taken in ascending order and new mail always gets a higher UID, so "above the
highest UID recorded for (M, v)" is exactly what is new: nothing is fetched twice and
nothing is skipped. A new UIDVALIDITY starts again from UID 1, skipping what carries
our keyword and what step 1 recognises by Message-ID or by its bytes."""
from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import time
from typing import TYPE_CHECKING

import structlog
from gateway.intake.clock_guard import EARLIEST_YEAR, ClockGuard, ReceiptClock
from gateway.intake.disk_space import StorageGuard
from gateway.intake.imap_session import (FolderNameError, Headers, Hierarchy, ImapError, ImapGone, ImapRefused,
                                         ImapSession, ImapVanished, parse_internaldate)
from gateway.intake.off_loop import OffLoop
from gateway.spool import Spool, new_queue_id
from rules.thai_time import be_year, now_utc
from storage import lease
from storage import intake as taken
from storage.db import Database
from storage.errors import is_transient_storage_error
from storage.messages import get_message
from storage.register import first_register_year

if TYPE_CHECKING:
    from gateway.config.delivery import ImapIntake

log = structlog.get_logger("gateway.intake.imap_intake")

QUARANTINED_KEYWORD = "$SarabanQuarantined"
TOO_BIG_KEYWORD = "$SarabanTooBig"
UNREADABLE = "unreadable"  # imap_messages.state: the server refused to give it; retried
GONE = "gone"  # imap_messages.state: no longer in the mailbox, never registered (status lists it)
GONE_BEFORE_READ = "removed from the mailbox (by a person or another client) before the gateway read it"
SUPERSEDED = "superseded"  # imap_messages.state: never spooled, and its UIDVALIDITY is gone
SUPERSEDED_NOTE = ("the mailbox's UIDVALIDITY changed before it was written to the spool: "
                   "taken again under the new one if the mailbox still has it")
GONE_BEFORE_SPOOLED = ("removed from the mailbox after it was fetched and before it was written to the spool "
                       "(the gateway stopped, or the disk refused the write, in between): not registered")
FINISHED = ("done", "quarantined")
BATCH = 50  # headers fetched per round trip
# A mail server's clock a little behind ours: an INTERNALDATE this much before the listing
# that did not have the message yet is still believed.
INTERNALDATE_SKEW = dt.timedelta(minutes=5)
# While spooled letters wait for the register: look again after WAIT_FIRST seconds,
# twice as long each round nothing changed, at most WAIT_MOST.
WAIT_FIRST, WAIT_MOST = 0.2, 5.0
RESPONSE_SLACK = 1 << 20  # bytes of an answer beyond max_size: FETCH syntax, a batch of headers


class MailboxConsumer:
    receipt: ReceiptClock | None = None  # the fetch time as a time of receipt (clock_guard.py)

    def __init__(self, config: ImapIntake, db: Database, spool: Spool, holder: str, domain: str,
                 max_size: int, guard: StorageGuard | None = None, off_loop: OffLoop | None = None,
                 clock: ClockGuard | None = None, receipt: ReceiptClock | None = None):
        self.config = config
        # Every statement and spool write is made there, never on the event loop: a
        # database held by another program stalled every mailbox and SIGTERM (off_loop.py).
        self.off_loop = off_loop or OffLoop()
        self.db = db
        self.spool = spool
        self.holder = holder
        self.rcpt = f"{config.unit}@{domain}"
        self.max_size = config.max_size or max_size
        self.name = config.key
        self.guard = guard  # the free space SMTP's MAIL FROM also needs (gateway/intake/disk_space.py)
        self._waiting_for_disk = False
        self.clock = clock  # the host's clock in a year already past: nothing taken (clock_guard.py)
        # The fetch time as a time of receipt: never before the last one given (clock_guard.py).
        self.receipt = receipt
        self._holding = False
        self._round_done = False  # the session under way did a whole round (`run`'s backoff)
        self._processed: str | None = None  # processed_folder as the server spells it
        self._renewed = 0.0
        self._retried = 0.0  # when the unreadable messages were last tried again
        self._retry_every = 60.0  # the first wait; doubled while a message stays unreadable
        self._retry_wait = 0.0
        self._in_fetch: tuple[int, ...] | None = None  # the UIDs of the FETCH under way
        # UIDs -> (sessions in a row that ended during their FETCH, the last reason)
        self._deaths: dict[tuple[int, ...], tuple[int, str]] = {}
        # The start of the last whole listing of new messages (storage: it must outlive
        # a restart), and each listed UID not yet taken -> the start of the listing before
        # the one that found it: it reached the mailbox after that (`_received_at`).
        self._listed_at: dt.datetime | None = None
        self._listed_after: dict[int, dt.datetime | None] = {}
        self._register_began: int | None = None  # the register's first year (`_received_at`)

    @property
    def _renew_every(self) -> float:
        return self.config.lease_ttl / 3

    # -- the outer loop: lease, connect, reconnect ----------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        cfg = self.config
        backoff = 1.0
        log.info("imap_intake_started", mailbox=self.name, unit=cfg.unit)
        while not stop.is_set():
            try:
                holding = await self._take_lease()
            except Exception as exc:  # the database refused or stayed locked: no reading without the lease
                log.error("imap_lease_not_taken", mailbox=self.name, error=f"{type(exc).__name__}: {exc}",
                          retry_in=backoff)
                await _sleep(stop, backoff)
                backoff = min(backoff * 2, cfg.reconnect_max)
                continue
            if not holding:
                await _sleep(stop, self._renew_every)
                continue
            try:
                session = self._new_session()
            except (OSError, ValueError) as exc:
                # The password_file or ca_file cannot be read now (credentials rotated, a
                # permission changed): this mailbox waits. Raised from here it ended the
                # whole runner, restarted every few seconds, and every other mailbox with it.
                log.error("imap_account_unusable", mailbox=self.name, error=f"{type(exc).__name__}: {exc}",
                          retry_in=backoff)
                await self._note(taken.note_error, self._account_words(exc))
                await _sleep(stop, backoff)
                backoff = min(backoff * 2, cfg.reconnect_max)
                continue
            # The wait starts again from 1 s only once a session did a whole round: one that
            # failed every time after SELECT (a spool the disk refuses, a mailbox the account
            # may not flag) reconnected once a second, for ever (red team 7 Dec 2026).
            self._round_done = False
            try:
                await session.connect()
                # Configured with "/" between levels, as delivery's folders are: until the red
                # team of 7 Dec 2026 they went to the server as written, and on a server with
                # separator "." and prefix "INBOX." (Courier, many Dovecots) the CREATE of
                # processed_folder "Saraban/Registered" was refused at every session, before
                # any letter of the mailbox was taken.
                hierarchy = await session.hierarchy()
                self._processed = (_server_name(hierarchy, cfg.processed_folder)
                                   if cfg.processed_folder else None)
                uidvalidity = await session.select(_server_name(hierarchy, cfg.mailbox))
                log.info("imap_connected", mailbox=self.name, uidvalidity=uidvalidity,
                         idle=cfg.use_idle and session.has("IDLE"))
                await self._note(taken.note_connected)
                await self._session_loop(session, uidvalidity, stop)
            except lease.LeaseLost as exc:
                self._holding = False
                log.warning("imap_lease_lost", mailbox=self.name, error=str(exc))
                continue
            except Exception as exc:  # network, server or database: all end in a reconnect
                if self._round_done:
                    backoff = 1.0
                if isinstance(exc, ImapGone) and self._in_fetch is not None:
                    count = self._deaths.get(self._in_fetch, (0, ""))[0]
                    self._deaths[self._in_fetch] = (count + 1, f"the session ended at its FETCH: {exc}")
                level = log.warning if isinstance(exc, (ImapError, OSError)) else log.error
                level("imap_reconnect", mailbox=self.name, error=f"{type(exc).__name__}: {exc}",
                      retry_in=backoff)
                await self._note(taken.note_error, self._in_plain_words(exc))
                await session.close()
                await _sleep(stop, backoff)
                backoff = min(backoff * 2, cfg.reconnect_max)
                continue
            finally:
                self._in_fetch = None
                await session.close()
        if self._holding:
            try:
                await self._db(lease.release, self.db, self.name, self.holder)
            except Exception as exc:  # it runs out by itself after lease_ttl
                log.warning("imap_lease_not_released", mailbox=self.name, error=f"{type(exc).__name__}: {exc}")
        log.info("imap_intake_stopped", mailbox=self.name)

    def _new_session(self) -> ImapSession:
        cfg = self.config
        # A letter as big as max_size, its headers and the FETCH around it: no answer
        # of a broken or hostile server takes more memory than that.
        return ImapSession(cfg.host, cfg.port, cfg.username or cfg.unit, cfg.secret() or "",
                           tls=cfg.tls, ca_file=cfg.ca_file, verify=cfg.verify, timeout=cfg.timeout,
                           max_response=self.max_size + RESPONSE_SLACK)

    def _account_words(self, exc: Exception) -> str:
        """Why no session could even be started (an ssl.SSLError is an OSError), as `status` shows it."""
        cfg = self.config
        account = f"{cfg.username or cfg.unit} on {cfg.host}:{cfg.port}"
        if isinstance(exc, ValueError):  # config.views: "password_file <path>: <why>"
            return (f"the password of {account} cannot be read ({exc}): check password_file; "
                    "this mailbox is not read until it can be")
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
        return (f"the ca_file {cfg.ca_file} of {account} cannot be used ({reason}): "
                "this mailbox is not read until it can be")

    async def _db(self, function, *args, **kwargs):  # noqa: ANN001, ANN202 - any call of storage or the spool
        return await self.off_loop.call(functools.partial(function, *args, **kwargs))

    async def _read(self, function, *args):  # noqa: ANN001, ANN202 - a storage function of a Session
        """`function(session, *args)` in a transaction that only reads: on SQLite it does
        not wait for the write lock another program may hold."""
        return await self._db(self._read_now, function, *args)

    def _read_now(self, function, *args):  # noqa: ANN001, ANN202
        with self.db.read_session() as s:
            return function(s, *args)

    def _write_now(self, function, *args):  # noqa: ANN001, ANN202
        with self.db.session() as s:
            return function(s, *args)

    async def _note(self, what, *args) -> None:
        """Write what `status` shows about the mailbox; never let that end the session."""
        try:
            await self._db(self._write_now, what, self.name, *args)
        except Exception as exc:
            log.error("imap_status_not_recorded", mailbox=self.name, error=f"{type(exc).__name__}: {exc}")

    def _in_plain_words(self, exc: Exception) -> str:
        """The error as `status` shows it to a sysadmin, with what to check."""
        cfg = self.config
        account = f"{cfg.username or cfg.unit} on {cfg.host}:{cfg.port}"
        if isinstance(exc, ImapRefused) and str(exc).startswith("login"):
            return (f"the mail server refused the login as {account} ({exc.result} {exc.text}): "
                    "check username and password/password_file")
        if isinstance(exc, ImapRefused) and str(exc).startswith("select"):
            return f"the mailbox '{cfg.mailbox}' of {account} cannot be opened ({exc.result} {exc.text})"
        if isinstance(exc, ImapGone) and str(exc).startswith("connect"):
            return f"cannot connect to {cfg.host}:{cfg.port} ({exc}): is the server up, the port and TLS right?"
        if isinstance(exc, FolderNameError):
            return f"a folder of {account} cannot be named on that server: {exc}"
        if isinstance(exc, OSError):  # the server's are ImapGone: this is our own disk's
            where = f" ({exc.strerror}: {exc.filename})" if exc.strerror and exc.filename else f" ({exc.strerror or exc})"
            return (f"the gateway cannot write to its own disk (the spool){where}: "
                    "new messages stay in the mailbox and are taken once it can")
        if isinstance(exc, ImapError):
            return f"connection to {account} ended: {exc}"
        if is_transient_storage_error(exc):  # not the driver's words and the statement (session 18)
            return ("the database is stuck or unreachable (another program holds a lock the gateway needs, "
                    "past [storage] lock_timeout): new messages stay in the mailbox and are taken once it answers")
        return f"intake of this mailbox failed: {type(exc).__name__}: {exc}"

    async def _take_lease(self) -> bool:
        claim = await self._db(lease.acquire, self.db, self.name, self.holder, self.config.lease_ttl)
        if claim.ok and not self._holding:
            log.info("imap_lease_acquired", mailbox=self.name, holder=self.holder)
        elif not claim.ok and (self._holding or not self._renewed):
            log.info("imap_lease_held_elsewhere", mailbox=self.name, holder=claim.holder)
        self._holding = claim.ok
        self._renewed = time.monotonic()
        return claim.ok

    async def _renew(self) -> None:
        if time.monotonic() - self._renewed >= self._renew_every:
            if not await self._db(lease.renew, self.db, self.name, self.holder, self.config.lease_ttl):
                raise lease.LeaseLost(f"lease {self.name} expired or was taken over")
            self._renewed = time.monotonic()

    async def _session_loop(self, session: ImapSession, uidvalidity: int, stop: asyncio.Event) -> None:
        cfg = self.config
        await self._note_uidvalidity(uidvalidity)
        if self._processed:
            await session.create(self._processed)
        use_idle = cfg.use_idle and session.has("IDLE")
        # As often as an idle mailbox is looked at: not every 0.2 s while letters wait.
        self._retry_every = min(cfg.idle_interval if use_idle else cfg.poll_interval, self._renew_every)
        self._retry_wait = max(self._retry_wait, self._retry_every)
        pause, last_waiting, told = WAIT_FIRST, None, False
        while not stop.is_set():
            await self._renew()
            session.mail_arrived = False
            # The host's clock in a year already past would date what is taken: the
            # letters stay in the mailbox (nor is the listing's time kept) until it is right.
            taking = self.clock is None or not self.clock.wrong()
            if taking:
                await self._resume_spooling(session, uidvalidity)
                await self._take_new(session, uidvalidity)
            waiting, marked = await self._mark_finished(session, uidvalidity)
            # Last: a retry may end the session (Dovecot), never before the rest is done.
            if taking:
                await self._retry_unreadable(session, uidvalidity)
            await self._renew()
            self._round_done = True
            if session.mail_arrived:
                continue  # reported during our own commands: IDLE would not report it again
            if waiting:
                # Registration takes a moment: look again soon, then less often while the
                # same letters keep waiting (a pipeline stopped or held on one letter,
                # another gateway's spool). Every 0.2 s for ever, it was five searches on
                # the server and five committed writes a second for as long as they waited.
                progressed = marked or waiting != last_waiting
                pause = WAIT_FIRST if progressed else min(pause * 2, WAIT_MOST)
                if pause == WAIT_MOST and not progressed and not told:
                    told = True
                    log.info("imap_waiting_for_register", mailbox=self.name, letters=waiting,
                             look_again_every=WAIT_MOST)
                last_waiting = waiting
                if use_idle and pause >= 1.0:  # new mail meanwhile is taken at once
                    await _until_stop(stop, session.idle(pause))
                else:
                    await _sleep(stop, pause)
                continue
            pause, last_waiting, told = WAIT_FIRST, None, False
            wait = min(cfg.idle_interval if use_idle else cfg.poll_interval, self._renew_every)
            if use_idle:
                await _until_stop(stop, session.idle(wait))
            else:
                await _sleep(stop, wait)
                await session.noop()

    # -- UIDVALIDITY -----------------------------------------------------------------------

    async def _note_uidvalidity(self, uidvalidity: int) -> None:
        previous = await self._db(self._write_now, taken.note_uidvalidity, self.name, uidvalidity)
        if previous is not None and previous != uidvalidity:
            log.warning("imap_uidvalidity_changed", mailbox=self.name, previous=previous, now=uidvalidity,
                        action="resync from UID 1, skipping messages already taken")

    # -- taking new messages ---------------------------------------------------------------

    async def _take_new(self, session: ImapSession, uidvalidity: int) -> None:
        high = await self._read(taken.highest_uid, self.name, uidvalidity)
        if self._listed_at is None:
            self._listed_at = await self._read(taken.listed_at, self.name)
        listing = now_utc()
        found = await session.uid_search("UID", f"{high + 1}:*", "NOT", "KEYWORD", self.config.keyword,
                                         "NOT", "KEYWORD", QUARANTINED_KEYWORD, "NOT", "KEYWORD", TOO_BIG_KEYWORD)
        uids = [uid for uid in found if uid > high]  # "n:*" also matches the highest UID below n
        # Every new message was in this answer: one not in the last one arrived after it began.
        self._listed_after = {uid: self._listed_after.get(uid, self._listed_at) for uid in uids}
        self._listed_at = listing
        await self._note(taken.note_listed, listing)
        for start in range(0, len(uids), BATCH):
            for headers in await self._readable_headers(session, uidvalidity, uids[start:start + BATCH]):
                if self._disk_too_full(headers):
                    return  # the rest stays on the server, taken in a later round
                await self._take_one(session, uidvalidity, headers)

    async def _readable_headers(self, session: ImapSession, uidvalidity: int, uids: list[int]) -> list[Headers]:
        """The headers of `uids`, less those of a message the server will not give: it
        answers NO, or (Dovecot's default `imap_fetch_failure = disconnect-immediately`,
        e.g. for a mail file it cannot open) ends the session with BYE. Such a message is
        recorded "unreadable", left on the server and tried again by itself; until
        session 14 it ended every session at the same FETCH, a reconnect a second, and
        no later letter of the mailbox was ever taken."""
        if not self._deaths.get(tuple(uids)):
            try:
                return await self._fetching(uids, session.fetch_headers(uids))
            except ImapRefused:
                pass
        readable: list[Headers] = []
        for uid in uids:  # one by one, to find the one(s) the server will not give
            if self._ended_sessions(uid):
                await self._unreadable(uidvalidity, Headers(uid=uid, size=0), self._deaths[(uid,)][1])
                continue
            try:
                readable.extend(await self._fetching([uid], session.fetch_headers([uid])))
            except ImapRefused as exc:
                await self._unreadable(uidvalidity, Headers(uid=uid, size=0), f"{exc.result} {exc.text}")
        self._deaths.pop(tuple(uids), None)
        return readable

    async def _fetching(self, uids: list[int], fetch):  # noqa: ANN001, ANN202 - an ImapSession fetch
        """Await `fetch` of `uids`, remembering them should the session end meanwhile (`run`)."""
        self._in_fetch = tuple(uids)
        # Renewed while it comes: a body that took longer than lease_ttl (25 MB over a
        # 400 kB/s line, 60 s) outlasted the lease, its record was refused, and it was
        # fetched again and again, never registered (red team of 7 Dec 2026).
        keeper = asyncio.ensure_future(self._keep_lease())
        try:
            found = await fetch
        except ImapRefused:  # the session goes on: nothing to remember
            self._in_fetch = None
            raise
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
        self._in_fetch = None
        self._deaths.pop(tuple(uids), None)
        return found

    async def _keep_lease(self) -> None:
        """Renew the lease every third of lease_ttl until cancelled; a lease lost
        meanwhile is found by the next record's fence."""
        while True:
            await asyncio.sleep(self._renew_every / 2)
            try:
                await self._renew()
            except Exception as exc:  # lost or the database stuck: the fence decides
                log.warning("imap_lease_not_renewed", mailbox=self.name, error=f"{type(exc).__name__}: {exc}")
                return

    def _ended_sessions(self, uid: int) -> bool:
        """A FETCH of this one message ended the session twice in a row: not the network."""
        return self._deaths.get((uid,), (0, ""))[0] >= 2

    async def _unreadable(self, uidvalidity: int, headers: Headers, why: str, again: bool = False) -> None:
        """Left on the server and retried by itself (`_retry_unreadable`); `status`
        lists it meanwhile, so a person can repair the mail server's copy."""
        note = f"the mail server cannot read it: {why}"[:500]
        if again:
            await self._set_state(uidvalidity, headers.uid, UNREADABLE, note)
        else:
            await self._record(uidvalidity, headers, None, UNREADABLE, note)
            log.error("imap_message_unreadable", mailbox=self.name, uid=headers.uid, error=note,
                      action="left in the mailbox, tried again by itself")

    async def _retry_unreadable(self, session: ImapSession, uidvalidity: int) -> None:
        """Take the messages the server could not read before, once it can."""
        if time.monotonic() - self._retried < self._retry_wait:
            return
        rows = await self._read(taken.still_spooling, self.name, uidvalidity, UNREADABLE)
        # Each try may cost a reconnect: twice as long to the next one, up to 15 minutes.
        self._retry_wait = min(self._retry_wait * 2, 900.0) if rows else self._retry_every
        self._retried = time.monotonic()
        for uid, _, _ in rows:
            try:
                found = await self._fetching([uid], session.fetch_headers([uid]))
            except ImapRefused as exc:
                await self._unreadable(uidvalidity, Headers(uid=uid, size=0), f"{exc.result} {exc.text}",
                                       again=True)
                continue
            if found and self._disk_too_full(found[0]):
                return
            if not found:  # gone from the mailbox (a person deleted or moved it)
                log.warning("imap_unreadable_gone", mailbox=self.name, uid=uid)
                await self._set_state(uidvalidity, uid, GONE, GONE_BEFORE_READ)
                continue
            log.info("imap_message_readable_again", mailbox=self.name, uid=uid)
            await self._take_one(session, uidvalidity, found[0])

    def _disk_too_full(self, headers: Headers) -> bool:
        """The letter stays in the mailbox, untouched, while the disk is below the floor:
        what SMTP answers with 452 4.3.1. Logged once per spell."""
        full = self.guard is not None and self.guard.refuses(headers.size)
        if full != self._waiting_for_disk:
            if full:
                log.warning("imap_intake_waiting_for_disk", mailbox=self.name, uid=headers.uid,
                            size=headers.size, floor=self.guard.floor)
            else:
                log.info("imap_intake_resumed", mailbox=self.name)
            self._waiting_for_disk = full
        return full

    async def _take_one(self, session: ImapSession, uidvalidity: int, headers: Headers) -> None:
        uid = headers.uid
        if headers.size > self.max_size:
            # Left on the server, untouched but for the keyword; what `status` lists for a
            # person (sender, Message-ID, size), since nothing of it reaches the register.
            # Not its subject: the letter is not read, so nothing says it is not ลับ, and
            # "ลับมาก เรื่อง ..." was kept in plain in the database, the log and `status`.
            await self._record(uidvalidity, headers, None, "skipped", f"{headers.size} bytes > {self.max_size}")
            await session.add_keyword(uid, TOO_BIG_KEYWORD)
            log.error("imap_message_too_big", mailbox=self.name, uid=uid, size=headers.size, limit=self.max_size,
                      sender=headers.sender, message_id=headers.message_id)
            return
        # The bytes are read before anything is recorded: a restored mailbox gives a letter
        # without a Message-ID back under a new UIDVALIDITY, and only its bytes tell.
        if self._ended_sessions(uid):  # its headers are cached, its file is unreadable
            await self._unreadable(uidvalidity, headers, self._deaths[(uid,)][1])
            return
        try:
            raw, internaldate = await self._fetching(
                [uid], session.fetch_body_dated(uid, at_most=self._body_time))
        except ImapVanished:
            # Another client expunged it after its headers were read (Dovecot: BODY[] NIL):
            # not the mail server failing to read it, which was said at error level.
            await self._record(uidvalidity, headers, None, GONE, GONE_BEFORE_READ)
            log.warning("imap_message_gone", mailbox=self.name, uid=uid, message_id=headers.message_id,
                        error=GONE_BEFORE_READ)
            return
        except ImapRefused as exc:
            await self._unreadable(uidvalidity, headers, f"{exc.result} {exc.text}")
            return
        earlier = await self._taken_before(uidvalidity, headers.message_id, internaldate)
        if earlier is not None:
            # "spooled": marked on the server under its new UID once its message is finished.
            await self._record(uidvalidity, headers, earlier, "spooled", "taken under an earlier UIDVALIDITY")
            log.info("imap_message_known", mailbox=self.name, uid=uid, queue_id=earlier,
                     message_id=headers.message_id)
            return
        sha = hashlib.sha256(raw).hexdigest()
        same = await self._read(taken.queue_id_of_same_bytes, self.name, uidvalidity, sha)
        if same is not None:
            await self._record(uidvalidity, headers, same, "spooled", "same bytes taken under an earlier UIDVALIDITY",
                         raw_sha256=sha)
            log.info("imap_message_known", mailbox=self.name, uid=uid, queue_id=same, raw_sha256=sha,
                     message_id=headers.message_id)
            return
        queue_id = new_queue_id()
        await self._record(uidvalidity, headers, queue_id, "spooling", raw_sha256=sha)
        await self._spool(session, uidvalidity, uid, queue_id, headers.sender, (raw, internaldate))

    @property
    def _body_time(self) -> float:
        """The most one body may take while it keeps coming: `timeout` + 1 s per 50 kB of
        `max_size` (imap_session.ImapSession.fetch_body_dated)."""
        return self.config.timeout + self.max_size / 50_000

    async def _taken_before(self, uidvalidity: int, message_id: str | None, internaldate: str | None) -> str | None:
        """The queue id this Message-ID was taken under before, if this message reached the
        mailbox before that (storage/intake.py `queue_id_taken_before`); without a date
        the server gives, its bytes decide."""
        arrived = parse_internaldate(internaldate)
        if not message_id or arrived is None:
            return None
        return await self._read(taken.queue_id_taken_before, self.name, uidvalidity, message_id, arrived)

    async def _record(self, uidvalidity: int, headers: Headers, queue_id: str | None, state: str,
                      note: str | None = None, raw_sha256: str | None = None) -> None:
        await self._db(self._record_now, uidvalidity, headers, queue_id, state, note, raw_sha256)
        self._renewed = time.monotonic()

    def _record_now(self, uidvalidity: int, headers: Headers, queue_id: str | None, state: str,
                note: str | None = None, raw_sha256: str | None = None) -> None:
        with self.db.session() as s:
            lease.fence(s, self.name, self.holder, self.config.lease_ttl)
            taken.record_taken(s, mailbox=self.name, uidvalidity=uidvalidity, uid=headers.uid,
                               queue_id=queue_id, message_id=headers.message_id, size=headers.size,
                               state=state, note=note, raw_sha256=raw_sha256, sender=headers.sender)

    async def _spool(self, session: ImapSession, uidvalidity: int, uid: int, queue_id: str,
                     sender: str | None, fetched: tuple[bytes, str | None] | None = None) -> None:
        raw, internaldate = fetched or await session.fetch_body_dated(uid, at_most=self._body_time)
        received_at = self._received_at(uid, internaldate, await self._first_register_year())
        await self._db(self.spool.accept, raw, sender or "", [self.rcpt],
                       peer=f"{self.name};uidvalidity={uidvalidity};uid={uid}", queue_id=queue_id,
                       received_at=received_at)
        await self._set_state(uidvalidity, uid, "spooled", raw_sha256=hashlib.sha256(raw).hexdigest())
        if self.clock is not None:
            self.clock.accepted()
        log.info("imap_message_spooled", mailbox=self.name, uid=uid, queue_id=queue_id, size=len(raw),
                 received_at=received_at.isoformat())

    async def _first_register_year(self) -> int | None:
        # Kept once the register has begun: it never goes back before it (a year before
        # is refused below, and by the clock guard for SMTP), and a read for each letter
        # cost ~2.5 ms.
        if self._register_began is None:
            self._register_began = await self._read(first_register_year)
        return self._register_began

    def _received_at(self, uid: int, internaldate: str | None, first_year: int | None = None) -> dt.datetime:
        """When the letter reached the central mailbox (its INTERNALDATE): the time of
        receipt in the register, the year of its register and the receive stamp, as for a
        letter that came by SMTP at that moment. A date after the fetch (the mail server's
        clock ahead of ours) or one that cannot be read gives the fetch time; so does one
        before a listing of the mailbox that did not have the message yet: whoever APPENDs,
        copies or moves a message into the mailbox sets or keeps its INTERNALDATE, and a
        receipt dated before the message was there is a backdated receipt. So does a date
        in a Buddhist-era year before the register's first (`first_year`, the oldest year
        it has numbers in, or the fetch's year for a register still empty; never before
        EARLIEST_YEAR): that year's book is the previous system's (paper, the old
        e-saraban), and a mailbox's backlog from before the gateway ran (a mailbox never
        listed has no listing to bound it) was numbered 1/2568 or 1/2562 beside the
        numbers that system gave."""
        fetched = self.receipt.now() if self.receipt is not None else now_utc()
        arrived = parse_internaldate(internaldate)
        after = self._listed_after.get(uid)
        floor = max(EARLIEST_YEAR, first_year if first_year is not None else be_year(fetched))
        reason = None
        if arrived is None:
            reason = "unreadable"
        elif arrived > fetched:
            reason = "in the future"
        elif after is not None and arrived < after - INTERNALDATE_SKEW:
            reason = f"before {after.isoformat(timespec='seconds')}, when the mailbox was listed without it"
        elif be_year(arrived) < floor:
            reason = f"in {be_year(arrived)} BE, before {floor}, the register's first year"
        if reason is not None:
            log.warning("imap_internaldate_not_used", mailbox=self.name, uid=uid, internaldate=internaldate,
                        reason=reason, used=fetched.isoformat())
            return fetched
        return arrived.astimezone(dt.timezone.utc)

    async def _set_state(self, uidvalidity: int, uid: int, state: str, note: str | None = None,
                         raw_sha256: str | None = None) -> None:
        await self._db(self._write_now, taken.set_taken_state, self.name, uidvalidity, uid, state, note, raw_sha256)

    async def _resume_spooling(self, session: ImapSession, uidvalidity: int) -> None:
        """Rows a crash (or a spool the disk refused) left between "recorded" and
        "spooled": spool them again, same id. A message no longer in the mailbox, or one
        the server will not give now, is set aside like any other: until the red team of
        7 Dec 2026 its FETCH ended every session here, a reconnect a second, and no later
        letter of the mailbox was ever taken."""
        for row_validity, uid, queue_id in await self._read(taken.spooling_under_earlier_uidvalidity, self.name,
                                                            uidvalidity):
            if await self._db(self._spooled_somewhere, queue_id):
                await self._set_state(row_validity, uid, "spooled")  # marked: "UIDVALIDITY changed before marking"
                continue
            # Its UID means nothing now: the mailbox, if it still has the message, gives it
            # under the new UIDVALIDITY, where it is taken as a letter not taken before.
            await self._set_state(row_validity, uid, SUPERSEDED, SUPERSEDED_NOTE)
            log.warning("imap_message_taken_again", mailbox=self.name, uidvalidity=row_validity, uid=uid,
                        queue_id=queue_id, reason=SUPERSEDED_NOTE)
        rows = await self._read(taken.still_spooling, self.name, uidvalidity)
        for uid, queue_id, sender in rows:
            if await self._db(self._spooled_somewhere, queue_id):
                await self._set_state(uidvalidity, uid, "spooled")
                continue
            log.info("imap_respool", mailbox=self.name, uid=uid, queue_id=queue_id)
            if self._ended_sessions(uid):
                await self._unreadable(uidvalidity, Headers(uid=uid, size=0), self._deaths[(uid,)][1], again=True)
                continue
            try:
                fetched = await self._fetching([uid], session.fetch_body_dated(uid, at_most=self._body_time))
            except ImapVanished:
                # Its bytes were lost with the process or the write the disk refused; the
                # mailbox no longer has them: only a person can ask for the letter again.
                await self._set_state(uidvalidity, uid, GONE, GONE_BEFORE_SPOOLED)
                log.error("imap_message_gone", mailbox=self.name, uid=uid, queue_id=queue_id,
                          error=GONE_BEFORE_SPOOLED)
                continue
            except ImapRefused as exc:
                await self._unreadable(uidvalidity, Headers(uid=uid, size=0), f"{exc.result} {exc.text}", again=True)
                log.error("imap_message_unreadable", mailbox=self.name, uid=uid, error=f"{exc.result} {exc.text}",
                          action="left in the mailbox, tried again by itself")
                continue
            # The sender recorded when it was taken: spooled without one, the letter was
            # registered with a null envelope sender and its sender never got the receive
            # number (notice suppressed: null_sender), the same letter taken without a
            # crash got it.
            await self._spool(session, uidvalidity, uid, queue_id, sender, fetched)

    def _spooled_somewhere(self, queue_id: str) -> bool:
        name = f"{queue_id}.msg"
        if (self.spool.new / name).exists() or (self.spool.failed / name).exists():
            return True
        with self.db.read_session() as s:
            return get_message(s, queue_id) is not None  # another gateway's spool has it

    # -- marking on the server ---------------------------------------------------------------

    async def _mark_finished(self, session: ImapSession, uidvalidity: int) -> tuple[int, int]:
        """Mark what the register has committed; return how many still wait for it and
        how many were marked now."""
        rows = await self._read(taken.spooled_with_message_state, self.name)
        waiting = marked = 0
        for row_validity, uid, queue_id, state in rows:
            if state not in FINISHED:
                waiting += state != "failed"  # parked letters wait for a person, not for us
                continue
            if row_validity != uidvalidity:
                await self._set_state(row_validity, uid, "marked", "UIDVALIDITY changed before marking")
                continue
            keyword = self.config.keyword if state == "done" else QUARANTINED_KEYWORD
            await session.add_keyword(uid, keyword)
            if self._processed and state == "done":
                await session.move(uid, self._processed)
            await self._set_state(uidvalidity, uid, "marked")
            marked += 1
            log.info("imap_message_marked", mailbox=self.name, uid=uid, queue_id=queue_id, keyword=keyword,
                     moved_to=self.config.processed_folder if state == "done" else None)
        return waiting, marked


def _server_name(hierarchy: Hierarchy, folder: str) -> str:
    """`folder` as the server spells it. A name without "/" whose level holds the
    server's separator was written in the server's own spelling ("INBOX.Saraban"), which
    worked before names were spelt: it is kept as written."""
    try:
        return hierarchy.spell(folder)
    except FolderNameError:
        if "/" not in folder:
            return folder
        raise


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        pass


async def _until_stop(stop: asyncio.Event, work) -> None:
    """Run `work` (an IDLE) unless stop is set first; then the session is torn down."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if task in done:
        task.result()  # raises ImapGone and the like
    else:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
