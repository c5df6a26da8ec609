"""The desk as a Starlette application (create_app): sign-in and sign-out, the
language switch, and the routes of the pages (pages_*.py). Pages are rendered on the
server (Jinja2); the only script is static/desk.js (ours, a few lines)."""
from __future__ import annotations

import asyncio
import math
import secrets
import time

import anyio
import structlog
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.config.settings import Settings
from gateway.service.services import Services
from gateway.web.auth import (
    REFUSED_SIGN_IN_SECONDS,
    Person,
    SignInRefused,
    same,
    token_digest,
)
from gateway.web.desk import (
    BUSY_RETRY_AFTER,
    HERE,
    LANG_COOKIE,
    Desk,
    SecurityHeaders,
    database_busy,
    log_busy,
    page,
    page_to_return_to,
    set_session_cookie,
)
from gateway.web.i18n import word

log = structlog.get_logger("gateway.web")

# Sign-ins run on threads of their own: one waiting for its turn at a password check
# (`[web] password_checks_at_once`) holds its thread meanwhile, and on the threadpool the
# pages share, a flood of sign-ins from outside left the clerks' pages waiting behind
# it. A few more threads than checks, so that the sign-ins after them wait at the check
# (and its database work goes on meanwhile). A sign-in waits at most `[web]
# password_check_wait_seconds` for one of these threads too, then is told the desk is
# busy, with that wait (rounded up) as its Retry-After.
SIGN_IN_THREADS_BESIDE_CHECKS = 4


# --- sign-in -----------------------------------------------------------------------

def _login_page(desk: Desk, request: Request, message: str | None = None, status: int = 200,
                form: FormData | None = None) -> Response:
    """The sign-in form; after a refusal, with the name as typed (never the password): until
    session 53 a mistyped password gave the form back empty, the name to be typed again."""
    csrf = secrets.token_urlsafe(32)
    username = str((form or {}).get("username") or "")[:200]
    response = desk.render(request, None, "login.html", status=status, csrf=csrf, message=message,
                           username=username)
    response.set_cookie(desk.login_csrf_cookie, csrf, httponly=True, secure=desk.web.cookie_secure,
                        samesite="strict", path="/", max_age=3600)
    return response


