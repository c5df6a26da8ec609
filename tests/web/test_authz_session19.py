"""Red team of the desk, session 19: who may see and do what. Over plain HTTP against the
real daemon's desk (SQLite), one module desk for every case:

* A classified letter held in quarantine (its copy sealed, no subject kept) could be
  rejected by any clerk of the unit, or an administrator, none of whom may read it: the
  sender was told it was not registered; the page did not even say it was classified.
  Now only the unit's secret registrar decides on it; the others are told so in Thai and
  English and the entry stays held.
* A person moved to another unit, or no longer a secret registrar, kept the old rights:
  there was no command to change an account (`users add` refuses a taken name, and a
  disabled account could not come back). `users set` changes the role, units or name and
  ends the sessions, `users enable` undoes `users disable`.
* A form posted by nobody (no session) had its body read and parsed first, up to
  `max_upload_mb` (20 MB) with its files spooled to disk: now the answer comes first.
* A held letter's subject was shown as its Subject header came: a right-to-left override
  drew "ขออนุมัติ <U+202E>fdp.exe" as "ขออนุมัติ exe.pdf" in the held list and entry page,
  and on a classified letter revealed to its registrar (subject and sender's name); the
  register has always kept the subject without them.
* The sign-in limit per client address never forgot an address (below, without a desk).
"""
from __future__ import annotations

import html
import re

import pytest

from tests.letters import SEED_DATE, SEED_REFERENCE, letter, make_pdf
from tests.web.client import Client
from tests.web.conftest import Desk, running_desk

LAT = "saraban.latkrabang@bangkok.go.th"
DDS = "saraban.dds@bangkok.go.th"
LAT_SUBJECT, DDS_SUBJECT = "หนังสือเขตลาดกระบัง S19LAT", "หนังสือสำนักการระบายน้ำ S19DDS"
SEALED_MARKER = "S19SEALEDMARK"
RTL_SUBJECT = "ขออนุมัติจัดซื้อ \u202efdp.exe ด่วน\u0e34\u0e34\u0e34\u0e34\u0e34"  # and marks piled up
FORGED = "\u202efdp@evil.example"  # drawn as "elpmaxe.live@pdf"
SEALED_REFUSED_TH = "รายการนี้เป็นหนังสือลับ ผู้ที่รับเข้าทะเบียน ปฏิเสธ หรือตรวจซ้ำได้มีเพียงนายทะเบียนลับของหน่วยงาน"
_clients = 0


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    users = (("s19clerk", "clerk", "saraban.latkrabang"), ("s19admin", "admin"),
             ("s19reg", "registrar", "saraban.latkrabang"), ("s19finreg", "registrar", "saraban.latkrabang.fin"),
             ("s19mover", "clerk", "saraban.latkrabang"))
    # ลับ in the subject and the text, and nothing the desk registers (an HTML file only):
    # held, its copy sealed for the registrar (no subject, no file in the plain vault).
    sealed = letter(subject=f"ลับ แผนงาน {SEALED_MARKER}", body=f"ลับ\nเรื่อง แผนงาน {SEALED_MARKER}\n",
                    files=[("x.html", f"<html>{SEALED_MARKER}</html>".encode())])
    # an ordinary letter held for its HTML file, its subject with a right-to-left override
    rtl = letter(subject=RTL_SUBJECT, files=[("a.pdf", make_pdf("a")), ("p.html", b"<b>x</b>")])
    # The tests pose as clients behind the reverse proxy on this host (X-Forwarded-For):
    # each sign-in its own address, so the per-address limit is not what they meet.
    # a ลับ letter registered and sealed, its Subject and sender's name with overrides
    revealed = letter(subject=f"ลับ {RTL_SUBJECT} S19REVEAL",
                      body=f"ลับ\nที่ {SEED_REFERENCE}\nวันที่ {SEED_DATE}\nเรื่อง แผนงาน S19REVEAL\n",
                      files=[("r.pdf", make_pdf("ลับ cover letter S19REVEAL"))])
    revealed = revealed.replace(b"From: ", "From: =?utf-8?b?4oCuZml2ZQ==?= ".encode(), 1)  # "\u202efive"
    # registered and held, from an address whose local part starts with an override
    forged = [letter(subject=f"{subject} S19FROM", files=files).replace(b"saraban.dds@bangkok.go.th", FORGED.encode(), 1)
              for subject, files in (("ทะเบียน", [("f.pdf", make_pdf("f"))]), ("กักไว้", [("f.html", b"<b>f</b>")]))]
    letters = ((sealed, LAT), (rtl, LAT), (revealed, LAT), (forged[0], LAT), (forged[1], LAT), (letter(subject=LAT_SUBJECT, files=[("l.pdf", make_pdf("l"))]), LAT),
               (letter(subject=DDS_SUBJECT, to=DDS, files=[("d.pdf", make_pdf("d"))]), DDS))
    with running_desk(tmp_path_factory.mktemp("desk"), users, letters,
                      extra='trusted_proxies = ["127.0.0.1"]\n') as desk:
        yield desk


