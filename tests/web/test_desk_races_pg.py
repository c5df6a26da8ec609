"""Two people (or one person's two tabs, or a double click) deciding the same thing at
the same moment, on PostgreSQL, where transactions run side by side (SQLite's BEGIN
IMMEDIATE serialises every writer): a held letter is released or rejected once, a
register entry cancelled once, and parallel wrong passwords all count toward the
lock-out. The requests are fired from threads released together by a barrier."""
from __future__ import annotations

import os
import re
import threading
import time

import psycopg
import pytest

from tests.daemon import Daemon, free_port, write_config
from tests.letters import letter, make_pdf
from tests.notices.sink import Sink
from tests.web.client import Client, signed_in
from tests.web.conftest import PASSWORD, add_users

pytestmark = pytest.mark.postgres

LAT = "saraban.latkrabang@bangkok.go.th"
HELD = 6  # letters without a document, held for a person


class PgDesk:
    def __init__(self, daemon: Daemon, url: str, conninfo: str):
        self.daemon, self.url, self.conninfo = daemon, url, conninfo

    def db(self, sql: str, *params) -> list[tuple]:
        with psycopg.connect(self.conninfo) as con:
            return con.execute(sql.replace("?", "%s"), params).fetchall()


@pytest.fixture(scope="module")
def desk(postgres_cluster, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("desk_pg")
    name = f"desk_races_{os.getpid()}"
    database_url = postgres_cluster.create_database(name)
    sink = Sink(free_port()).start()
    web_port = free_port()
    config = write_config(tmp, database_url=database_url, extra=(
        f'[notices]\nsmarthost = "{sink.address}"\n[web]\nenabled = true\nport = {web_port}\n'
        'trusted_proxies = ["127.0.0.1"]\n'))  # the clients below pose as addresses behind the proxy
    daemon = Daemon(config)
    add_users(config, ("a", "clerk", "saraban.latkrabang"), ("b", "clerk", "saraban.latkrabang"),
              ("c", "clerk", "saraban.latkrabang"), ("guessed", "clerk", "saraban.latkrabang"))
    daemon.start()
    for n in range(HELD):
        daemon.send(letter(subject=f"ไม่มีไฟล์ {n}", files=[]), LAT)
    daemon.send(letter(subject="หนังสือธรรมดา", files=[("a.pdf", make_pdf("a"))]), LAT)
    # (the cancellation race below cancels the first: a cancelled entry takes no assignment)
    daemon.send(letter(subject="หนังสือธรรมดา สอง", files=[("b.pdf", make_pdf("b"))]), LAT)
    daemon.wait_idle(120)
    yield PgDesk(daemon, f"http://127.0.0.1:{web_port}", postgres_cluster.conninfo(name))
    daemon.stop()
    sink.stop()
    postgres_cluster.drop_database(name)


def at_once(*calls) -> list:
    """Run the calls in threads released together; their results in order."""
    gate = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(n, call):
        gate.wait()
        results[n] = call()

    threads = [threading.Thread(target=run, args=(n, call)) for n, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    return results


def clerks(desk) -> list[Client]:
    return [signed_in_from(desk.url, user, f"10.1.0.{n}") for n, user in enumerate("abc", start=1)]


def signed_in_from(url: str, username: str, address: str) -> Client:
    client = Client(url, forwarded_for=address)
    answer = client.sign_in(username)
    assert answer.status == 303, (username, answer.status, answer.errors())
    return client


def failures(desk) -> list[dict]:
    return [e for e in desk.daemon.events() if e.get("event") in ("web_handler_failed",
                                                                   "web_quarantine_decision_failed")]


def held_ids(desk) -> list[int]:
    return [i for (i,) in desk.db("SELECT id FROM quarantine WHERE state = 'held' ORDER BY id")]


def decision(client: Client, action: str, quarantine_id: int, reason: str):
    return lambda: client.post("/quarantine", [("action", action), ("id", str(quarantine_id)), ("reason", reason)])


def test_three_releases_of_one_held_letter_register_it_once(desk):
    a, b, c = clerks(desk)
    entry = held_ids(desk)[0]
    answers = at_once(*(decision(x, "release", entry, "ดับเบิลคลิก") for x in (a, b, c)))
    assert [x.status for x in answers] == [200, 200, 200]  # no 500 page
    [queue_id] = [q for (q,) in desk.db("SELECT queue_id FROM quarantine WHERE id = ?", entry)]
    [(number,)] = desk.db("SELECT number FROM letters WHERE queue_id = ?", queue_id)
    outcomes = sorted(o for x in answers for o in x.outcomes())
    released = [o for o in outcomes if "รับเข้าทะเบียนแล้ว" in o]
    refused = [o for o in outcomes if "รับเข้าทะเบียนไปแล้ว" in o]
    assert len(released) == 1 and released[0].endswith(f" {number}/{this_year(desk)}"), outcomes
    assert len(refused) == 2 and all(f"ไปแล้ว เลขรับ {number}/" in o for o in refused), outcomes
    assert desk.db("SELECT count(*) FROM operator_actions WHERE quarantine_id = ?", entry) == [(1,)]
    assert not failures(desk)


def this_year(desk) -> int:
    from tests.tools_helpers import this_be_year

    return this_be_year()


def test_release_and_reject_of_one_held_letter_decide_it_once(desk):
    a, b, c = clerks(desk)
    warm = held_ids(desk)[0]
    started = time.perf_counter()
    assert a.post("/quarantine", [("action", "release"), ("id", str(warm)), ("reason", "warm")]).status == 200
    took = time.perf_counter() - started
    for entry in held_ids(desk):
        def reject_later(delay: float, client: Client):
            def call():
                time.sleep(delay)
                return decision(client, "reject", entry, "ส่งซ้ำ")()
            return call
        # rejects spread over the time a release takes: some land inside its transaction
        calls = [decision(a, "release", entry, "ผอ.สั่งให้รับ")] + [
            reject_later(took * (0.2 + 0.06 * n), (b, c)[n % 2]) for n in range(14)]
        answers = at_once(*calls)
        assert all(x.status == 200 for x in answers), [x.status for x in answers]
        accepted = [o for x in answers for o in x.outcomes() if "ไปแล้ว" not in o]
        assert len(accepted) == 1, (entry, accepted)
        [(state, queue_id)] = desk.db("SELECT state, queue_id FROM quarantine WHERE id = ?", entry)
        letters = desk.db("SELECT number FROM letters WHERE queue_id = ?", queue_id)
        actions = [x for (x,) in desk.db("SELECT action FROM operator_actions WHERE quarantine_id = ? ORDER BY id",
                                         entry)]
        if state == "released":
            assert "รับเข้าทะเบียนแล้ว" in accepted[0] and len(letters) == 1 and actions == ["quarantine_released"]
        else:
            assert state == "rejected" and accepted[0].endswith("ปฏิเสธแล้ว") and letters == [], (letters, actions)
            assert actions == ["quarantine_rejected"]
    assert not failures(desk)


def test_three_cancels_of_one_entry_cancel_it_once(desk):
    a, b, c = clerks(desk)
    [(letter_id,)] = desk.db("SELECT id FROM letters WHERE subject = 'หนังสือธรรมดา'")
    answers = at_once(*(lambda x=x: x.post(f"/letters/{letter_id}/cancel", {"reason": "ซ้ำ"}) for x in (a, b, c)))
    assert sorted(x.status for x in answers) == [303, 409, 409]
    for refused in (x for x in answers if x.status == 409):
        assert any("ยกเลิกไปแล้ว" in e for e in refused.errors()), refused.errors()
    assert desk.db("SELECT count(*) FROM operator_actions WHERE action = 'register_cancelled' AND letter_id = ?",
                   letter_id) == [(1,)]
    assert desk.db("SELECT status FROM letters WHERE id = ?", letter_id) == [("cancelled",)]
    assert not failures(desk)


def test_a_note_and_an_assignment_sent_at_once_are_each_recorded_once(desk):
    """Session 50: the form says what its page showed (`seen`), and the entry's row is
    locked while one is saved; without the lock, transactions side by side each saw no
    note yet and each added one."""
    from tests.web.test_desk_session50 import form_fields

    a, b, c = clerks(desk)
    [(letter_id,)] = desk.db("SELECT id FROM letters WHERE subject = 'หนังสือธรรมดา สอง'")
    path = f"/letters/{letter_id}"
    note = form_fields(a.get(path), f"{path}/note")
    answers = at_once(*(lambda: a.post(f"{path}/note", {**note, "note": "ดับเบิลคลิก"}, csrf=False)
                        for _ in range(4)))
    assert [x.status for x in answers] == [303] * 4
    assert desk.db("SELECT count(*) FROM letter_notes WHERE letter_id = ?", letter_id) == [(1,)]
    assert desk.db("SELECT count(*) FROM operator_actions WHERE action = 'letter_note_added' AND letter_id = ?",
                   letter_id) == [(1,)]

    pages = [form_fields(x.get(path), f"{path}/assign") for x in (b, c)]  # both drawn before either saves
    answers = at_once(lambda: b.post(f"{path}/assign", {**pages[0], "department": "กองคลัง"}, csrf=False),
                      lambda: c.post(f"{path}/assign", {**pages[1], "department": "กองช่าง"}, csrf=False))
    assert sorted(x.status for x in answers) == [303, 409]
    [saved] = desk.db("SELECT department FROM letter_assignments WHERE letter_id = ?", letter_id)
    [refused] = [x for x in answers if x.status == 409]
    assert saved[0] in refused.errors()[0]
    assert not failures(desk)



def test_one_paper_letter_imported_by_three_at_once_is_registered_once_without_a_failure(desk):
    """Session 53: the emergency form's ลงทะเบียน sent by two clerks (or a double click)
    with the same row: each looked for the row's entry, found none, and added it; the
    first was registered and the others were the desk's 500 page ("ระบบขัดข้อง"), a
    unique violation in the log. Now the unit's registrations are locked before the look,
    so the others find the first's entry and say it is in the register."""
    fields = [("unit", "saraban.latkrabang"), ("received_at", "5/3/2569 09.25"), ("sender", "สำนักการคลัง"),
              ("emergency_no", "ปท 0013 / ฉ 531"), ("subject", "หนังสือกระดาษ S53 พร้อมกัน"), ("do", "import")]
    people = clerks(desk)
    for person in people:
        person.csrf()  # read before, not while they race
    answers = at_once(*(lambda p=p: p.post_multipart("/emergency", fields, [("scans", "scan.pdf", make_pdf("scan"))])
                        for p in people))
    assert [x.status for x in answers] == [200] * 3, [x.errors() for x in answers]
    [(number,)] = desk.db("SELECT number FROM letters WHERE subject = 'หนังสือกระดาษ S53 พร้อมกัน'")
    lines = [re.sub(r"<[^>]+>", "", re.search(r'<ul class="results">(.*?)</ul>', x.text, re.S)[1]).strip()
             for x in answers]
    assert sorted(line.endswith("(มีในทะเบียนแล้ว)") for line in lines) == [False, True, True], lines
    assert all(f"เลขทะเบียนรับ {number}/2569" in line for line in lines), lines
    assert not failures(desk)

def test_wrong_passwords_in_parallel_all_count_and_lock_the_account(desk):
    guesses = []
    for n in range(18):  # each from its own address: the per-address limit is not what stops them
        client = Client(desk.url, forwarded_for=f"10.2.0.{n + 1}")
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
        guesses.append((client, token))

    def guess(n: int):
        client, token = guesses[n]
        return lambda: client.post("/login", {"username": "guessed", "password": f"wrong guess {n}",
                                              "csrf": token}, csrf=False)

    answers = at_once(*(guess(n) for n in range(18)))
    assert [x.status for x in answers] == [401] * 18
    assert all(x.errors() == ["ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง"] for x in answers)
    [(locked_until,)] = desk.db("SELECT locked_until FROM desk_users WHERE username = 'guessed'")
    assert locked_until is not None
    # at most max_failed_logins (5) of the guesses were checked against the password
    checked = [e for e in desk.daemon.events() if e.get("event") == "web_login_failed"
               and e.get("username") == "guessed" and e.get("why") != "locked"]
    assert len(checked) <= 5, len(checked)
    right = Client(desk.url, forwarded_for="10.2.1.1").sign_in("guessed", PASSWORD)
    assert right.status == 401  # locked: the right password too late


def test_parallel_attempts_are_counted_in_the_database_not_in_python(postgres_database_url):
    """storage/users.py alone: of 18 attempts claimed at once, 5 may check a password;
    after 5 wrong ones (sequential, as before) the account is locked and counting starts
    again; a success resets the count."""
    import datetime as dt

    from storage.db import Database
    from storage.users import add_user, claim_attempt, find_user, record_failed_login, record_login

    db = Database(postgres_database_url)
    lock_for = dt.timedelta(minutes=15)
    try:
        db.create_schema()
        with db.session() as session:
            user_id = add_user(session, "guessed", "clerk", ["saraban.latkrabang"], None).id

        def claim():
            with db.session() as session:
                return claim_attempt(session, user_id, 5, lock_for)

        assert sorted(at_once(*([claim] * 18))) == [False] * 13 + [True] * 5
        with db.session() as session:
            user = find_user(session, "guessed")
            assert user.locked_until is not None and user.failed_logins == 0
            record_login(session, user)  # `users passwd` unlocks the same way
        for n in range(5):
            assert claim()
            with db.session() as session:
                assert record_failed_login(session, user_id, 5, lock_for) == (n == 4)
        assert not claim()  # locked
    finally:
        db.dispose()
