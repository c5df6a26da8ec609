"""Classified markings that cannot be dodged, over SMTP to the real daemon (issue 12,
"Classified letters: what must hold").

Each message carries an ASCII marker; after the run the whole data directory (spool,
spool/failed, vault, sealed store, Maildirs, database and its WAL), the daemon's log and
its temp directory are searched for it, literally and base64-encoded."""
from __future__ import annotations

import json

from tests.classified.helpers import (
    MARKER, add_registrar, db_rows, files_containing, log_lines_containing, make_gateway_key, maildir,
)
from tests.daemon import Daemon, write_config
from tests.hostile.markings_cases import ORDINARY, classified_cases, idiom_letter, nested, top_secret_cases

LAT = "saraban.latkrabang@bangkok.go.th"


def _daemon(tmp_path) -> tuple[Daemon, object]:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    d = Daemon(write_config(tmp_path / "gw"), env={"TMPDIR": str(tmp)})
    make_gateway_key(d)
    add_registrar(d)
    return d.start(), tmp


def _nothing_in_plaintext(d: Daemon, tmp) -> None:
    assert files_containing(d.data_dir, MARKER) == []
    assert files_containing(tmp, MARKER) == []
    assert log_lines_containing(d, MARKER) == []


def _send(d: Daemon, raw: bytes) -> tuple[int, str]:
    with d.smtp() as client:
        client.ehlo("dds.bangkok.go.th")
        client.mail("saraban.dds@bangkok.go.th")
        assert client.rcpt(LAT)[0] == 250
        code, reply = client.data(raw)
    return code, reply.decode()


def test_every_top_secret_marking_gets_550_at_data_and_nothing_is_written(tmp_path):
    d, tmp = _daemon(tmp_path)
    try:
        cases = top_secret_cases()
        answers = {name: _send(d, raw) for name, raw in cases.items()}
        wrong = {name: a for name, a in answers.items() if a[0] != 550 or not a[1].startswith("5.7.0")}
        assert wrong == {}, f"not refused at DATA: {wrong}"
        # ASCII for a client without SMTPUTF8 (RFC 5321); the Thai is in the notice
        assert all("LAB THI SUT" in text and "paper" in text and text.isascii() for _code, text in answers.values())
        status = d.wait_for(lambda: (s := d.status_here())["refused"].get("top_secret") == len(cases) and s,
                            what="every refusal counted")
        assert status["spool"]["pending"] == 0 and status["messages"] == {} and status["letters"] == 0
        assert list((d.data_dir / "spool" / "new").iterdir()) == []
        assert list((d.data_dir / "spool" / "failed").iterdir()) == []
        # The log says where the marking was, never what the letter says.
        where = sorted(e["where"] for e in d.events() if e.get("event") == "top_secret_refused")
        assert len(where) == len(cases) and "html" in where and "file 2 page 3" in where
        _nothing_in_plaintext(d, tmp)
    finally:
        d.stop()


def test_classified_letters_marked_oddly_are_sealed_and_the_idiom_is_not(tmp_path):
    d, tmp = _daemon(tmp_path)
    try:
        cases = classified_cases()
        queue_ids = {name: d.send(raw, LAT) for name, (_level, raw) in cases.items()}
        unmarked_nest = d.send(nested(1000, subject_word="แจ้ง"), LAT)
        d.wait_idle(timeout=120)
        rows = {q: (s, b) for q, s, b in db_rows(d, "select queue_id, secrecy, book from letters")}
        held = {q: json.loads(r) for q, r in db_rows(d, "select queue_id, reasons from quarantine")}
        for name, (level, _raw) in cases.items():
            qid = queue_ids[name]
            if name.startswith("1,000 nested"):
                # Unreadable: sealed and held, its headers' marking kept as the level.
                assert qid in held and [r["rule"] for r in held[qid]] == ["mime_parse"], name
            else:
                assert rows.get(qid) == (level, "secret"), (name, rows.get(qid))
            assert (d.data_dir / "secret" / qid / "raw.sgv").read_bytes()[:4] == b"SGV1", name
        # A letter nobody can read is sealed too, even with no marking in sight.
        assert unmarked_nest in held and (d.data_dir / "secret" / unmarked_nest / "raw.sgv").exists()
        assert maildir(d, "latkrabang") == []  # nothing in the unit's ordinary folder
        assert list((d.data_dir / "spool" / "failed").iterdir()) == []
        _nothing_in_plaintext(d, tmp)

        # ลับ ๆ ล่อ ๆ ("furtively") is an idiom: an ordinary letter, ordinary register.
        qid = d.send(idiom_letter(), LAT)
        d.wait_idle()
        [(secrecy, book)] = db_rows(d, "select secrecy, book from letters where queue_id = ?", qid)
        assert (secrecy, book) == ("none", "general")
        [ordinary] = maildir(d, "latkrabang")
        # The search finds what is there: the ordinary letter's marker, in its folder copy.
        assert str(ordinary.relative_to(d.data_dir)) in files_containing(d.data_dir, ORDINARY)
        _nothing_in_plaintext(d, tmp)
    finally:
        d.stop()
