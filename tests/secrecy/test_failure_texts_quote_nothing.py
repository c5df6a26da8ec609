"""A failure while a letter is read or filed is logged and kept by its type and place,
never by its message (gateway/service/log.py `failure`).

A library's error can quote what it was given: a parser the header it choked on, a
converter the text, PostgreSQL's DETAIL a failing row's values. While a letter fails,
nobody can say it is not ลับ, so those words must reach neither the log nor the
letter's `messages.reason` (which `status` and `reprocess` show)."""
from __future__ import annotations

import json

import pytest
import structlog

from gateway.config.settings import load_settings
from gateway.pipeline.check import _rule_failed
from gateway.pipeline.runner import process_safely
from gateway.secrecy.keys import KeyStore
from gateway.service.services import open_services
from storage.models import Message
from tests.classified.helpers import MARKER, files_containing
from tests.daemon import write_config
from tests.hostile.markings_cases import SUBJECT, _plain


@pytest.fixture
def services(tmp_path):
    with open_services(load_settings(write_config(tmp_path)), "pipeline", upgrade_schema=True) as s:
        yield s


def test_a_failure_quoting_a_secret_letter_leaves_its_words_in_no_log_and_no_row(services, monkeypatch):
    KeyStore.for_data_dir(services.settings.data_dir).create_gateway_key("saraban-gateway test", email="saraban@bangkok.go.th")
    qid = services.spool.accept(_plain(subject=f"ลับ {SUBJECT}"), "saraban.dds@bangkok.go.th",
                                ["saraban.latkrabang@bangkok.go.th"])

    def quoting(*_args, **_kwargs):  # a library that names what it was given
        raise ValueError(f"cannot store the letter 'ลับ {SUBJECT}'")

    with structlog.testing.capture_logs() as events, monkeypatch.context() as patch:
        patch.setattr(services.vault, "put", quoting)
        patch.setattr("gateway.secrecy.sealed_store.SealedStore.put", quoting)
        for _ in range(services.settings.pipeline.max_attempts):
            process_safely(services, qid)

    assert MARKER not in json.dumps(events, ensure_ascii=False, default=str)
    failed = [e for e in events if e["event"] == "process_failed"]
    assert failed and failed[0]["error"].startswith("ValueError at ")
    assert any(step.endswith(" in quoting") for step in failed[0]["trace"])  # where, for the staff
    with services.db.session() as session:
        reason = session.get(Message, qid).reason
    assert reason.startswith("ValueError at ") and MARKER not in reason
    assert services.spool.parked() == [qid]
    assert files_containing(services.settings.data_dir, MARKER) == []


def test_a_rule_that_fails_is_named_without_the_words_it_failed_on():
    with structlog.testing.capture_logs() as events:
        try:
            int(f"ลับมาก {MARKER}")
        except ValueError as exc:
            _rule_failed("dates", exc)
    [event] = events
    assert event["rule"] == "dates" and event["error"].startswith("ValueError at test_failure_texts_quote_nothing.py:")
    assert MARKER not in json.dumps(events, ensure_ascii=False)