def login_routes(desk: Desk) -> list[Route]:
    # Made on the first sign-in: anyio makes a limiter only inside the running event loop.
    sign_in_gate: list[asyncio.Semaphore] = []
    sign_in_threads: list[anyio.CapacityLimiter] = []

    async def login_get(request: Request) -> Response:
        chosen = request.query_params.get("lang")
        if chosen in ("th", "en"):
            # The sign-in page's own language switch (the top bar's needs a session):
            # until session 54 a person who reads English met the sign-in page and its
            # refusals in Thai, with no way to change them before signing in.
            response = RedirectResponse("/login", status_code=303)
            response.set_cookie(LANG_COOKIE, chosen, httponly=True, secure=desk.web.cookie_secure,
                                samesite="strict")
            return response
        return await run_in_threadpool(_login_page, desk, request)

    async def login_post(request: Request) -> Response:
        length = request.headers.get("content-length")
        if length is None or not length.isdigit() or int(length) > 16 * 1024:
            return await run_in_threadpool(_login_page, desk, request, None, 413)
        form = await request.form(max_files=0, max_fields=10, max_part_size=4096)
        started = time.monotonic()
        if not sign_in_gate:
            threads = desk.web.password_checks_at_once + SIGN_IN_THREADS_BESIDE_CHECKS
            sign_in_gate.append(asyncio.Semaphore(threads))
            sign_in_threads.append(anyio.CapacityLimiter(threads))
        try:
            await asyncio.wait_for(sign_in_gate[0].acquire(), desk.web.password_check_wait_seconds)
        except asyncio.TimeoutError:
            response = await run_in_threadpool(_busy_page, request, form)
        else:
            try:
                # The gate admits no more than the limiter's threads, so this never waits.
                response = await anyio.to_thread.run_sync(_login, request, form, limiter=sign_in_threads[0])
            finally:
                sign_in_gate[0].release()
        if response.status_code in (401, 503):
            # Every refused sign-in answers at the same moment after it began, whatever
            # was done for it: a known name's wrong password commits two transactions
            # (its count) that an unknown name's does not, and LDAP answers in its own
            # time; measured, that told a guesser which names exist. Awaited, not slept in
            # a thread: the wait holds no worker of the threadpool.
            await asyncio.sleep(max(0.0, started + REFUSED_SIGN_IN_SECONDS - time.monotonic()))
        return response

    def _login(request: Request, form: FormData) -> Response:
        lang = "en" if request.cookies.get(LANG_COOKIE) == "en" else "th"
        # Double-submit: a form posted from elsewhere has no way to know the cookie.
        if not same(str(form.get("csrf") or ""), request.cookies.get(desk.login_csrf_cookie)):
            log.warning("web_csrf_refused", path="/login")
            return _login_page(desk, request, word("csrf", lang), 403, form)
        client = request.client.host if request.client else "?"
        try:
            token = desk.auth.sign_in(str(form.get("username") or ""), str(form.get("password") or ""),
                                      client, lang)
        except SignInRefused as refused:
            if refused.key == "sign_ins_busy":
                return _busy_page(request, form)
            status = {"too_many_attempts": 429, "directory_unavailable": 503}.get(refused.key, 401)
            return _login_page(desk, request, word(refused.key, lang), status, form)
        except Exception as exc:
            if not database_busy(exc):
                raise
            # Not a wrong password: no attempt is counted (the transaction that would
            # count it is the one that could not start), and the person is told why.
            response = _login_page(desk, request, word("register_busy_text", lang), 503, form)
            log_busy(request, None, exc)
            response.headers["Retry-After"] = BUSY_RETRY_AFTER
            return response
        _end_replaced_session(request.cookies.get(desk.session_cookie))
        response = RedirectResponse("/register", status_code=303)
        set_session_cookie(desk, response, token)
        response.delete_cookie(desk.login_csrf_cookie, path="/", secure=desk.web.cookie_secure,
                               httponly=True, samesite="strict")
        return response

    def _busy_page(request: Request, form: FormData) -> Response:
        lang = "en" if request.cookies.get(LANG_COOKIE) == "en" else "th"
        client = request.client.host if request.client else "?"
        log.warning("web_login_busy", client=client)
        response = _login_page(desk, request, word("sign_ins_busy", lang), 503, form)
        response.headers["Retry-After"] = str(math.ceil(desk.web.password_check_wait_seconds))
        return response

    def _end_replaced_session(old_token: str | None) -> None:
        """The session this browser carried before signing in again (another clerk's at a
        shared counter, or one whose token was seen): its cookie is replaced, so it ends on
        the server too. Until session 39 it lasted its hours, usable by whoever kept the
        token."""
        if not old_token:
            return
        from storage.users import end_session

        try:
            with desk.services.db.session() as session:
                end_session(session, token_digest(old_token))
        except Exception as exc:
            if not database_busy(exc):
                raise
            log.warning("web_replaced_session_not_ended", error=f"{type(exc).__name__}: {exc}"[:300])

    def logout(desk: Desk, request: Request, person: Person, form) -> Response:
        from storage.users import end_session

        try:
            with desk.services.db.session() as session:
                end_session(session, person.token_sha256)
        except Exception as exc:
            if not database_busy(exc):
                raise
            # Signed out all the same: the browser forgets the token (a shared computer
            # must not stay signed in); the row runs out after session_idle_minutes.
            log.warning("web_logout_not_recorded", username=person.username, error=f"{type(exc).__name__}: {exc}"[:300])
        log.info("web_logout", username=person.username)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(desk.session_cookie, path="/", secure=desk.web.cookie_secure,
                               httponly=True, samesite="strict")
        return response

    def logout_page(desk: Desk, request: Request, person: Person, form) -> Response:
        # A bookmarked or typed /logout: signing out changes state, so it takes the button
        # (a POST with the page's token); until session 35 this was "not found", and the
        # clerk, who thought they had signed out, had not.
        return desk.render(request, person, "logout.html")

    def language(desk: Desk, request: Request, person: Person, form) -> Response:
        from storage.users import set_session_lang

        lang = "en" if form.get("lang") == "en" else "th"
        with desk.services.db.session() as session:
            set_session_lang(session, person.token_sha256, lang)
        response = RedirectResponse(_back(request, form), status_code=303)
        response.set_cookie(LANG_COOKIE, lang, httponly=True, secure=desk.web.cookie_secure, samesite="strict")
        return response

    def thai_digits(desk: Desk, request: Request, person: Person, form) -> Response:
        from storage.users import set_thai_digits

        with desk.services.db.session() as session:
            set_thai_digits(session, person.user_id, form.get("on") == "1")
        return RedirectResponse(_back(request, form), status_code=303)

    async def home(request: Request) -> Response:
        return RedirectResponse("/register", status_code=303)

    return [
        Route("/", home),
        Route("/login", login_get, methods=["GET"]),
        Route("/login", login_post, methods=["POST"]),
        Route("/logout", page(desk, logout), methods=["POST"]),
        Route("/logout", page(desk, logout_page), methods=["GET"]),
        Route("/lang", page(desk, language), methods=["POST"]),
        Route("/digits", page(desk, thai_digits), methods=["POST"]),
    ]


