"""What the red team made of the notices: a classified letter's sender's name and file
name in the queued notice record; backscatter through a naive organisational domain;
a plain auto-responder answering our notices round and round."""
from __future__ import annotations

import base64
import json
import sqlite3

import pytest

from gateway.config.settings import load_settings
from gateway.pipeline.runner import run_once
from gateway.service.services import open_services
from storage.models import Letter, OutboxItem
from tests.daemon import write_config
from tests.letters import make_pdf

LAT = "saraban.latkrabang@bangkok.go.th"
DDS = "saraban.dds@bangkok.go.th"
MARK = "ZEBRAXQ17"  # ASCII: SQLite's JSON would escape Thai


@pytest.fixture
def services(tmp_path):
    with open_services(load_settings(write_config(tmp_path)), "pipeline", upgrade_schema=True) as s:
        yield s


def _one_file_secret_letter(n: int) -> bytes:
    """A ลับ letter that is one PDF (its name in the top-level Content-Type), from a
    sender whose display name is long and plain."""
    name = " ".join([f"{MARK}-FROMNAME-{n}"] * 20)
    return (f'From: "{name}" <{DDS}>\r\nTo: {LAT}\r\n'
            f"Subject: =?utf-8?b?{base64.b64encode('ลับ แผนรักษาความปลอดภัย'.encode()).decode()}?=\r\n"
            f"Message-ID: <s{n}@dds.bangkok.go.th>\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: application/pdf; name="{MARK}-FNAME-{n}.pdf"\r\n'
            f'Content-Disposition: attachment; filename="{MARK}-FNAME-{n}.pdf"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n").encode() + base64.encodebytes(
        make_pdf("ลับ cover letter")).replace(b"\n", b"\r\n")


def test_no_name_of_a_classified_letter_reaches_the_database(services):
    """Registered and its notice queued (the pipeline, in process), not yet decided (no
    delivery runner): neither the sender's display name nor the file name is in any
    row, nor anywhere in the SQLite file or its WAL."""
    for n in range(3):
        services.spool.accept(_one_file_secret_letter(n), DDS, [LAT])
    run_once(services)
    with services.db.session() as session:
        letters = session.query(Letter).all()
        assert [entry.secrecy for entry in letters] == ["confidential"] * 3
        notices = session.query(OutboxItem).filter_by(kind="notice").all()
        assert len(notices) == 3 and all(item.state == "pending" for item in notices)
        record = notices[0].payload["undecided"]
    database = services.settings.database_url.removeprefix("sqlite:///")
    with open(database, "rb") as main, open(database + "-wal", "rb") as wal:
        seen = main.read() + wal.read()
    assert MARK.encode() not in seen
    with sqlite3.connect(database) as db:
        for (table,) in db.execute("select name from sqlite_master where type = 'table'"):
            for row in db.execute(f'select * from "{table}"'):
                assert MARK not in json.dumps(row, default=str), (table, row)
    # What the decision needs, no header value: the address, the loop guard's word.
    assert record["from_address"] == DDS and record["automatic"] is None
    assert record["message_id"] == "<s0@dds.bangkok.go.th>"