def client(desk: Desk, username: str) -> Client:
    global _clients
    _clients += 1
    signed = Client(desk.url, forwarded_for=f"10.19.0.{_clients}")
    answer = signed.sign_in(username)
    assert answer.status == 303, (username, answer.status, answer.errors())
    return signed


def held_id(desk: Desk, condition: str) -> int:
    [(entry_id,)] = desk.db(f"SELECT id FROM quarantine WHERE unit = 'saraban.latkrabang' AND {condition}")
    return entry_id


def words(page) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text)))


def test_only_the_units_secret_registrar_decides_on_a_classified_held_letter(desk):
    sealed = held_id(desk, "subject IS NULL")
    assert not desk.db("SELECT id FROM quarantine WHERE state = 'held' AND subject IS NULL AND id != ?", sealed)
    for username in ("s19clerk", "s19admin"):
        person = client(desk, username)
        page = person.get(f"/quarantine/{sealed}")
        assert page.status == 200 and SEALED_MARKER not in page.text
        assert "(หนังสือลับ)" in words(page) and SEALED_REFUSED_TH in words(page)
        assert 'value="reject"' not in page.text  # no buttons it would refuse
        listing = person.get("/quarantine")
        assert f'name="id" value="{sealed}"' not in listing.text and "(หนังสือลับ)" in words(listing)
        # the form posted all the same (an old page, a hand-made request)
        for action in ("reject", "release", "reprocess"):
            answer = person.post("/quarantine", {"action": action, "id": str(sealed), "reason": "ไม่ใช่ของเรา"})
            assert answer.status == 200 and answer.outcomes() == [f"#{sealed}: {SEALED_REFUSED_TH}"], answer.outcomes()
        assert desk.db("SELECT state FROM quarantine WHERE id = ?", sealed) == [("held",)]
    assert not desk.db("SELECT action FROM operator_actions WHERE quarantine_id = ?", sealed)

    # nor the registrar of the unit below (their secret book is their own unit's only)
    below = client(desk, "s19finreg")
    assert below.get(f"/quarantine/{sealed}").status == 404
    # the registrar of saraban.latkrabang decides
    registrar = client(desk, "s19reg")
    page = registrar.get(f"/quarantine/{sealed}")
    assert 'value="reject"' in page.text and SEALED_REFUSED_TH not in words(page)
    answer = registrar.post("/quarantine", {"action": "reject", "id": str(sealed), "reason": "ให้ส่งใหม่ทางลับ"})
    assert answer.outcomes() == [f"#{sealed}: ปฏิเสธแล้ว"], answer.outcomes()
    assert desk.db("SELECT state FROM quarantine WHERE id = ?", sealed) == [("rejected",)]
    assert desk.db("SELECT who FROM operator_actions WHERE quarantine_id = ?", sealed) == [("web:s19reg",)]


def test_a_senders_address_is_shown_with_its_override_written_out(desk):
    assert desk.db("SELECT sender FROM letters WHERE subject = 'ทะเบียน S19FROM'") == [(FORGED,)]
    [(letter_id,)] = desk.db("SELECT id FROM letters WHERE subject = 'ทะเบียน S19FROM'")
    [(entry,)] = desk.db("SELECT id FROM quarantine WHERE subject = 'กักไว้ S19FROM'")
    clerk = client(desk, "s19clerk")
    for path in ("/register", f"/letters/{letter_id}", "/quarantine", f"/quarantine/{entry}"):
        page = clerk.get(path)
        assert page.status == 200 and "\u202e" not in page.text and "\\u202efdp@evil.example" in page.text, path


