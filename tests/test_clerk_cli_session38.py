"""A new clerk and a new sysadmin at the command line (session 38): the mistakes a
newcomer makes, against a real daemon and its real SQLite register.

1. A quarantine entry's or an outbox item's number too long for the database (pasted
   twice, a queue id's digits) was OverflowError's traceback; a word was argparse's
   "invalid int value" in English only.
2. `outbox retry` of a held notice (no smarthost) made it pending: it failed at once,
   again and again, towards dead, and the command said "1 item(s) queued".
3. A receive number as a newcomer writes it (15-2569, 15/69) was "not a receive
   number" in English only in `register show`, and `letter view` looked 15-2569 up as a
   queue id and 1/69 as a number of the year 69 ("no register entry"). An address of
   another domain (saraban.latkrabang@other.org) answered with this gateway's unit;
   `letter view --unit nowhere` said "no register entry ... for nowhere".
4. `letter export -o FILE` wrote over a file that was there, keeping its mode: the
   letter (a classified one decrypted) in a file every user may read, or a file of the
   system replaced (the help promises mode 0600).
5. With the wrong --config (a data_dir where no daemon ever ran) the commands that
   decide on rows (quarantine release/reject, register cancel, reprocess, outbox retry)
   made a new, empty register and answered "no quarantine entry 1", or "0 item(s)
   queued" with exit 0, as if the register were the real one.
6. `letter view|export --who` with bytes that are not UTF-8 (a terminal set to TIS-620)
   was UnicodeEncodeError's traceback; an escape sequence or a 300-character name was
   accepted; the refusals (no --who, a folder for -o) were in English only.
7. A --reason typed at a terminal not set to UTF-8 was kept as "��" (the entry
   rejected or the number cancelled, the reason lost); `reprocess --reason " "` kept an
   empty reason where release and reject refuse it.
8. `--unit ""` was "no unit given" in English only; a 3000-character unit or queue id
   was quoted whole, twice; `reprocess` of an unknown queue id said it in English only.
"""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.cli_fork import run_gateway
from tests.daemon import Daemon, write_config
from tests.letters import letter, make_pdf

LAT = "saraban.latkrabang@bangkok.go.th"
THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    """One daemon for the tests of this file that take `daemon`: none of them stops it,
    changes its configuration or decides on a row (every release, reject, cancel and
    retry they try is refused), and each finds its own letter (its held entry, its
    receive number) rather than counting from the first: a daemon started for each was
    7 starts, about a third of the file's time."""
    d = Daemon(write_config(tmp_path_factory.mktemp("clerk38"))).start()
    yield d
    d.stop()


def no_traceback(result) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert "Error:" not in result.stderr, result.stderr  # no Python exception's name


def held_entry(daemon) -> int:
    before = {q["id"] for q in json.loads(daemon.cli("quarantine", "list", "--json").stdout)}
    daemon.send(letter(files=[]), LAT)  # no document: held by the default policy
    daemon.wait_idle()
    [held] = [q for q in json.loads(daemon.cli("quarantine", "list", "--json").stdout) if q["id"] not in before]
    return held["id"]


def test_an_id_too_long_or_not_a_number_is_refused_in_words(daemon):
    entry = held_entry(daemon)
    huge = "9" * 25
    for args in (["quarantine", "show", huge], ["quarantine", "release", huge],
                 ["quarantine", "reject", huge, "--reason", "ส่งผิด"], ["quarantine", "show", "abc"],
                 ["quarantine", "show", "0"]):
        out = daemon.cli(*args, check=False)
        assert out.returncode == 2, (args, out.returncode, out.stderr)
        no_traceback(out)
        assert "is not a quarantine entry's number" in out.stderr, out.stderr
        assert "saraban-gateway quarantine list --all" in out.stderr and "ไม่ใช่เลขรายการ" in out.stderr
    out = daemon.cli("outbox", "retry", huge, check=False)
    assert out.returncode == 2 and "is not an outbox item's number" in out.stderr, out.stderr
    no_traceback(out)
    assert "ไม่ใช่เลขรายการ" in out.stderr and "saraban-gateway outbox list" in out.stderr
    # Thai digits are a number like any other
    shown = json.loads(daemon.cli("quarantine", "show", str(entry).translate(THAI_DIGITS), "--json").stdout)
    assert shown["id"] == entry and shown["state"] == "held"


