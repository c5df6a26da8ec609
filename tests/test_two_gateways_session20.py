"""Two gateways on one PostgreSQL (the documented set-up for two MX hosts), attacked
(session 20): the same letter sent to both at once, and the CLI of one gateway asked
about a letter the other received (its bytes live in the other's data directory).

One pair of real daemons and one real database for the module; SMTP over loopback."""
from __future__ import annotations

import json
import os
import signal
import threading
import zlib

import pytest
from sqlalchemy import create_engine, text

from tests.classified.helpers import LATKRABANG, MARKER, add_registrar, make_gateway_key
from tests.daemon import Daemon, free_port, write_config
from tests.letters import SEED_DATE, SEED_REFERENCE, letter as _letter, make_pdf
from tests.web.client import signed_in
from tests.web.conftest import add_users

# Held when a file is misnamed, so that there is a held letter to show and release.
POLICY = '[rules.policy]\nnaming = "reject"\n'
NAME = "2565_dds_0407_57.pdf"  # what the seed letter's ที่ and วันที่ ask for
DB = "twogw_s20"
HERE_NOT = "not in this gateway's data directory"
HERE_NOT_TH = "ไม่ได้เก็บไว้ที่เครื่องนี้"


def letter(**kwargs) -> bytes:
    kwargs.setdefault("files", [(NAME, make_pdf(kwargs.get("subject", "cover letter")))])
    return _letter(**kwargs)


@pytest.fixture(scope="module")
def pair(postgres_cluster, tmp_path_factory):
    url = postgres_cluster.create_database(DB)
    root = tmp_path_factory.mktemp("twogw")
    web_port = free_port()
    a = Daemon(write_config(root / "a", database_url=url, extra=POLICY))
    b = Daemon(write_config(root / "b", database_url=url,
                            extra=POLICY + f"[web]\nenabled = true\nport = {web_port}\n"))
    make_gateway_key(a)
    add_registrar(a)
    add_users(b.config, ("clerk", "clerk", "saraban.latkrabang"), ("reg", "registrar", "saraban.latkrabang"))
    b.desk_url = f"http://127.0.0.1:{web_port}"
    starters = [threading.Thread(target=d.start) for d in (a, b)]
    for thread in starters:
        thread.start()
    for thread in starters:
        thread.join(120)
    engine = create_engine(url)
    try:
        assert a.port and b.port, a.log_tail() + b.log_tail()
        yield a, b, engine
    finally:
        for d in (a, b):
            d.stop()
        engine.dispose()
        postgres_cluster.drop_database(DB)


def _outcome(engine, queue_id: str) -> str:
    with engine.connect() as conn:
        outcome = conn.execute(text("SELECT outcome FROM messages WHERE queue_id = :q"), {"q": queue_id}).scalar()
    return (outcome if isinstance(outcome, dict) else json.loads(outcome))[LATKRABANG]


def _entries(d, subject: str) -> list[dict]:
    return [e for e in d.register("--unit", "saraban.latkrabang") if e["mail_subject"] == subject]


def test_the_same_letter_sent_to_both_gateways_at_once_is_registered_once(pair):
    a, b, engine = pair
    first = letter(subject="ก่อน first")
    a.send(first, LATKRABANG)
    a.wait_idle()  # the unit's counter row exists now

    # A sender timed out at the first MX and sent the same bytes to the second: both
    # gateways decide it at the same moment. A clerk's transaction holding the counter
    # row makes both reach the register before either commits, every time.
    raw = letter(subject="ส่งซ้ำ resent at once")
    waiting = text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                   "AND wait_event_type IN ('Lock', 'Advisory')")
    with engine.connect() as holder:
        holder.execute(text("SELECT * FROM register_counters WHERE unit = 'saraban.latkrabang' FOR UPDATE"))
        qa = a.send(raw, LATKRABANG)
        qb = b.send(raw, LATKRABANG)

        def both_wait() -> bool:
            # A connection of its own each time: pg_stat_activity is read once per
            # transaction, and a probe in one transaction saw the first waiter alone forever.
            with engine.connect() as probe:
                return probe.execute(waiting).scalar() >= 2

        a.wait_for(both_wait, 60, 0.05, "both gateways to wait")
        holder.rollback()
    a.wait_idle()
    b.wait_idle()
    [entry] = _entries(b, "ส่งซ้ำ resent at once")  # main: two entries, two receive numbers
    outcomes = sorted([_outcome(engine, qa), _outcome(engine, qb)])
    assert outcomes == [f"duplicate of {entry['receive_no']}", f"registered {entry['receive_no']}"]

    # Sent again later through the other gateway, byte for byte: a duplicate too.
    qc = b.send(first, LATKRABANG)
    b.wait_idle()
    [registered] = _entries(a, "ก่อน first")
    assert _outcome(engine, qc) == f"duplicate of {registered['receive_no']}"
    numbers = sorted(e["number"] for e in a.register("--unit", "saraban.latkrabang"))
    assert numbers == list(range(1, len(numbers) + 1))


