"""Who is signed in, and what they may see.

Passwords: argon2id (argon2-cffi's defaults, RFC 9106's second recommended set).
Sessions: a random 32-byte token in an HttpOnly cookie; the database keeps only its
SHA-256 (storage/users.py). Each session has its own CSRF token, put in every form.
Failed sign-ins lock the account after `[web] max_failed_logins` for
`lockout_minutes`, and each client address gets `login_attempts_per_minute` tries
whatever the account, so neither one account nor many can be guessed at speed."""
from __future__ import annotations

import collections
import datetime as dt
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gateway.config.settings import WebSection
from gateway.units.directory import Directory
from storage.db import Database, DatabaseError
from storage.errors import is_transient_storage_error
from storage.users import (
    claim_attempt,
    end_sessions_of,
    find_session,
    look_up_session,
    find_user,
    record_failed_login,
    record_login,
    release_attempt,
)
from storage.users import create_session as store_session

log = structlog.get_logger("gateway.web")

_hasher = PasswordHasher()
# Verified when the account does not exist, so that an unknown name takes as long as
# a wrong password (no way to learn which accounts exist by timing).
_DUMMY_HASH = _hasher.hash("not a password of anyone")
# A refused sign-in (wrong password, unknown name, locked account) is answered this long
# after it began, never sooner (gateway/web/app.py): above an argon2 check (~60-160 ms
# on two busy cores) with the transactions and an LDAP bind around it.
REFUSED_SIGN_IN_SECONDS = 0.5
# Each argon2id check takes 64 MiB (and four threads) while it runs, in the daemon's
# own process, the one that also takes SMTP. Until session 43 nothing bounded how many
# ran at once: 20 wrong sign-ins from outside at the same moment took it from 89 MiB to
# 1.3 GB and a clerk's register page from 0.27 s to 4.9 s. At most `[web]
# password_checks_at_once` run at once (Authenticator); a sign-in waits its turn at most
# `password_check_wait_seconds`, then is told the desk is busy (sign_ins_busy, 503),
# its attempt not counted against the account.
DIRECTORY_DOWN_SECONDS = 60.0  # see Authenticator._directory_down_until

ROLE_TH = {"clerk": "เจ้าหน้าที่สารบรรณ", "registrar": "นายทะเบียนลับ", "auditor": "ผู้ตรวจสอบ",
           "admin": "ผู้ดูแลระบบ"}


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_problem(password: str) -> str | None:
    """ASVS 2.1: at least 12 characters, at most 128; anything else is allowed."""
    if len(password) < 12:
        return "a password has at least 12 characters"
    if len(password) > 128:
        return "a password has at most 128 characters"
    return None


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


@dataclass
class Person:
    """The signed-in person, for one request."""

    username: str
    display_name: str
    role: str
    units: list[str]
    csrf: str
    lang: str
    token_sha256: str
    user_id: int = 0
    thai_digits: bool = False  # ๑๒๓ in the dates and numbers the desk writes
    visible: set[str] = field(default_factory=set)  # unit addresses whose letters they see
    # The units the account is assigned to (canonical addresses), without the units
    # below them: a registrar's secret register is only theirs (see sees_book).
    own: set[str] = field(default_factory=set)

    @property
    def who(self) -> str:
        """How actions and decryptions are recorded: never confused with an OS user."""
        return f"web:{self.username}"

    @property
    def all_units(self) -> bool:
        return self.role in ("auditor", "admin")

    def sees_unit(self, unit: str | None) -> bool:
        return bool(unit) and (self.all_units or unit in self.visible)

    def sees_book(self, unit: str, book: str, secret_book: str) -> bool:
        """The general book for anyone who sees the unit (its own units and those below
        them, appendix ง); the secret book only for the auditors and for the secret
        registrar (นายทะเบียนลับ) the unit itself is assigned to. A unit below has its
        own registrar, whose certificate its letters are sealed to: the registrar of
        saraban.latkrabang does not open the secret book of saraban.latkrabang.fin."""
        if not self.sees_unit(unit):
            return False
        if book != secret_book:
            return True
        return self.role == "auditor" or (self.role == "registrar" and unit in self.own)

    @property
    def may_act(self) -> bool:
        return self.role in ("clerk", "registrar", "admin")


def own_units(directory: Directory, units: list[str]) -> set[str]:
    """The assigned units themselves, as the directory spells them (`saraban.latkrabang`
    for `Saraban.Latkrabang@bangkok.go.th`)."""
    out: set[str] = set()
    for unit in units:
        found = directory.lookup(unit)
        out.add(found.address if found else unit.strip().split("@", 1)[0].lower())
    return out


def visible_units(directory: Directory, units: list[str]) -> set[str]:
    """Appendix ง: a unit sees the letters of the units it owns (itself and below)."""
    out = own_units(directory, units)
    for unit in units:
        out.update(u.address for u in directory.owned_by(unit))
    return out