def test_a_subject_is_shown_without_its_right_to_left_override(desk):
    """Held, and decrypted for the secret registrar."""
    entry = held_id(desk, "subject LIKE '%fdp.exe%'")
    clerk = client(desk, "s19clerk")
    for page in (clerk.get("/quarantine"), clerk.get(f"/quarantine/{entry}")):
        assert page.status == 200
        assert "\u202e" not in page.text and "ขออนุมัติจัดซื้อ fdp.exe ด่วนิ " in words(page)
    [(secret,)] = desk.db("SELECT id FROM letters WHERE book = 'secret'")
    opened = client(desk, "s19reg").post(f"/letters/{secret}/reveal", {"confirm": "yes"})
    assert opened.status == 200 and "S19REVEAL" in opened.text
    assert "\u202e" not in opened.text and "ขออนุมัติจัดซื้อ fdp.exe ด่วนิ S19REVEAL" in words(opened)


def test_an_account_moved_to_another_unit_loses_the_old_one_at_once(desk):
    lat_letter = desk.db("SELECT id FROM letters WHERE subject = ?", LAT_SUBJECT)[0][0]
    dds_letter = desk.db("SELECT id FROM letters WHERE subject = ?", DDS_SUBJECT)[0][0]
    mover = client(desk, "s19mover")
    assert LAT_SUBJECT in mover.get("/register").text and mover.get(f"/letters/{dds_letter}").status == 404

    moved = desk.daemon.cli("users", "set", "s19mover", "--role", "registrar", "--unit", "saraban.dds@bangkok.go.th")
    assert "role clerk -> registrar; units saraban.latkrabang -> saraban.dds" in moved.stdout
    old = mover.get(f"/letters/{lat_letter}")  # the session signed in before the move
    assert old.status == 303 and old.header("location") == "/login" and LAT_SUBJECT not in old.text
    mover = client(desk, "s19mover")
    assert mover.get(f"/letters/{lat_letter}").status == 404 and mover.get("/register?unit=saraban.latkrabang").status == 404
    assert DDS_SUBJECT in mover.get(f"/letters/{dds_letter}").text
    assert mover.get("/secret?unit=saraban.dds").status == 200 and mover.get("/secret?unit=saraban.latkrabang").status == 404

    refused = desk.daemon.cli("users", "set", "s19mover", "--unit", "saraban.nowhere", check=False)
    assert refused.returncode == 1 and "not in the unit directory: saraban.nowhere" in refused.stderr
    assert "Traceback" not in refused.stderr

    # disabled, then enabled again: the same account, signing in with its password
    desk.daemon.cli("users", "disable", "s19mover")
    assert mover.get("/register").status == 303
    assert Client(desk.url, forwarded_for="10.19.1.1").sign_in("s19mover").status == 401
    assert "enabled s19mover" in desk.daemon.cli("users", "enable", "s19mover").stdout
    assert DDS_SUBJECT in client(desk, "s19mover").get(f"/letters/{dds_letter}").text


def test_the_sign_in_limit_forgets_addresses_idle_for_a_minute(monkeypatch):
    """Each client address's attempts were pruned only when that address came back: an
    attacker with many addresses (an IPv6 network) grew the desk's memory for good, and
    past 10,000 addresses every sign-in scanned them all under one lock."""
    from gateway.web import auth

    clock = [1000.0]
    monkeypatch.setattr(auth.time, "monotonic", lambda: clock[0])
    limiter = auth.AttemptLimiter(per_minute=2)
    for n in range(3000):
        assert limiter.allow(f"2001:db8::{n:x}")
    assert len(limiter._seen) == 3000
    assert limiter.allow("2001:db8::1") and not limiter.allow("2001:db8::1")  # the limit still holds
    clock[0] += 61
    assert limiter.allow("192.0.2.7") and len(limiter._seen) == 1
    assert limiter.allow("2001:db8::1")  # its minute has passed too


def test_a_form_from_nobody_is_answered_before_its_body_is_read(desk):
    """The desk read and parsed a POST's body (up to max_upload_mb, its files spooled to
    disk) before it looked whether anyone had signed in: anyone who reached the port could
    make it take 20 MB a request. Now it answers at once, without waiting for the body."""
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(desk.url)
    for cookie in ("", "Cookie: __Host-saraban_session=not-a-session\r\n"):
        with socket.create_connection((url.hostname, url.port), timeout=20) as conn:
            conn.sendall((f"POST /emergency HTTP/1.1\r\nHost: {url.netloc}\r\n{cookie}"
                          "Content-Type: multipart/form-data; boundary=b19\r\n"
                          f"Content-Length: {15 * 1024 * 1024}\r\n\r\n--b19\r\n"
                          'Content-Disposition: form-data; name="scans"; filename="a.pdf"\r\n\r\n').encode()
                         + b"%PDF-1.4 " * 10000)  # the rest of the 15 MB never comes
            answer = b""
            while "การเข้าสู่ระบบหมดอายุ".encode() not in answer:  # on main: a timeout, the body awaited
                chunk = conn.recv(65536)
                if not chunk:
                    break
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 403") and "การเข้าสู่ระบบหมดอายุ".encode() in answer, answer[:300]


