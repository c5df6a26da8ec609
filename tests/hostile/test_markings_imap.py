"""The same markings pulled from a central mailbox over IMAP (the real Dovecot the suite
starts): there is no DATA to refuse at, so ลับที่สุด is sealed into quarantine with an
alert for the secret registrar, and ลับ/ลับมาก go to the secret book, sealed."""
from __future__ import annotations

import json

import pytest

from tests.classified.helpers import (
    MARKER, add_registrar, db_rows, files_containing, log_lines_containing, make_gateway_key, maildir,
)
from tests.daemon import Daemon, write_config
from tests.hostile.markings_cases import ORDINARY, classified_cases, idiom_letter, top_secret_cases
from tests.imap_helpers import intake_config

pytestmark = pytest.mark.dovecot

# One of each kind of hiding place: headers, Thai normalisation, body, HTML, PDF page.
TOP_SECRET = ("X-Classification: 004 (e-CMS)", "RFC 2231-style =?utf-8*th?B?", "subject after 290 KB of headers",
              "tone mark before vowel ลับท่ีสุด", "only in the HTML part", "only at the bottom of page 3 of an enclosure")


def test_markings_over_imap_intake_are_sealed(tmp_path, dovecot, dovecot_user):
    user, password = dovecot_user
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    d = Daemon(write_config(tmp_path / "gw", extra=intake_config(dovecot, user, password, poll_interval=0.5)),
               env={"TMPDIR": str(tmp)})
    make_gateway_key(d)
    add_registrar(d)
    top = {name: raw for name, raw in top_secret_cases().items() if name in TOP_SECRET}
    classified = classified_cases()
    for raw in top.values():
        dovecot.deliver(user, raw)
    for _level, raw in classified.values():
        dovecot.deliver(user, raw)
    dovecot.deliver(user, idiom_letter())
    total = len(top) + len(classified) + 1
    d.start()
    try:
        def finished():
            rows = db_rows(d, "select state from messages")
            return len(rows) == total and all(s in ("done", "quarantined") for (s,) in rows)
        d.wait_for(finished, timeout=180, what=f"{total} messages finished")
        d.wait_idle(timeout=120)

        held = [json.loads(r) for (r,) in db_rows(d, "select reasons from quarantine")]
        top_held = [r for r in held if "top_secret" in [x["rule"] for x in r]]
        assert len(top_held) == len(top)
        letters = sorted(db_rows(d, "select secrecy, book from letters"))
        expected = sorted([(level, "secret") for name, (level, _raw) in classified.items()
                           if not name.startswith("1,000 nested")] + [("none", "general")])
        assert letters == expected
        [ordinary] = maildir(d, "latkrabang")  # only the idiom letter, in plaintext as it should be
        # The search finds what is there: the ordinary letter's marker, in its folder copy.
        assert str(ordinary.relative_to(d.data_dir)) in files_containing(d.data_dir, ORDINARY)
        assert files_containing(d.data_dir, MARKER) == []
        assert files_containing(tmp, MARKER) == []
        assert log_lines_containing(d, MARKER) == []
    finally:
        d.stop()
