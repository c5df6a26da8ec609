"""An upgrade with letters in flight: today's daemon started on the data directory an older
gateway (c6a79b0, schema 0009) left when it was killed (tests/upgrade/make_fixture.py says
what is in it and how to make it again). Every letter ends registered once per unit with
gapless numbers, filed once, answered once; the quarantine is still listed and releasable;
the registrar's copy sealed by the old code opens with the registrar's key; the letter
taken from the central mailbox (Dovecot) is marked there once registered."""
from __future__ import annotations

import collections
import datetime as dt
import email
import email.policy
import json
import shutil
import tarfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from gateway.tools.backup import extract_data
from tests.classified.helpers import check_inner_signature, registrar_open
from tests.daemon import Daemon, TestClock, free_port, write_config
from tests.imap_helpers import intake_config, mailbox_flags
from tests.letters import letter, make_pdf
from tests.notices.conftest import notices_config
from tests.notices.sink import Sink
from tests.servers.common import chown_tree, wait_until
from tests.servers.dovecot import DovecotServer

ARCHIVE = Path(__file__).parent / "upgrade" / "old-data.tar.gz"


@pytest.fixture(scope="module")
def upgraded(tmp_path_factory):
    """Today's daemon on the old data directory, smarthost up, the held notices released
    and the latkrabang registrar's certificate imported, as a sysadmin finishing the
    upgrade would; yields when nothing is owed any more."""
    root = tmp_path_factory.mktemp("upgrade")
    with tarfile.open(ARCHIVE) as tar:
        extract_data(tar, root, tar.getmembers())  # Debian's 3.11.2 has no filter="data"
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    # An hour after the old daemon stopped, whenever this runs: the receive numbers it
    # gives are of the same year's register as the old daemon's.
    clock = TestClock(root / "clock")
    clock.set(dt.datetime.fromisoformat(manifest["made_at"]) + dt.timedelta(hours=1))
    # The central mailbox as the old daemon left it: one message taken into the spool,
    # not yet marked on the server.
    dovecot = DovecotServer(users={"central": "central-secret-3"}).start()
    maildir = dovecot.mail_dir("central")
    shutil.rmtree(maildir, ignore_errors=True)
    shutil.copytree(root / "imap-central", maildir, symlinks=True)
    chown_tree(maildir.parent, dovecot.account)
    sink = Sink(free_port()).start()
    d = Daemon(write_config(root, extra=notices_config(sink) + intake_config(dovecot, "central", "central-secret-3")),
               env=clock.env)
    try:
        # With the daemon stopped, as the upgrade left it: the first command that writes
        # migrates the schema.
        d.cli("notices", "release")
        d.cli("keys", "import-registrar", "saraban.latkrabang", str(root / "registrar-lat.pem"))
        d.start()
        d.wait_idle()
        manifest["register"] = d.register()
        yield d, sink, manifest, root, dovecot
    finally:
        d.stop()
        sink.stop()
        dovecot.stop()


def _letters(manifest: dict) -> dict[str, dict]:
    return manifest["letters"]


def test_each_letter_registered_once_with_gapless_numbers(upgraded):
    d, _sink, manifest, _root, _dovecot = upgraded
    entries = manifest["register"]
    per = collections.Counter((e["queue_id"], e["unit"]) for e in entries)
    assert all(n == 1 for n in per.values()), per
    for name, item in _letters(manifest).items():
        for unit in item["units"]:
            if "queue_id" in item:  # the IMAP letter's is its own test's
                assert per[(item["queue_id"], unit)] == 1, (name, unit)
    books = collections.defaultdict(list)
    for e in entries:
        books[(e["unit"], e["book"])].append(e["number"])
    for key, numbers in books.items():
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), (key, numbers)
    assert set(d.status_here()["messages"]) <= {"done", "quarantined"}


def test_each_letter_filed_once(upgraded):
    d, _sink, manifest, _root, _dovecot = upgraded
    entries = manifest["register"]
    for unit, folder in manifest["folders"].items():
        expected = sorted(e["receive_no"] for e in entries if e["unit"] == unit and e["book"] != "secret")
        copies = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                  for p in d.maildir_files(folder)]
        assert sorted(str(c["X-Saraban-Receive-No"]) for c in copies) == expected, folder


def test_registrar_copies_open_with_the_registrar_key(upgraded):
    d, _sink, manifest, root, _dovecot = upgraded
    gateway = d.data_dir / "keys" / "gateway"
    fingerprint = (gateway / "CURRENT").read_text().strip()
    gateway_cert = x509.load_pem_x509_certificate((gateway / fingerprint / "cert.pem").read_bytes())
    keys = {"saraban.dindaeng.admin": ("registrar-key.pem", "registrar.pem"),
            "saraban.latkrabang": ("registrar-lat-key.pem", "registrar-lat.pem")}
    for unit, folder in manifest["registrar_folders"].items():
        key = serialization.load_pem_private_key((root / keys[unit][0]).read_bytes(), None)
        cert = x509.load_pem_x509_certificate((root / keys[unit][1]).read_bytes())
        numbers = []
        for sealed in d.maildir_files(folder):
            inner = registrar_open(sealed.read_bytes(), key, cert)
            opened = email.message_from_bytes(check_inner_signature(inner, gateway_cert), policy=email.policy.default)
            note, _original = list(opened.iter_parts())
            numbers.append(note.get_content())
        expected = [e["receive_no"] for e in manifest["register"] if e["unit"] == unit and e["book"] == "secret"]
        assert len(numbers) == len(expected), folder
        assert all(sum(no in text for text in numbers) == 1 for no in expected), (expected, numbers)