def test_retrying_a_held_notice_is_refused_and_it_stays_held(daemon):
    entry = held_entry(daemon)  # its rejection notice is held: no smarthost in the test config
    queue_id = json.loads(daemon.cli("quarantine", "show", str(entry), "--json").stdout)["queue_id"]
    items = json.loads(daemon.cli("outbox", "list", "--json").stdout)
    [notice] = [i for i in items if i["kind"] == "notice" and i["queue_id"] == queue_id]
    assert notice["state"] == "held"
    out = daemon.cli("outbox", "retry", str(notice["id"]), check=False)
    assert out.returncode == 1, (out.stdout, out.stderr)
    no_traceback(out)
    assert f"{notice['id']}: held, not failed: no smarthost is configured" in out.stderr
    assert "saraban-gateway notices release" in out.stderr and "smarthost" in out.stderr
    assert "0 item(s) queued" in out.stdout
    after = {i["id"]: i for i in json.loads(daemon.cli("outbox", "list", "--json").stdout)}
    assert after[notice["id"]]["state"] == "held" and after[notice["id"]]["attempts"] == 0


def test_retrying_an_item_that_is_not_there_or_done_is_said_in_thai_too(daemon):
    daemon.send(letter(subject="ส่งแล้ว", files=[("a.pdf", make_pdf("a"))]), LAT)
    daemon.wait_idle()
    [done, *_] = [i for i in json.loads(daemon.cli("outbox", "list", "--json").stdout) if i["state"] == "done"]
    out = daemon.cli("outbox", "retry", "987654", str(done["id"]), check=False)
    no_traceback(out)
    assert "987654: no such outbox item (ไม่พบรายการนี้" in out.stderr, out.stderr
    assert f"{done['id']}: already done (ส่งเรียบร้อยแล้ว" in out.stderr, out.stderr


def registered(daemon) -> tuple[str, int, str]:
    """A letter registered: its queue id, its receive number and year (the next number
    of the unit's register: one more than the letters registered before it)."""
    before = daemon.register()
    queue_id = daemon.send(letter(subject="ขอเชิญประชุม", files=[("a.pdf", make_pdf("a"))]), LAT)
    daemon.wait_idle()
    [entry] = [e for e in daemon.register() if e["queue_id"] == queue_id]
    number, year = entry["receive_no"].split("/")
    assert int(number) == len(before) + 1, (entry, len(before))
    return queue_id, int(number), year


