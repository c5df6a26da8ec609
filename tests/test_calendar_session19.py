"""Red team of the calendar and the clock (session 19): which register year a letter is
numbered in and which day it carries, when the gateway's own clock is wrong and when
the sender's is.

The register year is the calendar year in Bangkok at the time of receipt (the
regulation's "ตลอดปีปฏิทิน", MISSION.md: "Receive numbers run per register through the
calendar year and restart at 1 each year"); docs/central-unit.md, "The register".

One daemon for the module, its clock set by each test (tests/clock/sitecustomize.py,
the machine's clock untouched), its notices to an SMTP sink, the machine's time zone
New York (the gateway's days and years are Bangkok's whatever the host's TZ is). The
tests run in the order written: the clock guard refuses a clock in a year before the
register's newest, so each test's years are later than the one's before."""
from __future__ import annotations

import datetime as dt
import json
import signal
import time

import pytest

from tests.daemon import Daemon, write_config
from tests.imap_helpers import intake_config, mailbox_flags
from tests.letters import letter, make_pdf, with_header
from tests.notices.conftest import notices_config
from tests.notices.sink import Sink
from tests.test_fidelity_red_team import sink  # noqa: F401 (the module's sink)
from tests.test_register_session16 import clock  # noqa: F401 (the module's clock)

BANGKOK = dt.timezone(dt.timedelta(hours=7))
LATKRABANG = "saraban.latkrabang@bangkok.go.th"
DINDAENG = "saraban.dindaeng@bangkok.go.th"
POMPRAP = "saraban.pomprap@bangkok.go.th"  # naming = "reject": a badly named letter is held
CLOCK_WRONG = "451 4.3.0 the receiving system's clock is wrong, the letter was not accepted; please try again later"


@pytest.fixture(scope="module")
def gw(tmp_path_factory, sink, clock):
    clock.set(dt.datetime(2031, 1, 1, 0, 30, tzinfo=BANGKOK))
    extra = notices_config(sink) + '[rules.unit_policy]\n"saraban.pomprap" = { naming = "reject" }\n'
    d = Daemon(write_config(tmp_path_factory.mktemp("calendar19"), extra=extra),
               env={**clock.env, "TZ": "America/New_York"}).start()
    yield d
    d.stop()


def _years(d: Daemon, unit: str) -> dict[int, list[str]]:
    """The unit's receive numbers by register year, in number order."""
    d.wait_idle()
    years: dict[int, list[str]] = {}
    for entry in d.register("--unit", unit):
        years.setdefault(entry["year"], []).append(entry["receive_no"])
    return years


def test_the_file_name_example_carries_this_years_number_not_the_senders_clock(gw, clock, sink):
    """A letter with no ลงวันที่ of its own, named letter.pdf, on New Year's morning
    (00:30 on 1 ม.ค. 2574, still 31 December in UTC and in New York). The example name
    in the acknowledgement took its year from the mail's Date: header: "2573_..." for a
    Date: in UTC (31 December there), "2562_..." from a PC set to 2019, a fixed
    "2567_..." for a mail without one, and for a Date: written in the Buddhist era
    (2574, read as the common era) no example at all: the pattern's regular expression
    was quoted to the sender. Each now reads 2574_dds_0403_276.pdf, this year's."""
    dates = {"<utc@dds.bangkok.go.th>": "Tue, 31 Dec 2030 17:30:00 +0000",
             "<pc-2019@dds.bangkok.go.th>": "Tue, 01 Jan 2019 09:00:00 +0700",
             "<no-date@dds.bangkok.go.th>": None,
             "<be-year@dds.bangkok.go.th>": "Wed, 01 Jan 2574 00:29:00 +0700"}
    for n, (message_id, date) in enumerate(dates.items()):
        raw = letter(subject="ขอส่งรายงานผลการดำเนินงาน", body="ดูไฟล์แนบ", message_id=message_id,
                     files=[("letter.pdf", make_pdf(f"report {n}"))])
        gw.send(with_header(raw, "Date", date), LATKRABANG)
    assert _years(gw, "saraban.latkrabang") == {2574: ["1/2574", "2/2574", "3/2574", "4/2574"]}
    for message_id in dates:
        notice = _notice_to(sink, message_id)
        assert "วันที่รับ: 1 ม.ค. 2574 เวลา 00.30 น." in notice, notice
        assert "เช่น 2574_dds_0403_276.pdf" in notice and "e.g. 2574_dds_0403_276.pdf" in notice, notice
        assert "(?P<" not in notice, notice


