"""A plain HTTP client for the desk's tests (no browser): cookies by hand, forms
urlencoded or multipart, the CSRF token read from the pages."""
from __future__ import annotations

import html
import http.client
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from tests.web.conftest import PASSWORD

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def errors(self) -> list[str]:
        """The error sentences of the page (<p class="error">)."""
        return [html.unescape(t) for t in re.findall(r'<p class="error"[^>]*>(.*?)</p>', self.text, re.S)]

    def outcomes(self) -> list[str]:
        """Each held entry's outcome after release/reject."""
        return [html.unescape(re.sub(r"<[^>]+>", "", t))
                for t in re.findall(r'<li class="(?:ok|error)">(.*?)</li>', self.text, re.S)]


class Client:
    def __init__(self, url: str, forwarded_for: str | None = None):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        # A desk configured to trust 127.0.0.1 as its proxy ([web] trusted_proxies) takes
        # X-Forwarded-For: a test posing as its own client address has its own sign-in limit.
        self.forwarded_for = forwarded_for
        self.cookies: dict[str, str] = {}
        self._csrf: str | None = None

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Answer:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
        try:
            sent = dict(headers or {})
            if self.forwarded_for:
                sent["X-Forwarded-For"] = self.forwarded_for
            if self.cookies:
                sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            answer = Answer(response.status, response.getheaders(), response.read())
        finally:
            conn.close()
        for name, value in answer.headers:
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                kept = rest.split(";")[0]
                if kept in ("", '""') or "max-age=0" in value.lower():
                    self.cookies.pop(key, None)
                else:
                    self.cookies[key] = kept
        return answer

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def csrf(self) -> str:
        if self._csrf is None:
            self._csrf = _CSRF.search(self.get("/register").text).group(1)
        return self._csrf

    def post(self, path: str, form: dict | list, csrf: bool = True) -> Answer:
        items = list(form.items()) if isinstance(form, dict) else list(form)
        if csrf:
            items.append(("csrf", self.csrf()))
        return self.request("POST", path, urlencode(items).encode(),
                            {"Content-Type": "application/x-www-form-urlencoded"})

    def post_multipart(self, path: str, fields: list[tuple[str, str]],
                       files: list[tuple[str, str, bytes]] = ()) -> Answer:
        boundary = uuid.uuid4().hex
        out = b""
        for key, value in list(fields) + [("csrf", self.csrf())]:
            out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n').encode()
        for key, name, data in files:
            out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"; filename="{name}"\r\n'
                    "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
        out += f"--{boundary}--\r\n".encode()
        return self.request("POST", path, out, {"Content-Type": f"multipart/form-data; boundary={boundary}"})

    def sign_in(self, username: str, password: str = PASSWORD) -> Answer:
        token = _CSRF.search(self.get("/login").text).group(1)
        self._csrf = None
        return self.post("/login", {"username": username, "password": password, "csrf": token}, csrf=False)


def signed_in(url: str, username: str) -> Client:
    client = Client(url)
    answer = client.sign_in(username)
    assert answer.status == 303, (username, answer.status, answer.errors())
    return client


def login_form(port: int, source: str) -> tuple[str, str]:
    """(the form's token, its cookie), fetched from `source` as a browser does first."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120, source_address=(source, 0))
    try:
        conn.request("GET", "/login")
        answer = conn.getresponse()
        body = answer.read().decode()
    finally:
        conn.close()
    cookie = next(v for k, v in answer.getheaders() if k.lower() == "set-cookie").split(";")[0]
    return _CSRF.search(body).group(1), cookie


def sign_ins_at_once(port: int, sources: list[str], lang: str = "th",
                     meanwhile: Callable[[], object] | None = None) -> list[tuple[int, str, str | None]]:
    """One wrong sign-in (user guess<i>) from each of `sources` (127.0.0.x), all sent at
    the same moment, in `lang`; `meanwhile` runs as they are sent. Their answers:
    (status, page, Retry-After)."""
    forms = [(source, *login_form(port, source)) for source in sources]
    barrier = threading.Barrier(len(forms) + 1)
    answers: list[tuple[int, str, str | None]] = []

    def guess(i: int) -> None:
        source, token, cookie = forms[i]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120, source_address=(source, 0))
        body = urlencode({"csrf": token, "username": f"guess{i}", "password": "wrong password 1"})
        barrier.wait()
        try:
            conn.request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded",
                                                  "Cookie": f"{cookie}; saraban_lang={lang}"})
            answer = conn.getresponse()
            answers.append((answer.status, answer.read().decode(), answer.getheader("Retry-After")))
        finally:
            conn.close()

    guesses = [threading.Thread(target=guess, args=(i,)) for i in range(len(forms))]
    for thread in guesses:
        thread.start()
    barrier.wait()
    if meanwhile is not None:
        meanwhile()
    for thread in guesses:
        thread.join(180)
    return answers


def temporary_files_mid_upload(clerk: Client, pid: int, year: int) -> list[str]:
    """The unlinked or unnamed files process `pid` holds open while all but the end of a
    1.3 MB scan posted to the emergency form has arrived: where Starlette spooled it."""
    import os
    import time
    from pathlib import Path

    def held() -> list[str]:
        found = []
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if "(deleted)" in target or "/#" in target:  # unlinked, or O_TMPFILE (never named)
                found.append(target)
        return found

    boundary = uuid.uuid4().hex
    body = b""
    for key, value in [("unit", "saraban.latkrabang"), ("emergency_no", "ลก 0403 / ฉ 032"),
                       ("received_at", f"{year}-01-03 09:40"), ("sender", "สำนักการคลัง"),
                       ("subject", "ขอส่งแผน"), ("do", "check"), ("csrf", clerk.csrf())]:
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
    body += (f'--{boundary}\r\nContent-Disposition: form-data; name="scans"; filename="big.jpg"\r\n'
             "Content-Type: image/jpeg\r\n\r\n").encode() + b"\xff\xd8\xff\xe0" + os.urandom(1_300_000)
    body += f"\r\n--{boundary}--\r\n".encode()
    conn = http.client.HTTPConnection(clerk.host, clerk.port, timeout=60)
    try:
        conn.putrequest("POST", "/emergency")
        for name, value in (("Content-Type", f"multipart/form-data; boundary={boundary}"),
                            ("Content-Length", str(len(body))),
                            ("Cookie", "; ".join(f"{k}={v}" for k, v in clerk.cookies.items()))):
            conn.putheader(name, value)
        conn.endheaders()
        conn.send(body[:-200])  # all but the end: Starlette has spooled the scan to a file
        deadline, seen = time.monotonic() + 20, []
        while time.monotonic() < deadline and not seen:
            seen = held()
            time.sleep(0.1)
        conn.send(body[-200:])
        answer = conn.getresponse()
        answer.read()
        assert answer.status < 500, answer.status
    finally:
        conn.close()
    return seen
