"""What every page of the desk shares: the Desk (services, sign-in, templates), the
security headers, and `page()`, through which every handler runs.

Every handler is a plain function run in a worker thread (database and PDF work
block); `page()` signs the person in, checks the CSRF token of every POST and answers
404 for anything outside the person's units."""
from __future__ import annotations

import dataclasses
import re
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode

import jinja2
import structlog
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.convertors import IntegerConvertor, register_url_convertor
from starlette.routing import Match

from gateway.config.settings import Settings
from gateway.service.services import Services, open_services
from rules.names import cut, shown_name
from rules.thai_text import arabic_to_thai
from rules.thai_time import be_year, now_utc
from gateway.web.auth import ROLE_TH, Authenticator, Person, same
from gateway.web.i18n import be_date, code_word, more, word
from storage.db import DatabaseError
from storage.errors import is_transient_storage_error

log = structlog.get_logger("gateway.web")

HERE = Path(__file__).resolve().parent
COOKIE = "saraban_session"
LOGIN_CSRF_COOKIE = "saraban_login_csrf"
LANG_COOKIE = "saraban_lang"
# Seconds a page waits for a database lock another program holds (a sqlite3 shell's
# `BEGIN IMMEDIATE`, a `LOCK TABLE`) before the clerk is told the register is busy:
# [storage] lock_timeout (60 s) is for the runners, not for a person at a screen.
LOCK_WAIT = 5.0
BUSY_RETRY_AFTER = "60"  # seconds: what the page tells the person, and the Retry-After header


def cookie_name(name: str, secure: bool) -> str:
    """The session and sign-in cookies carry the __Host- prefix (RFC 6265bis 4.1.3.2):
    the browser keeps such a cookie only when this very host set it, Secure, Path=/,
    without Domain. Without it any other site under bangkok.go.th could plant its own
    `saraban_session` (its author's session: the clerk works, and writes notes, in the
    planter's account) or `saraban_login_csrf` with the value of a form it posts to
    /login (signed in as the planter without a click). A desk on plain http
    (`cookie_secure = false`, demonstrations on loopback) cannot use the prefix."""
    return f"__Host-{name}" if secure else name

# No inline script or style anywhere, so the policy can forbid both.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cache-control", b"no-store"),
]


# Characters of a sender's text (a subject, an addressee) a list shows in one cell; the
# letter's own page shows it whole. A Subject header has no length limit: one of 300,000
# characters was 0.9 MB of the register's list for every clerk, the rows below it
# thousands of lines down (session 53).
LIST_TEXT_MOST = 1000


def listed(text: str | None) -> str:
    """`text` as a list's cell shows it: cut between letters, "…" where it was cut."""
    if not text or len(text) <= LIST_TEXT_MOST:
        return text or ""
    return cut(text, LIST_TEXT_MOST - 1) + "…"


class NotFound(Exception):
    """Anything the person may not see is, to them, not there (no probing by URL)."""


class Forbidden(Exception):
    pass


class BadRequest(Exception):
    """A parameter the desk cannot use (a date out of range, a book that does not
    exist): the desk's 400 page with this sentence, in the person's language."""

    def __init__(self, key: str, detail: str = "", field: str | None = None):
        super().__init__(key)
        self.key = key
        self.detail = detail
        self.field = field  # the word for the form's field, said in the person's language


# Files one form takes (the emergency form's scans); said on the form and when refused.
MAX_FILES = 20


# Ids are BIGINT/INTEGER columns: anything larger is no row of ours (and a database
# driver refuses it with an exception), so it is simply not found.
MAX_ID = 2**63 - 1
_ID = re.compile(r"[0-9]{1,19}")


class IdConvertor(IntegerConvertor):
    """`{name:id}` in a route's path: an id of at most 19 digits (MAX_ID has 19), so that
    a longer one is no route of ours, "not found". Starlette's `int` takes any number of
    digits, and int() refuses more than 4,300 (Python's limit on long digit strings): a
    ValueError in the routing, before any sign-in, was the 500 page for anyone, and a
    traceback in the log, until session 52."""

    regex = _ID.pattern


register_url_convertor("id", IdConvertor())


def form_ids(values, limit: int) -> list[int]:
    """The ids ticked in a form: ASCII digits only (str.isdigit() takes '²', which int()
    refuses), each within MAX_ID; anything else is left out."""
    ids = []
    for value in list(values)[:limit]:
        text = str(value).strip()
        if _ID.fullmatch(text) and int(text) <= MAX_ID:
            ids.append(int(text))
    return ids