def test_a_letter_of_31_december_released_in_january_keeps_its_year_and_day(gw, clock, sink):
    """Held in quarantine at 23:59:50 on 31 ธ.ค. 2575 (its file name refused by the
    unit's policy), released on 2 ม.ค. 2576 after the new year's first letter: it is
    numbered in 2575's register, after its last number, and the register, `register
    show` and the acknowledgement all say it was received on 31 ธ.ค. 2575 at 23.59: the
    one time of receipt, not the time it was registered (docs/central-unit.md)."""
    clock.set(dt.datetime(2032, 12, 31, 23, 0, tzinfo=BANGKOK))
    gw.send(letter(to=POMPRAP, files=[("2565_dds_0407_57.pdf", make_pdf("last"))]), POMPRAP)  # 1/2575
    clock.set(dt.datetime(2032, 12, 31, 23, 59, 50, tzinfo=BANGKOK))
    held = gw.send(letter(to=POMPRAP, message_id="<held@dds.bangkok.go.th>",
                          files=[("scan0001.pdf", make_pdf("held"))]), POMPRAP)
    gw.wait_idle()
    [entry] = [q for q in json.loads(gw.cli("quarantine", "list", "--json").stdout) if q["queue_id"] == held]
    clock.set(dt.datetime(2033, 1, 2, 8, 30, tzinfo=BANGKOK))
    gw.send(letter(to=POMPRAP, files=[("2565_dds_0407_57.pdf", make_pdf("first"))]), POMPRAP)  # 1/2576
    gw.wait_idle()
    clock.set(dt.datetime(2033, 1, 2, 9, 0, tzinfo=BANGKOK))
    out = gw.cli("quarantine", "release", str(entry["id"]), "--reason", "ผอ.สั่งรับ").stdout
    assert "2/2575" in out, out
    assert _years(gw, "saraban.pomprap") == {2575: ["1/2575", "2/2575"], 2576: ["1/2576"]}
    shown = gw.cli("register", "show", "saraban.pomprap", "2/2575").stdout
    assert "รับเมื่อ (received)       31 ธ.ค. 2575 23:59" in shown, shown
    assert "ลงทะเบียน (registered)  2 ม.ค. 2576 09:00" in shown, shown
    ack = _notice_to(sink, "<held@dds.bangkok.go.th>", "ได้รับหนังสือของท่านแล้ว")
    assert "เลขรับ: 2/2575" in ack and "วันที่รับ: 31 ธ.ค. 2575 เวลา 23.59 น." in ack, ack
    assert "Received: 31 December 2032, 23:59 (Bangkok time)" in ack, ack


def test_a_clock_stepped_back_into_a_past_year_numbers_nothing(gw, clock):
    """The gateway's clock goes back: an NTP step over New Year's midnight, a machine
    whose clock battery died starting in 2000, a virtual machine restored from a
    snapshot. The letters it took were numbered in the register of the year the clock
    said: 2/2576 after 1/2577 had been given, 1/2543 stamped and acknowledged as received
    on 1 ม.ค. 2543. A clock in a year before the register's newest is wrong for certain:
    SMTP now answers 451 4.3.0 (the sender's server tries again) at MAIL FROM, and at
    the end of DATA for a clock that stepped back during the message; the log says
    why; nothing is numbered until the clock is right, then the letter is numbered in
    the year it really came. A restart does not forget the register's year; `status`
    says why letters are refused."""
    clock.set(dt.datetime(2034, 1, 1, 0, 0, 5, tzinfo=BANGKOK))
    gw.send(letter(), DINDAENG)  # 1/2577
    # NTP steps the clock back 10 seconds, into 2576 (31 ธ.ค. 2576 23:59:55).
    clock.set(dt.datetime(2033, 12, 31, 23, 59, 55, tzinfo=BANGKOK))
    code, text = _mail_from(gw)
    assert (code, text) == (451, CLOCK_WRONG.removeprefix("451 ")), text
    # Stepped back while the message was on its way: refused at its end, not dated.
    clock.set(dt.datetime(2034, 1, 1, 0, 0, 20, tzinfo=BANGKOK))
    with gw.smtp() as client:
        client.ehlo("dds.bangkok.go.th")
        client.mail("saraban.dds@bangkok.go.th")
        client.rcpt(DINDAENG)
        clock.set(dt.datetime(2000, 1, 1, 9, 0, tzinfo=BANGKOK))
        code, text = client.data(letter(to=DINDAENG))
    assert (code, text.decode()) == (451, CLOCK_WRONG.removeprefix("451 "))
    # Each spell of a wrong clock said once, with what the clock and the register say.
    said = [e for e in gw.events() if e.get("event") == "clock_behind_register"]
    assert [(e["where"], e["register_year"], e["clock"]) for e in said] == [
        ("smtp", 2577, "31 ธ.ค. 2576 23:59"), ("smtp", 2577, "1 ม.ค. 2543 09:00")], said
    assert "the host's clock says 2576 but the register has begun 2577" in said[0]["hint"]
    # The clock is right again: the letter comes, numbered in the year it came.
    clock.set(dt.datetime(2034, 1, 1, 0, 1, tzinfo=BANGKOK))
    gw.send(letter(), DINDAENG)
    assert _years(gw, "saraban.dindaeng") == {2577: ["1/2577", "2/2577"]}
    assert any(e.get("event") == "clock_right_again" for e in gw.events())

    # The machine restarts with its clock battery dead: the register's newest year is
    # read from the database, not only learnt from the letters of this run.
    gw.stop()
    clock.set(dt.datetime(2000, 1, 1, 7, 0, tzinfo=BANGKOK))
    gw.start()
    assert _mail_from(gw)[0] == 451
    assert 2543 not in _years(gw, "saraban.dindaeng")
    # `status`, where a sysadmin looks first, says so too.
    assert ("WARNING    the host's clock says 2543 but the register has begun 2577: letters are refused "
            "until the clock is right") in gw.cli("status").stdout