def _back(request: Request, form) -> str:
    """The page a language or digits switch returns to, with its query (a filtered
    register stays filtered). Only a path of this site: browsers read "/\\host" as
    "//host", another site, so a backslash or a control character sends to the register.
    A path the desk answers only to a POST (a page drawn before session 43 named
    /letters/N/reveal) returns to the page above it (page_to_return_to)."""
    back = str(form.get("back") or "/register")[:2000]
    if not back.startswith("/") or back.startswith("//") or "\\" in back or any(ord(c) < 32 for c in back):
        return "/register"
    path, _, query = back.partition("?")
    return page_to_return_to(request, path, query)


def create_app(settings: Settings, services: Services | None = None) -> Starlette:
    from gateway.web import pages_letters, pages_more, pages_quarantine, pages_secret

    desk = Desk(settings, services)
    # Specific routes before pages_letters' catch-all POST /letters/{id}/{action}.
    routes = (login_routes(desk) + pages_secret.routes(desk) + pages_letters.routes(desk)
              + pages_quarantine.routes(desk) + pages_more.routes(desk))
    routes.append(Mount("/static", StaticFiles(directory=HERE / "static"), name="static"))

    async def http_error(request: Request, exc: HTTPException) -> Response:
        """Starlette's own answers (no route, wrong method, a form its parser refuses:
        too many fields or files, a part too large) as the desk's page in the person's
        language, not Starlette's English text/plain."""
        person = await run_in_threadpool(desk.auth.person, request.cookies.get(desk.session_cookie))
        lang = person.lang if person else request.cookies.get(LANG_COOKIE, "th")
        status = exc.status_code
        if status == 404:
            title, text = word("not_found", lang), word("not_found_text", lang)
        elif status == 405:
            # The address exists, for a form's button; "not found, or not yours to see"
            # sent a registrar who had just opened the letter looking for a permission.
            title, text = word("wrong_method", lang), word("wrong_method_text", lang)
        elif status == 413:
            title = text = word("too_large", lang)
        elif 400 <= status < 500:
            title, text = word("bad_request", lang), word("bad_request_text", lang)
        else:
            title, text = word("error", lang), word("error_text", lang)
        if status >= 400 and status not in (404, 405):
            log.warning("web_request_refused", path=request.url.path, status=status, why=str(exc.detail)[:200])
        response = desk.error(request, person, status, title, text)
        if status == 405 and exc.headers:
            response.headers["Allow"] = exc.headers.get("Allow", "")
        return response

    async def server_error(request: Request, exc: Exception) -> Response:
        if database_busy(exc):  # outside a page (e.g. Starlette's own answers' sign-in look-up)
            return desk.busy(request, None, exc)
        log.exception("web_handler_failed", path=request.url.path)
        return desk.error(request, None, 500, word("error"), word("error_text"))

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error, 500: server_error})
    # No redirect for a trailing slash: Starlette built its Location from the Host header,
    # before any sign-in (`GET /letters/3/` with `Host: evil.example` answered 307 to
    # http://evil.example/letters/3: session 38's red team). Such a path is not found.
    app.router.redirect_slashes = False
    app.state.desk = desk
    wrapped = SecurityHeaders(app, settings.web.cookie_secure)
    wrapped.desk = desk  # closed by the server (gateway/web/server.py)
    return wrapped  # type: ignore[return-value]
