"""Red team, session 55: a style sheet without rules, read in linear time.

The style sheet readings (`_sheet_tags`, `_pseudo_rules` in rules/markings.py) looked for
rules with a pattern whose selector, lazy and up to 300 characters, was tried from every
character of the sheet: 4 s of CPU per MB of a sheet without a "{" ("div div div ..."),
one regular-expression call the letter's reading clock could not look in on. 10 MB of it
ran the DATA check into its 30 s deadline (killed, the letter taken as uncertain) and held
a pipeline runner 40 s more. The rules are now found from each "{" (the same rules, in
the same order: `_sheet_rules`, `_pseudo_rule_matches`)."""
from __future__ import annotations

import time

from tests.daemon import Daemon, write_config
from tests.letters import letter

LAT = "saraban.latkrabang@bangkok.go.th"


def _sheet_letter(words: int) -> bytes:
    raw = letter()
    html = ("<html><head><style>" + "div " * words + "</style></head><body><p>แจ้งการประชุม</p></body></html>")
    part = (b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            + html.encode() + b"\r\n")
    boundary = raw.split(b'boundary="', 1)[1].split(b'"', 1)[0]
    end = b"--" + boundary + b"--"
    return raw.replace(end, b"--" + boundary + b"\r\n" + part + end)


def test_a_sheet_of_ten_megabytes_without_rules_is_read_at_data_in_time(tmp_path):
    d = Daemon(write_config(tmp_path)).start()
    try:
        started = time.monotonic()
        qid = d.send(_sheet_letter(2_500_000), LAT)  # 10 MB
        at_data = time.monotonic() - started
        d.wait_for(lambda: qid in {e["queue_id"] for e in d.register()}, timeout=120, what="registered")
        [entry] = d.register()
        assert (entry["secrecy"], entry["book"]) == ("none", "general")
        # Read whole at DATA (its reading kept for the pipeline), not killed at the deadline.
        assert not any(e.get("event") == "classification_timeout" for e in d.events())
        print(f"DATA {at_data:.1f} s")
    finally:
        d.stop()


def test_the_sheet_readings_are_linear_and_unchanged():
    from rules.markings import _pseudo_rules, _sheet_tags, html_readings

    markup = "<style>" + "div " * 200_000 + "</style><p>x</p>"  # 0.8 MB
    started = time.process_time()
    html_readings(markup)
    assert time.process_time() - started < 1.5  # 3.3 s before
    # What the sheets hide and draw is read as before.
    sheet = ("<style>td > p , .w{display:none} .m::after{content:'าก'} a:before {content:'x'}</style>"
             "<span class=m>ลับม</span>")
    assert _sheet_tags(sheet) == frozenset({".m", ".w", "p", "a"})
    assert _pseudo_rules(sheet) == [(None, frozenset({"m"}), None, "after", "าก"), ("a", frozenset(), None, "before", "x")]
    assert any("ลับมาก" in r for r in html_readings(sheet))