def test_a_letter_the_other_gateway_received_is_explained_not_a_traceback(pair, tmp_path):
    a, b, engine = pair
    plain = a.send(letter(subject="ที่ A เท่านั้น only at A"), LATKRABANG)
    body = (f"ลับ\nที่ {SEED_REFERENCE}\nวันที่ {SEED_DATE}\nเรื่อง แผน {MARKER}\n"
            "เรียน ผู้อำนวยการเขตลาดกระบัง\n")
    secret = a.send(letter(subject=f"ลับ แผน {MARKER}", body=body,
                           files=[(NAME, make_pdf(f"ลับ cover {MARKER}"))]), LATKRABANG)
    held = a.send(letter(subject="ขอเชิญประชุม held at A", files=[("scan0001.pdf", make_pdf("scan"))]),
                  LATKRABANG)
    a.wait_idle()

    def refused(*args: str) -> str:
        result = b.cli(*args, check=False)
        said = result.stdout + result.stderr
        assert result.returncode == 1 and "Traceback" not in said, said
        assert HERE_NOT in said and HERE_NOT_TH in said, said  # main: a traceback, "is missing"
        return said

    # B shows the register row (the database is shared) but not the bytes it lacks.
    assert "only at A" in b.cli("letter", "view", plain).stdout
    refused("letter", "export", plain, "--out", str(tmp_path / "x.eml"))
    assert not (tmp_path / "x.eml").exists()
    said = refused("letter", "view", secret, "--who", "somsri")
    assert MARKER not in said

    [entry] = [e for e in json.loads(b.cli("quarantine", "list", "--json").stdout) if e["queue_id"] == held]
    shown = b.cli("quarantine", "show", str(entry["id"])).stdout
    assert "not kept on this gateway" in shown and "files: none" not in shown  # main: "no files"
    said = refused("quarantine", "release", str(entry["id"]), "--reason", "ผอ.สั่งรับ")
    assert "classified" not in said  # main: "a classified letter kept sealed"
    refused("reprocess", held)

    # The desk on B: a sentence, not a 500 (the file) or "no files" (the held letter).
    with engine.connect() as conn:
        ids = dict(conn.execute(text("SELECT queue_id, id FROM letters WHERE queue_id IN (:p, :s)"),
                                {"p": plain, "s": secret}).all())
    clerk = signed_in(b.desk_url, "clerk")
    answer = clerk.get(f"/letters/{ids[plain]}/files/0")
    assert answer.status == 409 and HERE_NOT_TH in answer.text, (answer.status, answer.text[-600:])
    page = clerk.get(f"/quarantine/{entry['id']}").text
    assert "ไฟล์อยู่ที่เกตเวย์เครื่องที่รับหนังสือไว้" in page and "ไม่มีไฟล์แนบ" not in page
    registrar = signed_in(b.desk_url, "reg")
    answer = registrar.post(f"/letters/{ids[secret]}/reveal", {"confirm": "yes"})
    assert answer.status == 409 and HERE_NOT_TH in answer.text and MARKER not in answer.text

    # On the gateway that received it, all of it works.
    shown = a.cli("quarantine", "show", str(entry["id"])).stdout
    assert "scan0001.pdf" in shown
    out = a.cli("quarantine", "release", str(entry["id"]), "--reason", "ผอ.สั่งรับ").stdout
    assert "registered as" in out


def test_a_registrar_copy_is_left_to_the_gateway_that_sealed_it(pair):
    a, b, engine = pair
    [runner] = [e["pid"] for e in a.events() if e.get("event") == "runner_spawned" and e.get("runner") == "delivery"]
    body = (f"ลับ\nที่ {SEED_REFERENCE}\nวันที่ {SEED_DATE}\nเรื่อง แผนสอง {MARKER}\n"
            "เรียน ผู้อำนวยการเขตลาดกระบัง\n")
    os.kill(runner, signal.SIGSTOP)  # A's delivery runner paused: B has every chance to take A's copy
    try:
        secret = a.send(letter(subject=f"ลับ แผนสอง {MARKER}", body=body,
                               files=[(NAME, make_pdf(f"ลับ second {MARKER}"))]), LATKRABANG)
        with engine.connect() as conn:
            a.wait_for(lambda: conn.execute(text("SELECT count(*) FROM outbox WHERE kind = 'registrar' "
                                                 "AND queue_id = :q"), {"q": secret}).scalar(), 30, 0.05,
                       "the registrar copy to be owed")
        # B's delivery threads share items by queue id: a letter of B's own that falls to the
        # thread the registrar copy falls to, filed by B, means B looked at that copy too.
        threads = max(1, min(4, os.cpu_count() or 1))
        for n in range(30):
            mine = b.send(letter(subject=f"ของ B {n}"), LATKRABANG)
            if zlib.crc32(mine.encode()) % threads == zlib.crc32(secret.encode()) % threads:
                break
        b.wait_for(lambda: any(e.get("event") == "filed" and e.get("queue_id") == mine for e in b.events()),
                   60, 0.1, "B to file its own letter")
    finally:
        os.kill(runner, signal.SIGCONT)
    a.wait_for(lambda: any(e.get("event") == "filed_for_registrar" and e.get("queue_id") == secret
                           for e in a.events()), 60, 0.1, "A to file the registrar copy")
    # main: B took it, failed (no sealed copy, no registrar key there), put the registered
    # letter in quarantine and alerted the central unit that it was undeliverable.
    taken = [e for e in b.events() if e.get("queue_id") == secret]
    assert not taken, taken[:2]
    with engine.connect() as conn:
        alerts = conn.execute(text("SELECT count(*) FROM outbox WHERE kind = 'alert' AND queue_id = :q"),
                              {"q": secret}).scalar()
    assert alerts == 0