class SecurityHeaders:
    """ASGI middleware: the headers every response carries; HTML gets the CSP."""

    def __init__(self, app, secure: bool):
        self.app = app
        self.secure = secure

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                headers += SECURITY_HEADERS
                content_type = dict((k.lower(), v) for k, v in headers).get(b"content-type", b"")
                if content_type.startswith(b"text/html"):
                    headers.append((b"content-security-policy", CSP.encode()))
                if self.secure:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message = dict(message, headers=headers)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Desk:
    """What every page needs: the gateway's services, the sign-in, the templates."""

    def __init__(self, settings: Settings, services: Services | None = None):
        self.settings = settings
        self.web = settings.web
        self._stack = ExitStack()
        self.services = services or self._stack.enter_context(
            open_services(settings, "register", upgrade_schema=True, lock_wait=LOCK_WAIT))
        self._pipeline: Services | None = None
        self._pipeline_lock = threading.Lock()
        self.auth = Authenticator(self.services.db, self.web, self.services.directory)
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                                      autoescape=True, undefined=jinja2.StrictUndefined)
        self.env.globals.update(role_th=ROLE_TH, desk_nav=self.nav, nav="", more=more)
        # A sender's file name with nothing hidden in it (U+202E, zero-width): rules/names.py.
        self.env.filters["file_name"] = shown_name
        # and an address so: "\u202efdp@evil.example" drew as "elpmaxe.live@pdf" (session 19)
        self.env.filters["shown"] = shown_name
        self.env.filters["listed"] = listed
        self.pages: set[str] = set()  # the optional pages this desk serves (create_app)
        self.max_upload = self.web.max_upload_mb * 1024 * 1024
        self.session_cookie = cookie_name(COOKIE, self.web.cookie_secure)
        self.login_csrf_cookie = cookie_name(LOGIN_CSRF_COOKIE, self.web.cookie_secure)

    def use_directory(self, directory) -> None:
        """SIGHUP reloaded the unit directory: scopes and names follow at once."""
        self.services = dataclasses.replace(self.services, directory=directory)
        self.auth.directory = directory
        with self._pipeline_lock:
            if self._pipeline is not None:
                self._pipeline = dataclasses.replace(self._pipeline, directory=directory)

    def pipeline_services(self) -> Services:
        """The pipeline's services (PDF reader pool, signature checker), which releasing
        a held letter needs to check it again; started at the first release."""
        with self._pipeline_lock:
            if self._pipeline is None:
                self._pipeline = self._stack.enter_context(open_services(self.settings, "pipeline",
                                                                         lock_wait=LOCK_WAIT))
            return self._pipeline

    def close(self) -> None:
        self._stack.close()

    @property
    def general_book(self) -> str:
        return self.settings.register_.general_book

    @property
    def secret_book(self) -> str:
        return self.settings.register_.secret_book

    def this_year(self) -> int:
        return be_year(now_utc())

    def unit_name(self, unit: str) -> str:
        found = self.services.directory.lookup(unit)
        return found.name_th if found else unit

    def units_of(self, person: Person, book: str | None = None) -> list[str]:
        """The units whose register this person may open, in directory order."""
        book = book or self.general_book
        units = [u.address for u in self.services.directory.units]
        extra = sorted((person.visible | person.own) - set(units))
        return [u for u in units + extra if person.sees_book(u, book, self.secret_book)]

    def nav(self, person: Person) -> list[tuple[str, str]]:
        """The menu beyond the register and the quarantine, by role."""
        items = []
        if person.role in ("registrar", "auditor"):
            items.append(("/secret", "secret_register"))
        if person.may_act or person.role == "auditor":
            items.append(("/export", "export"))
        if person.may_act:
            items.append(("/emergency", "emergency"))
        if person.role == "admin":
            items.append(("/operations", "operations"))
        return [item for item in items if item[1] in self.pages]

    def render(self, request: Request, person: Person | None, template: str, status: int = 200,
               **context: Any) -> HTMLResponse:
        lang = person.lang if person else request.cookies.get(LANG_COOKIE, "th")
        lang = "en" if lang == "en" else "th"

        def t(key: str) -> str:
            return word(key, lang)

        digits = arabic_to_thai if person is not None and person.thai_digits else str

        def date(value, with_time: bool = False) -> str:
            return digits(be_date(value, lang, with_time))

        def said(prefix: str, code: str | None) -> str:
            return code_word(prefix, code, lang)

        def url(path: str, **params) -> str:
            params = {k: v for k, v in params.items() if v not in (None, "", False)}
            return path + ("?" + urlencode(params) if params else "")

        back = context.pop("back", None) or (
            page_to_return_to(request, request.url.path, request.url.query if request.method == "GET" else "")
            if person is not None else "/register")
        body = self.env.get_template(template).render(
            request=request, person=person, t=t, said=said, lang=lang, date=date, url=url, digits=digits,
            desk=self, back=back, **context)
        return HTMLResponse(body, status_code=status)

    def error(self, request: Request, person: Person | None, status: int, title: str, text: str) -> HTMLResponse:
        return self.render(request, person, "error.html", status=status, title=title, text=text)

    def busy(self, request: Request, person: Person | None, exc: Exception) -> HTMLResponse:
        """The database is held by another program or unreachable: 503 with Retry-After
        and a sentence for the person, within LOCK_WAIT rather than lock_timeout and
        then "something went wrong"; the error's text goes to the log only."""
        log_busy(request, person, exc)
        lang = person.lang if person else request.cookies.get(LANG_COOKIE, "th")
        response = self.error(request, person, 503, word("register_busy", lang), word("register_busy_text", lang))
        response.headers["Retry-After"] = BUSY_RETRY_AFTER
        return response


