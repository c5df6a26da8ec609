"""Two gateways on one PostgreSQL (the documented set-up for two MX hosts), attacked
(session 20): the same letter sent to both at once, and the CLI of one gateway asked
about a letter the other received (its bytes live in the other's data directory).

One pair of real daemons and one real database for the module; SMTP over loopback."""
from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import create_engine, text

from tests.classified.helpers import LATKRABANG, MARKER, add_registrar, make_gateway_key
from tests.daemon import Daemon, write_config
from tests.letters import SEED_DATE, SEED_REFERENCE, letter as _letter, make_pdf

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
    a = Daemon(write_config(root / "a", database_url=url, extra=POLICY))
    b = Daemon(write_config(root / "b", database_url=url, extra=POLICY))
    make_gateway_key(a)
    add_registrar(a)
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
        with engine.connect() as probe:
            a.wait_for(lambda: probe.execute(waiting).scalar() >= 2, 30, 0.05, "both gateways to wait")
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

    # On the gateway that received it, all of it works.
    shown = a.cli("quarantine", "show", str(entry["id"])).stdout
    assert "scan0001.pdf" in shown
    out = a.cli("quarantine", "release", str(entry["id"]), "--reason", "ผอ.สั่งรับ").stdout
    assert "registered as" in out