def test_letters_the_old_code_read_as_ordinary_are_read_again(upgraded):
    """The old DATA check read these two as ordinary and left its reading in the spool;
    today's code finds ลับมาก in them (in a PDF inside winmail.dat, in a signed PDF in a
    ZIP). Taking the old reading, today's pipeline filed them ordinary, in plain text, to
    the unit's folder; now each is read again and sealed for the registrar."""
    d, _sink, manifest, _root, _dovecot = upgraded
    entries = {e["queue_id"]: e for e in manifest["register"] if e["unit"] == "saraban.latkrabang"}
    for name in ("hidden_winmail", "hidden_p7m_zip"):
        entry = entries[_letters(manifest)[name]["queue_id"]]
        assert (entry["book"], entry["secrecy"]) == ("secret", "secret"), (name, entry)
    ordinary = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                for p in d.maildir_files("latkrabang")]
    assert not [m for m in ordinary if "ลับ" in str(m["Subject"])]


def test_each_notice_sent_once(upgraded):
    d, sink, _manifest, _root, _dovecot = upgraded
    notices = d.status_here()["outbox"]["notice"]
    assert set(notices) == {"done"} and notices["done"] == len(sink.received), notices
    # One notice a letter and unit: told apart by the letter it answers and the unit's From.
    keys = collections.Counter((str(r.message["In-Reply-To"]), str(r.message["From"]), str(r.message["Subject"]))
                               for r in sink.received)
    assert all(n == 1 for n in keys.values()), keys


def test_quarantine_still_listed_and_releasable(upgraded):
    d, _sink, manifest, _root, _dovecot = upgraded
    held = json.loads(d.cli("quarantine", "list", "--all", "--json").stdout)
    by_queue = {h["queue_id"]: h for h in held}
    doc = by_queue[_letters(manifest)["no_document"]["queue_id"]]
    assert doc["state"] == "held" and [r["rule"] for r in doc["reasons"]] == ["no_document"]
    # Held by the old code for want of a registrar certificate, released by today's when
    # one was imported.
    assert by_queue[_letters(manifest)["secret_no_registrar"]["queue_id"]]["state"] == "released"
    before = len(d.maildir_files("latkrabang"))
    numbers = [e["number"] for e in manifest["register"] if e["unit"] == "saraban.latkrabang" and e["book"] != "secret"]
    out = d.cli("quarantine", "release", str(doc["id"]), "--reason", "upgrade test").stdout
    assert f"registered as {max(numbers) + 1}/" in out
    d.wait_for(lambda: len(d.maildir_files("latkrabang")) == before + 1, what="the released letter filed")


def test_a_programs_name_in_name_is_held_through_the_data_checks_reading(upgraded):
    """A file named 2569_dds_0403_62.pdf by filename= and ….pdf.js by Content-Type name=:
    a client that shows name= offers a script. The DATA check's reading dropped the
    second name, so the pipeline (which took the reading) registered and filed the letter
    with no finding; now it is held as a program."""
    d, _sink, _manifest, _root, _dovecot = upgraded
    raw = letter(files=[("2569_dds_0403_62.pdf", make_pdf("cover letter"))]).replace(
        b"Content-Type: application/pdf\r\n", b'Content-Type: application/pdf; name="2569_dds_0403_62.pdf.js"\r\n', 1)
    assert b'name="2569_dds_0403_62.pdf.js"' in raw
    queue_id = d.send(raw, "saraban.latkrabang@bangkok.go.th")
    d.wait_for(lambda: d.status_here()["spool"]["pending"] == 0, what="the letter worked")
    held = {h["queue_id"]: h for h in json.loads(d.cli("quarantine", "list", "--json").stdout)}
    assert queue_id in held and "executable" in [r["rule"] for r in held[queue_id]["reasons"]], held


def test_a_letter_taken_from_the_central_mailbox_is_registered_once_and_marked(upgraded):
    """The old daemon took it into the spool and was killed before it registered it or
    marked it on the server: today's registers it once and marks it; the message still
    unmarked on the server at the start is not taken a second time."""
    d, _sink, manifest, _root, dovecot = upgraded
    mid = _letters(manifest)["imap_in_flight"]["message_id"]
    assert [e["message_id"] for e in manifest["register"]].count(mid) == 1
    assert wait_until(lambda: mailbox_flags(dovecot, "central") == [{"$SarabanRegistered"}], 30, interval=0.2), \
        mailbox_flags(dovecot, "central")
