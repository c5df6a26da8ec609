"""A parked letter sent back to the spool is tried at once, as a new letter (session 57).

The pipeline runner keeps each failing letter's back-off in memory (0.02 s here, by
default `poll_interval`, times 2 to the failures). A letter parked after its fifth
failure kept it: sent back once the fault was mended (`reprocess`, the desk's ตรวจซ้ำ),
its next tries counted on from the sixth and waited 2^6, 2^7 ... polls (up to five
minutes) before the runner looked at it again."""
from __future__ import annotations

from tests.daemon import Daemon, write_config
from tests.letters import letter
from tests.web.test_parked_letters import vault_refusing

LAT = "saraban.latkrabang@bangkok.go.th"


def _failures(d: Daemon, queue_id: str) -> list[int]:
    return [e.get("attempt") for e in d.events()
            if e.get("event") == "process_failed" and e.get("queue_id") == queue_id]


def _parked(d: Daemon, queue_id: str) -> bool:
    spool = d.data_dir / "spool"
    return (spool / "failed" / f"{queue_id}.msg").exists() and not (spool / "new" / f"{queue_id}.msg").exists()


def test_a_letter_sent_back_after_parking_starts_its_back_off_over(tmp_path):
    d = Daemon(write_config(tmp_path)).start()
    try:
        with vault_refusing(d.data_dir):
            queue_id = d.send(letter(subject="พักไว้แล้วตรวจซ้ำ"), LAT)
            # Parked once its file is out of the spool, sealed in spool/failed/ (the event
            # comes before the move, which makes the gateway key first: seconds under load).
            d.wait_for(lambda: _parked(d, queue_id), 90, what="the letter parked")
            assert _failures(d, queue_id) == [1, 2, 3, 4, 5]
            # Sent back with the fault still there: the command's own try fails, and the
            # daemon's runner takes it from the spool as a letter it has not seen fail.
            # (The command's own try and the runner's may come in either order.)
            again = d.cli("reprocess", queue_id, "--reason", "ลองอีกครั้ง", check=False)
            assert "Traceback" not in again.stdout + again.stderr
            d.wait_for(lambda: len(_failures(d, queue_id)) >= 6, 60, what="the runner's first try after it")
            assert _failures(d, queue_id)[5] == 1, _failures(d, queue_id)
            d.wait_for(lambda: sum(e.get("event") == "message_parked" and e.get("queue_id") == queue_id
                                   for e in d.events()) == 2 and _parked(d, queue_id), 90, what="parked again")
        d.cli("reprocess", queue_id, "--reason", "แก้ไขแล้ว")  # mended: registered now
        d.wait_idle()
        assert [e["receive_no"].split("/")[0] for e in d.register()] == ["1"]
    finally:
        d.stop()