def page_to_return_to(request: Request, path: str, query: str = "") -> str:
    """The page the top bar's language and digits switches return to: `path` (with its
    query: a filtered register stays filtered) when the desk shows a page there to a GET,
    else the nearest page above it, else the register. Until session 43 a page answering
    a POST (a ลับ letter opened with เปิดดูเนื้อหา at /letters/N/reveal, the operations
    page after /operations/retry) sent the switch back to that POST's path, and the GET
    there was drawn as "not found, or not yours to see". A stored file is no page to
    return to (the browser would download it)."""
    router = getattr(request.scope.get("app"), "router", None)
    first = path
    while router is not None and path.startswith("/") and len(path) > 1:
        scope = {"type": "http", "path": path, "root_path": "", "method": "GET"}
        if "/files/" not in path and not path.endswith("/stamped") and any(
                route.matches(scope)[0] == Match.FULL for route in router.routes):
            return path + ("?" + query if query and path == first else "")
        path = path.rsplit("/", 1)[0]
    return "/register"


def log_busy(request: Request, person: Person | None, exc: Exception) -> None:
    log.warning("web_database_busy", path=request.url.path, username=person.username if person else None,
                error=f"{type(exc).__name__}: {exc}"[:300])


def database_busy(exc: BaseException) -> bool:
    """The database's condition (a lock not granted in time, a lost connection), not a
    fault of the page: the person is told the register is busy (Desk.busy)."""
    return isinstance(exc, DatabaseError) and is_transient_storage_error(exc)


Handler = Callable[[Desk, Request, Person, FormData | None], Response]


