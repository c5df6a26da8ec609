"""A quarantine entry gone between the desk's page and the action (another clerk's
ตรวจซ้ำ took it: the desk red team of session 53 met it on PostgreSQL) is told to a clerk
in a sentence of the desk, Thai or English; the English page said the command line's
"no quarantine entry 7 (see `saraban-gateway quarantine list --all`)"."""
from __future__ import annotations

import pytest

from gateway.config.settings import load_settings
from gateway.service.services import open_services
from gateway.tools.common import ToolError
from gateway.tools.quarantine import reject
from tests.daemon import write_config


def test_an_entry_gone_is_said_in_the_desks_words_and_the_commands(tmp_path):
    with open_services(load_settings(write_config(tmp_path)), "pipeline", upgrade_schema=True) as services:
        with pytest.raises(ToolError) as refused:
            reject(services, 424242, "ผอ.สั่งไม่รับ")
    exc = refused.value
    assert exc.for_person("th") == "ไม่มีรายการนี้"
    assert "saraban-gateway" not in exc.for_person("en") and "no such entry" in exc.for_person("en")
    assert "saraban-gateway quarantine list --all" in str(exc)  # the command line keeps its pointer