def test_a_new_installation_with_a_clock_before_the_gateway_existed_takes_nothing(tmp_path, clock, dovecot,
                                                                                 dovecot_user):
    """No register yet to compare with, and the clock says 1 ม.ค. 2543: no letter can
    reach this gateway before 2569, the year its register first ran. SMTP answers 451;
    the letter waiting in the central mailbox (IMAP intake) stays there, not taken, not
    marked. With `[register] clock_check = false` (the way out the docs give for a
    register that holds a year the clock reached by mistake) both are taken as the clock
    dates them."""
    user, password = dovecot_user
    dovecot.deliver(user, letter(message_id="<in-the-mailbox@dds.bangkok.go.th>"))
    clock.set(dt.datetime(2000, 1, 1, 9, 0, tzinfo=BANGKOK))
    d = Daemon(write_config(tmp_path / "fresh", extra=intake_config(dovecot, user, password)), env=clock.env).start()
    try:
        assert _mail_from(d)[0] == 451
        said = d.wait_for(lambda: [e for e in d.events() if e.get("event") == "clock_behind_register"
                                   and e["where"].startswith("imap://")], what="the mailbox left as it is")
        assert said[0]["register_year"] == 2569 and said[0]["clock"] == "1 ม.ค. 2543 09:00", said
        assert not any(e.get("event") == "imap_message_spooled" for e in d.events())
        [flags] = mailbox_flags(dovecot, user)
        assert not any(flag.startswith("$Saraban") for flag in flags), flags
        assert d.register() == []
        d.config.write_text(d.config.read_text(encoding="utf-8") + "\n[register]\nclock_check = false\n",
                            encoding="utf-8")
        d.proc.send_signal(signal.SIGHUP)  # systemctl reload
        d.wait_for(lambda: any(e.get("event") == "reloaded" and "runners" in e for e in d.events()),
                   what="the configuration reloaded")
        d.send(letter(), LATKRABANG)
        both = d.wait_for(lambda: (lambda r: r if len(r) == 2 else None)(d.register()), what="both letters")
        assert sorted(e["receive_no"] for e in both) == ["1/2543", "2/2543"]
    finally:
        d.stop()


def _notice_to(sink: Sink, message_id: str, saying: str = "") -> str:
    """The plain text of the notice answering `message_id` that says `saying`."""
    def found():
        return [text for r in sink.messages() if r.message["In-Reply-To"] == message_id
                and saying in (text := r.message.get_body(("plain",)).get_content())]
    deadline = time.monotonic() + 60
    while not found() and time.monotonic() < deadline:
        time.sleep(0.1)
    [text] = found()
    return text


def _mail_from(d: Daemon) -> tuple[int, str]:
    with d.smtp() as client:
        client.ehlo("dds.bangkok.go.th")
        code, text = client.mail("saraban.dds@bangkok.go.th")
        return code, text.decode()
