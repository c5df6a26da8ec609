"""Red team session 19: the SMTP envelope, through the real daemon over loopback.

The envelope decides which unit's register gets a letter and whom the acknowledgement
answers. What was found and is fixed here:
* a unit named twice in one transaction (To: and Cc:, or two spellings) was two
  recipients: a held letter was held twice (the second hold failed the pipeline's
  batch, with an error in the log and an attempt counted), a registered one recorded
  itself as "duplicate of" its own receive number;
* `str.lower()` maps the Kelvin sign (U+212A) onto `k`: `saraban.lat\u212arabang@` and
  `@bang\u212aok.go.th` were taken as saraban.latkrabang@bangkok.go.th;
* `MAIL FROM:<>` reached the spool and the sender check as the text "<>", an address
  without a domain: SPF never judged the HELO name (RFC 7208 2.4), as documented;
* every refused RCPT was a log line, and nothing bounds refused RCPTs: one connection
  pipelined 1,800 a second (about 37 GB of log a day).
"""
from __future__ import annotations

import json
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.classified.helpers import db_rows
from tests.daemon import Daemon, free_port, write_config
from tests.hostile.smtp_raw import Raw
from tests.letters import letter
from tests.sender.zones import ATTACKER, zones
from tests.servers.dns import DnsServer

DOMAIN = "bangkok.go.th"
POMPRAP = f"saraban.pomprap@{DOMAIN}"
LATKRABANG = f"saraban.latkrabang@{DOMAIN}"
DINDAENG = f"saraban.dindaeng@{DOMAIN}"
# A sender whose SPF allows loopback and whose DMARC is p=none: its letters are
# registered, and the sender check tells what SPF judged.
SENDER = f"saraban@{ATTACKER}"


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("envelope")
    dns = DnsServer(zones(), tmp / "dns").start()
    port = free_port()
    extra = (f'[dns]\nnameservers = ["{dns.address}"]\ntimeout = 0.5\n'
             '[sender]\nrecheck_every = 0.3\ncheck_deadline = 3.0\n'
             f'[http]\nenabled = true\nport = {port}\n')
    # max_recipients = 3: a letter to a few units reaches the limit.
    d = Daemon(write_config(tmp / "gw", extra=extra, smtp_extra="max_recipients = 3")).start()
    d.metrics_url = f"http://127.0.0.1:{port}/metrics"
    yield d
    d.stop()
    dns.stop()


def session(d: Daemon, commands: list[str], data: bytes | None = None, ehlo: str = "probe.example") -> list[bytes]:
    """One raw SMTP session: the reply to each command (a letter's bytes: DATA and that
    letter, two replies), then to DATA and its end if `data` is given."""
    with Raw(d.port) as raw:
        assert raw.reply().startswith(b"220")
        assert raw.cmd(f"EHLO {ehlo}").startswith(b"250")
        replies = []
        for step in commands + ([data] if data is not None else []):
            if isinstance(step, bytes):
                replies.append(raw.cmd("DATA"))
                raw.send(step.replace(b"\r\n.", b"\r\n..") + b"\r\n.\r\n")
                replies.append(raw.reply())
            else:
                replies.append(raw.cmd(step.encode("utf-8")))
        raw.cmd("QUIT")
    return replies


def queue_id_of(reply: bytes) -> str:
    assert reply.startswith(b"250 2.0.0 queued as "), reply
    return reply.decode().rsplit(" ", 1)[-1]


def message(d: Daemon, queue_id: str) -> dict:
    [(mail_from, recipients, state, attempts, outcome, auth)] = db_rows(
        d, "select mail_from, recipients, state, attempts, outcome, sender_auth from messages where queue_id = ?",
        queue_id)
    return {"mail_from": mail_from, "recipients": json.loads(recipients), "state": state,
            "attempts": attempts, "outcome": json.loads(outcome or "{}"), "auth": json.loads(auth or "null")}