def test_expired_sessions_are_deleted_at_the_next_sign_in(desk):
    """Session 20: a clerk who closes the browser never signs out, and an expired
    session was deleted only when its own token came back: `desk_sessions` kept a row for
    every sign-in since the desk was installed. Now each sign-in deletes the expired
    ones (idle past `session_idle_minutes` or older than `session_hours`), anyone's."""
    import sqlite3

    stale, old = client(desk, "s19clerk"), client(desk, "s19admin")
    live = client(desk, "s19reg")
    con = sqlite3.connect(desk.daemon.data_dir / "saraban.db")
    with con:
        con.execute("UPDATE desk_sessions SET last_seen_at = '2020-01-01 00:00:00.000000' WHERE user_id = "
                    "(SELECT id FROM desk_users WHERE username = 's19clerk')")
        con.execute("UPDATE desk_sessions SET created_at = '2020-01-01 00:00:00.000000' WHERE user_id = "
                    "(SELECT id FROM desk_users WHERE username = 's19admin')")
    con.close()
    client(desk, "s19mover")  # anyone's sign-in

    def sessions(username: str) -> int:
        return desk.db("SELECT count(*) FROM desk_sessions s JOIN desk_users u ON u.id = s.user_id "
                       "WHERE u.username = ?", username)[0][0]

    assert sessions("s19clerk") == 0 and sessions("s19admin") == 0
    assert sessions("s19reg") >= 1 and live.get("/register").status == 200
    assert stale.get("/register").status == 303 and old.get("/register").status == 303


def test_the_units_secret_registrar_registers_a_classified_held_letter(desk):
    """Session 20: a held classified letter (kept sealed, no plaintext in the vault) could
    only be rejected: release refused it everywhere ("ask the unit's secret registrar",
    who then could not either), so its sender was told to send it again. Now the unit's
    secret registrar releases it at the desk: it is decrypted in memory (an entry in the
    secrecy audit log), checked, and registered in the secret book, sealed; nothing of
    it lands in plain on disk or in the log. A clerk still cannot."""
    from tests.classified.helpers import files_containing, log_lines_containing

    marker = "S20RELEASEMARK"
    raw = letter(subject=f"ลับ แผนงาน {marker}", body=f"ลับ\nเรื่อง แผนงาน {marker}\n",
                 files=[("x.html", f"<html>{marker}</html>".encode())])
    queue_id = desk.daemon.send(raw, "saraban.latkrabang@bangkok.go.th")
    desk.daemon.wait_for(lambda: desk.db("SELECT id FROM quarantine WHERE queue_id = ? AND state = 'held'", queue_id),
                         what="the letter held")
    [(entry,)] = desk.db("SELECT id FROM quarantine WHERE queue_id = ?", queue_id)

    clerk = client(desk, "s19clerk")
    refused = clerk.post("/quarantine", {"action": "release", "id": str(entry), "reason": "รับเข้า"})
    assert refused.outcomes() == [f"#{entry}: {SEALED_REFUSED_TH}"]

    registrar = client(desk, "s19reg")
    answer = registrar.post("/quarantine", {"action": "release", "id": str(entry), "reason": "นายทะเบียนลับรับเข้า"})
    [(letter_id, book, number, year, subject)] = desk.db(
        "SELECT id, book, number, year, subject FROM letters WHERE queue_id = ?", queue_id)
    assert answer.outcomes() == [f"#{entry}: รับเข้าทะเบียนแล้ว เลขรับ {number}/{year} (ทะเบียนหนังสือรับลับ)"], \
        answer.outcomes()  # its own book named (session 52)
    assert (book, subject) == ("secret", None)
    assert desk.db("SELECT state FROM quarantine WHERE id = ?", entry) == [("released",)]
    audit = (desk.daemon.data_dir / "audit" / "audit.log").read_text(encoding="utf-8")
    assert '"release_held"' in audit and "web:s19reg" in audit
    # only the registrar reads it, revealed from its seal
    opened = registrar.post(f"/letters/{letter_id}/reveal", {"confirm": "yes"})
    assert opened.status == 200 and marker in opened.text
    assert clerk.get(f"/letters/{letter_id}").status == 404
    assert files_containing(desk.daemon.data_dir, marker) == []
    assert log_lines_containing(desk.daemon, marker) == []