def refused(result, *said: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    no_traceback(result)
    assert result.stdout == ""
    for words in said:
        assert words in result.stderr, result.stderr


def test_receive_numbers_written_wrong_are_answered_with_the_right_form(daemon):
    _, n, year = registered(daemon)
    short = year[2:]
    missing = n + 100  # a number the register has not given (this file registers a few letters)
    for command in (["register", "show", "saraban.latkrabang"],
                    ["letter", "view", "--unit", "saraban.latkrabang", "--book", "general"]):
        refused(daemon.cli(*command, f"{n}-{year}", check=False),
                f'"{n}-{year}" is not a receive number: write it with a slash, {n}/{year}',
                f"กรุณาเขียนเป็น เลขที่/ปี พ.ศ. เช่น {n}/{year}")
        refused(daemon.cli(*command, f"{n}/{short}", check=False),
                f'"{n}/{short}" is not a receive number: write the Buddhist-era year in full, e.g. {n}/25{short}',
                "กรุณาเขียนปี พ.ศ. เต็มสี่หลัก")
        refused(daemon.cli(*command, f"{missing}/{year}", check=False), f"{missing}/{year}",
                f"ไม่พบเลขรับ {missing}/{year}")
    thai = daemon.cli("letter", "view", f"{n}/{year}".translate(THAI_DIGITS),
                      "--unit", "saraban.latkrabang", "--book", "general")
    assert "ขอเชิญประชุม" in thai.stdout
    refused(daemon.cli("letter", "view", "nope", check=False), "no register entry nope",
            "register list --json", "ไม่พบหนังสือนี้ในทะเบียน")


def test_a_unit_of_another_domain_or_unknown_is_refused_not_answered(daemon):
    queue_id, n, year = registered(daemon)
    other = "saraban.latkrabang@other.go.th"
    for command in (["register", "show", other, f"{n}/{year}"], ["letter", "view", queue_id, "--unit", other],
                    ["quarantine", "list", "--unit", other], ["register", "list", "--unit", other]):
        refused(daemon.cli(*command, check=False),
                f'"{other}" is an address of other.go.th, not of this gateway\'s bangkok.go.th',
                "give the unit as saraban.latkrabang or saraban.latkrabang@bangkok.go.th",
                "ไม่ใช่โดเมนของเกตเวย์นี้")
    refused(daemon.cli("letter", "view", f"{n}/{year}", "--unit", "nowhere", "--book", "general", check=False),
            'unknown unit "nowhere"', 'ไม่พบหน่วยงาน "nowhere"')
    # with this gateway's domain, or without, the unit is the same
    for unit in ("saraban.latkrabang", "saraban.latkrabang@bangkok.go.th", "SARABAN.LATKRABANG@Bangkok.go.th"):
        assert "ขอเชิญประชุม" in daemon.cli("letter", "view", queue_id, "--unit", unit).stdout


def test_export_does_not_write_over_a_file_that_is_there(daemon, tmp_path):
    queue_id, _, _ = registered(daemon)
    there = tmp_path / "letter.eml"
    there.write_text("keep me\n", encoding="utf-8")
    there.chmod(0o644)
    refused(daemon.cli("letter", "export", queue_id, "-o", str(there), check=False),
            f"cannot write {there}: the file exists and is not written over; give a new file name",
            "จะไม่เขียนทับ")
    assert there.read_text(encoding="utf-8") == "keep me\n"
    new = tmp_path / "new.eml"
    out = daemon.cli("letter", "export", queue_id, "-o", str(new))
    assert out.returncode == 0 and b"Subject:" in new.read_bytes()
    assert (new.stat().st_mode & 0o777) == 0o600


def test_a_database_never_set_up_is_said_not_answered_as_an_empty_register(tmp_path):
    fresh = Daemon(write_config(tmp_path / "elsewhere"))  # its configuration; no daemon ever ran there
    database = tmp_path / "elsewhere" / "var" / "saraban.db"
    for args in (["quarantine", "release", "1"], ["quarantine", "reject", "1", "--reason", "ส่งผิด"],
                 ["register", "cancel", "saraban.latkrabang", "1/2569", "--reason", "ซ้ำ"],
                 ["reprocess", "18ee27eda1dab854e1f2123f"], ["outbox", "retry", "1"], ["outbox", "retry", "--dead"]):
        out = fresh.cli(*args, check=False)
        assert out.returncode == 2, (args, out.returncode, out.stdout, out.stderr)
        no_traceback(out)
        assert "the database schema is not set up" in out.stderr and str(database) in out.stderr, out.stderr
        assert "if the register is elsewhere" in out.stderr
        assert "queued" not in out.stdout and "no quarantine entry" not in out.stderr


def cli_bytes(daemon, *args: str | bytes) -> subprocess.CompletedProcess:
    """The command with arguments as the terminal hands them over: bytes, not always UTF-8."""
    return run_gateway(["--config", str(daemon.config), *args], env=dict(os.environ, **daemon.env), text=False)


def test_who_must_name_a_person_in_readable_text(daemon_factory, tmp_path):
    from tests.classified.helpers import LATKRABANG, add_registrar, classified_letter, make_gateway_key, \
        wait_processed

    d = daemon_factory()
    make_gateway_key(d)
    add_registrar(d)
    d.start()
    raw, _ = classified_letter("ลับ")
    queue_id = d.send(raw, LATKRABANG)
    wait_processed(d, registrar=1)
    audit = d.data_dir / "audit" / "audit.log"
    before = audit.read_text(encoding="utf-8")

    out = cli_bytes(d, "letter", "view", queue_id, "--who", b"\xca\xc1\xc8\xc3\xd5")  # สมศรี in TIS-620
    err = out.stderr.decode("utf-8")
    assert out.returncode == 2 and b"Traceback" not in out.stderr, err
    assert "the name given with --who is not UTF-8 text" in err and "กรุณาพิมพ์ใหม่" in err
    for who, said in ((["--who", "\x1b\x01"], "add --who NAME"), ([], "add --who NAME"),
                      (["--who", "ก" * 300], "is 300 characters long; at most 100")):
        out = d.cli("letter", "view", queue_id, *who, check=False)
        assert out.returncode == 2 and said in out.stderr, out.stderr
        no_traceback(out)
        assert "หนังสือลับ" in out.stderr or "ตัวอักษร" in out.stderr
    folder = d.cli("letter", "export", queue_id, "--who", "สมศรี", "-o", str(tmp_path), check=False)
    refused(folder, "it is a folder; give a file name in it", "ไม่สามารถเขียนไฟล์")
    assert audit.read_text(encoding="utf-8") == before  # nothing decrypted, nothing audited

    shown = d.cli("letter", "view", queue_id, "--who", "สมศรี\x1b[2J  ใจดี")
    assert shown.returncode == 0
    last = json.loads(audit.read_text(encoding="utf-8").splitlines()[-1])
    assert last["action"] == "view" and last["who"] == "สมศรี [2J ใจดี"


def test_a_reason_not_in_utf8_is_refused_and_nothing_is_done(daemon):
    entry = held_entry(daemon)
    tis620 = b"\xca\xc1\xc8\xc3\xd5 \xca\xe8\xa7\xbc\xd4\xb4"  # "สมศรี ส่งผิด" in TIS-620
    for command in (["quarantine", "reject", str(entry)], ["quarantine", "release", str(entry)]):
        out = cli_bytes(daemon, *command, "--reason", tis620)
        err = out.stderr.decode("utf-8")
        assert out.returncode == 2 and "Traceback" not in err, err
        assert "the reason is not UTF-8 text" in err and "type it again" in err and "พิมพ์ใหม่" in err
    shown = json.loads(daemon.cli("quarantine", "show", str(entry), "--json").stdout)
    assert shown["state"] == "held" and shown["actions"] == []
    queue_id = shown["queue_id"]
    out = daemon.cli("reprocess", queue_id, "--reason", "  ", check=False)
    assert out.returncode == 2 and "give a reason" in out.stderr and "กรุณาระบุเหตุผล" in out.stderr, out.stderr
    registered_id, n, year = registered(daemon)
    out = cli_bytes(daemon, "register", "cancel", "saraban.latkrabang", f"{n}/{year}", "--reason", tis620)
    assert out.returncode == 2 and "the reason is not UTF-8 text" in out.stderr.decode("utf-8")
    # A reason of nothing is a usage error, said before the register is opened, as by
    # `quarantine reject` (exit 1 until session 38).
    out = daemon.cli("register", "cancel", "saraban.latkrabang", f"{n}/{year}", "--reason", " \x01 ", check=False)
    assert out.returncode == 2 and "give a reason" in out.stderr and "กรุณาระบุเหตุผล" in out.stderr, out.stderr
    assert [e["status"] for e in daemon.register() if e["queue_id"] == registered_id] == ["registered"]


def test_empty_and_huge_arguments_are_said_briefly_in_both_languages(daemon):
    out = daemon.cli("register", "list", "--unit", "", check=False)
    refused(out, "no unit given: give its address, e.g. saraban.latkrabang", "ไม่ได้ระบุหน่วยงาน")
    huge = "a" * 3000
    for command in (["quarantine", "list", "--unit", huge], ["register", "list", "--unit", huge],
                    ["reprocess", huge]):
        out = daemon.cli(*command, check=False)
        assert out.returncode == 1 and len(out.stderr) < 1000, (command, len(out.stderr))
        no_traceback(out)
        assert "a" * 60 + "…" in out.stderr and "ไม่พบ" in out.stderr, out.stderr
    refused(daemon.cli("reprocess", "nope", check=False), 'no message with queue id "nope"',
            'ไม่พบหนังสือเลขคิว "nope"')