def page(desk: Desk, handler: Handler, roles: tuple[str, ...] | None = None, act: bool = False):
    """Wrap a page handler: sign-in, CSRF on POST, role checks, 404 for what is not theirs."""

    async def endpoint(request: Request) -> Response:
        form = None
        if request.method == "POST":
            length = request.headers.get("content-length")
            if length is None or not length.isdigit() or int(length) > desk.max_upload:
                return await run_in_threadpool(_refuse, desk, request, 413)
            # Nobody signed in: answered before the body is read. It was parsed first (up
            # to max_upload_mb, its files spooled to disk) for anyone who could reach the
            # port, with or without a session, until session 19.
            refused = await run_in_threadpool(_nobody, request)
            if refused is not None:
                return refused
            try:
                form = await request.form(max_files=MAX_FILES, max_fields=500, max_part_size=64 * 1024)
            except HTTPException as exc:  # the parser's refusal (too many files, fields, a long part)
                return await run_in_threadpool(_unreadable, desk, request, str(exc.detail))
        try:
            return await run_in_threadpool(_run, request, form)
        finally:
            if form is not None:
                await form.close()

    def _run(request: Request, form: FormData | None) -> Response:
        person = None
        try:
            person = desk.auth.person(request.cookies.get(desk.session_cookie))
            return _signed_in(request, form, person)
        except DatabaseError as exc:  # the sign-in look-up or the page's own work
            if database_busy(exc):
                return desk.busy(request, person, exc)
            if person is None:
                raise
            return _failed(request, person)
        except Exception:
            if person is None:
                raise  # the app's own 500 page: nobody known to draw it for
            return _failed(request, person)

    def _failed(request: Request, person: Person) -> Response:
        """A page that failed for a signed-in person: the desk's 500 page in their
        language, with their menu and sign-out, where the app-wide one drew it as for
        nobody signed in, in Thai (session 39's red team): the clerk read it as being
        signed out, and signed in again to find the same page."""
        log.exception("web_handler_failed", path=request.url.path, username=person.username)
        return desk.error(request, person, 500, word("error", person.lang), word("error_text", person.lang))

    def _nobody(request: Request) -> Response | None:
        """The answer to a POST when nobody is signed in; None when someone is."""
        try:
            if desk.auth.person(request.cookies.get(desk.session_cookie)) is not None:
                return None
        except DatabaseError as exc:
            if not database_busy(exc):
                raise
            return desk.busy(request, None, exc)
        return _session_expired(request)

    def _session_expired(request: Request) -> Response:
        """A form sent after the session ran out (or after signing out in another tab):
        "reload the page" would lead to the sign-in page with no word why, and the clerk
        should know that what they typed was not saved."""
        lang = "en" if request.cookies.get(LANG_COOKIE) == "en" else "th"
        return desk.error(request, None, 403, word("session_expired", lang), word("session_expired_text", lang))

    def _signed_in(request: Request, form: FormData | None, person: Person | None) -> Response:
        if person is None:
            if request.method == "GET":
                return RedirectResponse("/login", status_code=303)
            return _session_expired(request)
        try:
            if form is not None and not same(str(form.get("csrf") or ""), person.csrf):
                log.warning("web_csrf_refused", username=person.username, path=request.url.path)
                return desk.error(request, person, 403, word("csrf", person.lang), word("csrf", person.lang))
            if roles is not None and person.role not in roles:
                raise NotFound()
            if any(isinstance(v, int) and not 0 <= v <= MAX_ID for v in request.path_params.values()):
                raise NotFound()
            if act and not person.may_act:
                raise Forbidden()
            return handler(desk, request, person, form)
        except NotFound:
            return desk.error(request, person, 404, word("not_found", person.lang),
                              word("not_found_text", person.lang))
        except Forbidden:
            return desk.error(request, person, 403, word("forbidden", person.lang), word("forbidden", person.lang))
        except BadRequest as bad:
            detail = ": ".join(filter(None, (word(bad.field, person.lang) if bad.field else "", bad.detail)))
            text = word(bad.key, person.lang) + (f" ({detail})" if detail else "")
            return desk.error(request, person, 400, word("bad_request", person.lang), text)

    return endpoint


def _refuse(desk: Desk, request: Request, status: int) -> Response:
    """A form larger than `[web] max_upload_mb`, refused before it is read. The page
    says the limit, that nothing was saved and what to do: until session 54 it said
    "ไฟล์ใหญ่เกินกำหนด" alone, and the clerk with a 25 MB scan did not learn the limit."""
    person = desk.auth.person(request.cookies.get(desk.session_cookie))
    lang = person.lang if person else request.cookies.get(LANG_COOKIE, "th")
    text = word("too_large_text", lang).format(mb=desk.web.max_upload_mb)
    return desk.error(request, person, status, word("too_large", lang), text)


def _unreadable(desk: Desk, request: Request, why: str) -> Response:
    """A form the parser refused: more files than MAX_FILES is told as such, with the
    limit (a paper letter scanned one picture a page is 30 files; until session 54 the
    clerk read only that the form held "too many fields or files, or too long a text");
    anything else as before."""
    person = desk.auth.person(request.cookies.get(desk.session_cookie))
    lang = person.lang if person else request.cookies.get(LANG_COOKIE, "th")
    log.warning("web_request_refused", path=request.url.path, status=400, why=why[:200])
    if why.startswith("Too many files"):
        text = word("too_many_files", lang).format(files=MAX_FILES)
    else:
        text = word("bad_request_text", lang)
    return desk.error(request, person, 400, word("bad_request", lang), text)


def set_session_cookie(desk: Desk, response: Response, token: str) -> None:
    """The session's cookie, kept by the browser until it is closed (no Max-Age); the
    server ends the session after session_idle_minutes or session_hours anyway. Until
    session 54 it was kept on disk for session_hours: at a counter's shared computer a
    clerk who closed the browser without signing out left it signed in for whoever
    opened it next within the idle time, and what they did was recorded as the clerk's."""
    response.set_cookie(desk.session_cookie, token, httponly=True, secure=desk.web.cookie_secure, samesite="strict",
                        path="/")