def test_a_unit_named_twice_is_one_recipient_held_once_or_registered_once(gw):
    d = gw
    mark = len(d.events())
    spellings = [f"<{POMPRAP}>", f"<{POMPRAP.upper()}>", f'<"saraban.pomprap"@{DOMAIN}>',
                 f"<@relay.example:{POMPRAP}>"]
    held_letter = letter(to=POMPRAP, sender=SENDER, message_id="<twice-held@x>",
                         files=[("setup.exe", b"MZ\x90\x00" + b"\x00" * 200)])
    replies = session(d, [f"MAIL FROM:<{SENDER}>"] + [f"RCPT TO:{s}" for s in spellings], held_letter)
    assert replies[1:5] == [b"250 2.1.5 OK"] * 4  # each spelling is the unit: all accepted
    held = queue_id_of(replies[-1])
    # The same unit in two spellings, then other units up to the limit (3), then the
    # first one again: still one recipient, so no 452 (the sender would send it again,
    # alone, a second letter); a fourth unit is 452, an unknown one 550.
    replies = session(d, [f"MAIL FROM:<{SENDER}>", f"RCPT TO:<{LATKRABANG}>", f"RCPT TO:<{LATKRABANG.upper()}>",
                          f"RCPT TO:<{POMPRAP}>", f"RCPT TO:<{DINDAENG}>", f"RCPT TO:<{LATKRABANG}>",
                          f"RCPT TO:<saraban.dds@{DOMAIN}>", f"RCPT TO:<saraban.nosuch@{DOMAIN}>"],
                      letter(to=LATKRABANG, sender=SENDER, message_id="<twice-ok@x>"))
    assert replies[1:6] == [b"250 2.1.5 OK"] * 5
    assert replies[6].startswith(b"452 4.5.3 too many recipients") and replies[6].isascii()
    assert replies[7].startswith(b"550 5.1.1 no such saraban address here")
    registered = queue_id_of(replies[-1])
    d.wait_idle()

    quarantined = message(d, held)
    assert (quarantined["state"], quarantined["attempts"]) == ("quarantined", 1)
    assert quarantined["outcome"] == {POMPRAP: "quarantined"}
    assert quarantined["recipients"] == [POMPRAP]
    assert len(db_rows(d, "select id from quarantine where queue_id = ?", held)) == 1
    done = message(d, registered)
    numbers = {f"{e['unit']}@{DOMAIN}": e["receive_no"] for e in d.register() if e["queue_id"] == registered}
    assert sorted(numbers) == [DINDAENG, LATKRABANG, POMPRAP]
    # Its own number for each unit, not "duplicate of" itself.
    assert done["outcome"] == {rcpt: f"registered {number}" for rcpt, number in numbers.items()}
    assert done["recipients"] == [LATKRABANG, POMPRAP, DINDAENG]
    notices = db_rows(d, "select key from outbox where kind = 'notice' and key like ?", f"%{registered}%")
    assert len(notices) == 3
    # The pipeline did not fail on the way (before: IntegrityError, the batch rolled back).
    failed = [e for e in d.events()[mark:] if e.get("event") in ("process_failed", "batch_rolled_back")]
    assert failed == []


@pytest.mark.parametrize("utf8", [False, True])
def test_a_letter_lower_maps_onto_ascii_is_not_a_units_address(gw, utf8):
    mail = f"MAIL FROM:<{SENDER}>" + (" SMTPUTF8" if utf8 else "")
    replies = session(gw, [mail, "RCPT TO:<saraban.lat\u212arabang@bangkok.go.th>",
                           "RCPT TO:<saraban.latkrabang@bang\u212aok.go.th>",
                           "RCPT TO:<SARABAN.LAT\u212aRABANG@BANG\u212aOK.GO.TH>"])
    assert replies[0] == b"250 2.1.0 OK"
    unknown, foreign, both = replies[1:]
    if not utf8:
        # Since session 40 a non-ASCII address without SMTPUTF8 is refused as such
        # (RFC 6531 3.4), before it is looked up at all
        # (tests/test_smtp_conformance_session40.py).
        for reply in replies[1:]:
            assert reply.startswith(b"553 5.6.7 non-ASCII address requires SMTPUTF8") and reply.isascii(), reply
        return
    assert unknown.startswith(b"550 5.1.1 no such saraban address here")
    assert foreign.startswith(b"550 5.7.1 relaying denied") and both.startswith(b"550 5.7.1 relaying denied")