class AttemptLimiter:
    """Sign-in attempts per client address in the last minute (in memory: one process
    serves the desk)."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        # Least recently seen address first: the addresses idle for a minute are forgotten
        # from the front at each attempt. Until session 19 an address's attempts were
        # pruned only when that address came back, so the "forget idle addresses" sweep
        # found none to forget: each new address (an IPv6 network has 2^64) stayed for
        # good, and past 10,000 every sign-in scanned them all under this lock.
        self._seen: collections.OrderedDict[str, collections.deque] = collections.OrderedDict()
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        with self._lock:
            while self._seen:
                oldest = next(iter(self._seen.values()))
                if now - oldest[-1] <= 60:
                    break
                self._seen.popitem(last=False)
            window = self._seen.setdefault(client, collections.deque())
            self._seen.move_to_end(client)
            while window and now - window[0] > 60:
                window.popleft()
            if len(window) >= self.per_minute:
                if not window:  # per_minute 0: nothing kept for this address
                    del self._seen[client]
                return False
            window.append(now)
            return True


class SignInRefused(Exception):
    """Shown to the person as one sentence (Thai and English keys in i18n.py)."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


class Authenticator:
    def __init__(self, db: Database, settings: WebSection, directory: Directory):
        self.db = db
        self.settings = settings
        self.directory = directory
        self.limiter = AttemptLimiter(settings.login_attempts_per_minute)
        self._password_checks = threading.BoundedSemaphore(settings.password_checks_at_once)
        # When each directory account's session was last looked up in the directory
        # (monotonic seconds, by token digest; in memory: one process serves the desk).
        self._directory_seen: dict[str, float] = {}
        self._directory_lock = threading.Lock()
        # Until when (monotonic) the directory counts as unreachable after a sign-in found
        # it so: meanwhile an unknown or locked name is told the same as a directory
        # account, so that the outage's answer does not sort names into "exists" or not.
        self._directory_down_until = 0.0

    def sign_in(self, username: str, password: str, client: str, lang: str) -> str:
        """A new session token for a right name and password; SignInRefused otherwise."""
        username = username.strip().lower()
        if not self.limiter.allow(client):
            log.warning("web_login_rate_limited", client=client)
            raise SignInRefused("too_many_attempts")
        if not username or not password or len(password) > 1024:
            raise SignInRefused("bad_credentials")
        max_failures = self.settings.max_failed_logins
        lock_for = dt.timedelta(minutes=self.settings.lockout_minutes)
        with self.db.session() as session:  # committed before the password is checked
            user = find_user(session, username)
            known = user is not None and not user.disabled
            if known:
                user_id, source, password_hash = user.id, user.source, user.password_hash
                may_check = claim_attempt(session, user_id, max_failures, lock_for)
        if not known:
            self._verify(_DUMMY_HASH, password)
            log.info("web_login_failed", username=username, client=client, why="unknown or disabled")
            raise SignInRefused(self._generic_refusal())
        if not may_check:
            # Locked: the same answer as a wrong password, after the same argon2 work,
            # so that a guesser does not learn that the name exists (ASVS 2.2.1, 3.x:
            # generic messages). The lock is in this log event and `users list`.
            self._verify(_DUMMY_HASH, password)
            log.warning("web_login_locked", username=username, client=client)
            raise SignInRefused(self._generic_refusal())
        # Checked outside any transaction: no row lock is held during argon2 or LDAP.
        if source == "ldap":
            ok = self._ldap_ok(username, password)
            if ok is None:
                # The directory could not say (down, stuck, refusing the service account):
                # the person is told so, not "wrong password", and the attempt is taken
                # back: an outage of the directory locked out everyone who tried
                # max_failed_logins times while it lasted (session 17).
                with self.db.session() as session:
                    release_attempt(session, user_id)
                self._directory_down_until = time.monotonic() + DIRECTORY_DOWN_SECONDS
                log.warning("web_login_directory_unavailable", username=username, client=client)
                raise SignInRefused("directory_unavailable")
        else:
            try:
                ok = bool(password_hash) and self._verify(password_hash, password)
            except SignInRefused:
                # Not checked, so not a wrong password: the attempt is taken back, or a
                # flood from outside would lock the clerks out of their own accounts.
                with self.db.session() as session:
                    release_attempt(session, user_id)
                raise
        with self.db.session() as session:
            if not ok:
                locked = record_failed_login(session, user_id, max_failures, lock_for)
                log.warning("web_login_failed", username=username, client=client, locked=locked)
                token = None
            else:
                user = find_user(session, username)
                if user is None or user.disabled:  # disabled while the password was checked
                    token = None
                elif user.password_hash != password_hash or user.source != source:
                    # `users passwd` while the old password was being checked (the sessions
                    # it ended were those of before): the old password opened a new session
                    # after the reset, for whoever the reset was meant to shut out.
                    log.warning("web_login_password_changed", username=username, client=client)
                    token = None
                else:
                    record_login(session, user)
                    if user.password_hash and _hasher.check_needs_rehash(user.password_hash):
                        user.password_hash = hash_password(password)
                    token = secrets.token_urlsafe(32)
                    store_session(session, user, token_digest(token), secrets.token_urlsafe(32), lang,
                                  *self._session_bounds())
                    if source == "ldap":  # the directory has just said yes
                        self._directory_looked(token_digest(token))
                    log.info("web_login", username=username, client=client, role=user.role)
        if token is None:  # after the commit: the count and the lock are kept
            raise SignInRefused("bad_credentials")
        return token

    def _verify(self, password_hash: str, password: str) -> bool:
        """Raises SignInRefused("sign_ins_busy") when no check could start in time."""
        if not self._password_checks.acquire(timeout=self.settings.password_check_wait_seconds):
            raise SignInRefused("sign_ins_busy")
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        finally:
            self._password_checks.release()

    def directory_warnings(self) -> list[str]:
        """For /healthz: the directory a sign-in found unreachable within the last
        DIRECTORY_DOWN_SECONDS (gateway/service/daemon.py)."""
        ldap = self.settings.ldap
        left = self._directory_down_until - time.monotonic()
        if ldap is None or left <= 0:
            return []
        ago = DIRECTORY_DOWN_SECONDS - left
        return [f"the desk's directory {ldap.url} could not be asked at a sign-in {ago:.0f} s ago (down, or no "
                f"answer within [web.ldap] timeout = {ldap.timeout:g} s): people with directory accounts cannot "
                "sign in to the desk; see web_ldap_unavailable in the log"]

    def _generic_refusal(self) -> str:
        """What a name whose password is not checked (unknown, locked) is told."""
        down = self.settings.ldap is not None and time.monotonic() < self._directory_down_until
        return "directory_unavailable" if down else "bad_credentials"

    def _ldap_ok(self, username: str, password: str) -> bool | None:
        if self.settings.ldap is None:
            return False
        from gateway.web.ldap import ldap_bind

        return ldap_bind(self.settings.ldap, username, password)

    def _session_bounds(self) -> tuple[dt.timedelta, dt.timedelta]:
        """(idle, lifetime) past which a session has ended."""
        return (dt.timedelta(minutes=self.settings.session_idle_minutes),
                dt.timedelta(hours=self.settings.session_hours))

    def person(self, token: str | None) -> Person | None:
        if not token or len(token) > 100:
            return None
        digest = token_digest(token)
        bounds = self._session_bounds()
        # Read without the write lock: every page asks this first, and a database another
        # program holds (a sqlite3 shell's BEGIN IMMEDIATE) held every page, even a list,
        # for lock_timeout before a generic error (session 18).
        with self.db.read_session() as session:
            row, user, write = look_up_session(session, digest, *bounds)
            if row is not None:
                source = user.source
                person = Person(username=user.username, display_name=user.display_name or user.username,
                                role=user.role, units=list(user.units or []), csrf=row.csrf, lang=row.lang,
                                token_sha256=row.token_sha256, user_id=user.id,
                                thai_digits=bool(user.thai_digits),
                                visible=visible_units(self.directory, list(user.units or [])),
                                own=own_units(self.directory, list(user.units or [])))
        if write is not None:
            try:
                with self.db.session() as session:
                    if find_session(session, digest, *bounds) is None:
                        return None  # ended (or signed out in another tab) meanwhile
            except DatabaseError as exc:
                if not is_transient_storage_error(exc):
                    raise
                # An ended session is not served either way, and a live one's last_seen_at
                # is touched by a later page: reading pages keep working meanwhile.
                log.info("web_session_not_touched", why=f"{type(exc).__name__}: {exc}"[:200])
        if row is None:
            return None
        if source == "ldap" and not self._still_in_directory(person):
            return None
        return person

    def _directory_looked(self, token_sha256: str) -> None:
        now = time.monotonic()
        with self._directory_lock:
            self._directory_seen[token_sha256] = now
            if len(self._directory_seen) > 10000:  # forget sessions long gone
                horizon = now - self.settings.session_hours * 3600
                for key in [k for k, v in self._directory_seen.items() if v < horizon]:
                    del self._directory_seen[key]

    def _still_in_directory(self, person: Person) -> bool:
        """A directory account's session lasts while the directory still has the
        person: without this look, someone removed from Active Directory (left the
        office, disabled) kept the desk until the session's hours ran out. A directory
        that cannot be asked does not end sessions (the look is tried again after
        `recheck_minutes`); with no directory configured any more, they end."""
        ldap = self.settings.ldap
        if ldap is not None:
            with self._directory_lock:
                seen = self._directory_seen.get(person.token_sha256)
            if seen is not None and time.monotonic() - seen < ldap.recheck_minutes * 60:
                return True
            from gateway.web.ldap import ldap_entry_exists

            there = ldap_entry_exists(ldap, person.username)
            self._directory_looked(person.token_sha256)
            if there is None:
                self._directory_down_until = time.monotonic() + DIRECTORY_DOWN_SECONDS
            if there is not False:
                return True
        with self.db.session() as session:
            user = find_user(session, person.username)
            if user is not None:
                end_sessions_of(session, user)
        log.warning("web_ldap_account_gone", username=person.username)
        return False
