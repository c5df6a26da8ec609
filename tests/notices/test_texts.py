"""Both parts of a notice say the same (issue 14, item 10), and the preview shows the
naming rule's own example (item 7)."""
from __future__ import annotations

import datetime as dt
import html
import re

import pytest

from gateway.cli.notices import SAMPLE, sample_findings
from gateway.config.settings import load_settings
from gateway.notices.compose import build_notice
from tests.paths import REPO

SETTINGS = load_settings(REPO / "config" / "gateway.example.toml")


def squeeze(text: str) -> str:
    return re.sub(r"[\s:]+", "", text)


def payload(kind: str) -> dict:
    data = dict(SAMPLE, type=kind, findings=sample_findings(SETTINGS))
    if kind == "reject":
        data.pop("receive_no")
    return data


@pytest.mark.parametrize("kind", ["ack", "reject"])
def test_html_part_carries_every_line_of_the_text_part(kind):
    msg = build_notice(payload(kind), f"{kind}:t", dt.datetime(2026, 6, 11, 11, 33, tzinfo=dt.timezone.utc)).parsed()
    text = msg.get_body(("plain",)).get_content()
    page = squeeze(html.unescape(re.sub(r"<[^>]+>", " ", msg.get_body(("html",)).get_content())))
    lines = [re.sub(r"^\d+\.\s*", "", line) for line in text.splitlines() if line.strip() and set(line) != {"-"}]
    missing = [line for line in lines if squeeze(line) not in page]
    assert missing == []
    assert "หากมีข้อสงสัยโปรดติดต่อสำนักงานเขตลาดกระบัง" in text  # the contact line, in both
    assert "For questions, contact Lat Krabang District Office." in text


def test_preview_example_name_is_the_one_the_rule_accepts():
    [finding] = sample_findings(SETTINGS)
    examples = set(re.findall(r"\b\d{4}_\w+?_\d+_\d+\.pdf", finding["th"] + " " + finding["en"]))
    # one example (and its enclosure form), roman code, the letter's own ที่
    assert examples == {"2569_dds_0403_276.pdf", "2569_dds_0403_276_1.pdf"}