def test_the_null_sender_is_judged_by_spf_of_its_helo_name(gw):
    """After a letter and a transaction given up (RSET) in the same session: nothing of
    theirs (sender, SMTPUTF8, recipients) is in the next one."""
    d = gw
    raw = letter(to=LATKRABANG, sender=SENDER, message_id="<null-sender@x>")
    replies = session(d, [f"MAIL FROM:<{SENDER}> SMTPUTF8 SIZE=1000000", f"RCPT TO:<{POMPRAP}>",
                          letter(to=POMPRAP, sender=SENDER, message_id="<before-null@x>"),
                          f"MAIL FROM:<other@{ATTACKER}>", f"RCPT TO:<saraban.dindaeng@{DOMAIN}>", "RSET",
                          "MAIL FROM:<>", f"RCPT TO:<{LATKRABANG}>", raw], ehlo=ATTACKER)
    assert replies[4:9] == [b"250 2.1.0 OK", b"250 2.1.5 OK", b"250 2.0.0 OK", b"250 2.1.0 OK", b"250 2.1.5 OK"]
    first, queue_id = queue_id_of(replies[3]), queue_id_of(replies[-1])
    d.wait_idle()
    assert message(d, first)["recipients"] == [POMPRAP]
    assert message(d, queue_id)["recipients"] == [LATKRABANG]
    [entry] = [e for e in d.register() if e["queue_id"] == queue_id]
    assert entry["sender_verified"] == f"ยืนยันผู้ส่ง: ผ่าน ({ATTACKER})"
    record = message(d, queue_id)
    assert (record["auth"]["spf"], record["auth"]["spf_domain"]) == ("pass", ATTACKER)
    assert record["mail_from"] == ""  # the null reverse-path, as IMAP intake records it
    # No acknowledgement for a null reverse-path (a bounce).
    [(payload,)] = db_rows(d, "select payload from outbox where kind = 'notice' and key like ?", f"%{queue_id}%")
    assert json.loads(payload)["suppressed"] == "null_sender"


def refused_count(d: Daemon, reason: str) -> float:
    with urllib.request.urlopen(d.metrics_url, timeout=30) as response:
        text = response.read().decode()
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == "saraban_rejected_total"
               and sample.labels == {"stage": "smtp", "reason": reason})


def test_a_flood_of_refused_recipients_is_counted_and_its_log_lines_bounded(gw):
    d = gw
    mark, before = len(d.events()), refused_count(d, "unknown_unit")
    count, batch = 2000, 200
    with Raw(d.port) as raw:
        assert raw.reply().startswith(b"220")
        raw.cmd("EHLO flood.example")
        assert raw.cmd(f"MAIL FROM:<{SENDER}>") == b"250 2.1.0 OK"
        started = time.monotonic()
        for first in range(0, count, batch):  # pipelined, read a batch at a time
            raw.send(b"".join(b"RCPT TO:<saraban.nosuch%d@bangkok.go.th>\r\n" % n
                              for n in range(first, first + batch)))
            replies = [raw.reply() for _ in range(batch)]
            assert all(r.startswith(b"550 5.1.1 no such saraban address here") for r in replies), replies[-1]
        elapsed = time.monotonic() - started
        assert raw.cmd(f"RCPT TO:<{POMPRAP}>") == b"250 2.1.5 OK"  # the session goes on

        after = []

        def logged_after():
            # Once the log may speak again, its next line says how many it left out.
            after.append(raw.cmd("RCPT TO:<saraban.nosuch-after@bangkok.go.th>"))
            return [e for e in d.events()[mark:] if e.get("rcpt") == "saraban.nosuch-after@bangkok.go.th"]
        d.wait_for(logged_after, timeout=30, what="a rcpt_refused line after the flood")
    logged = [e for e in d.events()[mark:] if e.get("event") == "rcpt_refused"]
    # 100 at once and 10 a second: not a line per RCPT (before: 2,000 lines).
    assert len(logged) <= 100 + 10 * (elapsed + 1), (len(logged), elapsed)
    assert logged[0]["rcpt"] == "saraban.nosuch0@bangkok.go.th" and logged[0]["reason"] == "unknown_unit"
    assert logged[-1]["not_logged"] > 0
    # Each refusal is a line or counted in the next line, and counted in the metrics.
    assert len(logged) + sum(e.get("not_logged", 0) for e in logged) == count + len(after)
    assert refused_count(d, "unknown_unit") - before == count + len(after)


def test_a_misspelt_saraban_address_is_an_unknown_unit_not_a_relay(gw):
    """Session 35's red team: `saraban.latkrabang+urgent` was told "relaying denied", which
    sends its sender looking for a relay problem; it is a saraban address, misspelt."""
    replies = session(gw, [f"MAIL FROM:<{SENDER}>", "RCPT TO:<saraban.latkrabang+urgent@bangkok.go.th>",
                           "RCPT TO:<Saraban.Latkrabang-@bangkok.go.th>", "RCPT TO:<postmaster.x@bangkok.go.th>"])
    plus, dash, other = replies[1:]
    assert plus.startswith(b"550 5.1.1 no such saraban address here") and dash.startswith(b"550 5.1.1")
    assert other.startswith(b"550 5.7.1 relaying denied")
