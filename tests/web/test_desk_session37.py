"""Session 37: the desk took a reason of control characters only for a rejection or a
cancellation (its check was `str.strip()`, which leaves "\\x01"), and kept a reason's
terminal escapes and bidi overrides as typed, for `quarantine show` to print."""
from __future__ import annotations

import html

import pytest

from tests.letters import letter, make_pdf
from tests.web.client import signed_in
from tests.web.conftest import running_desk

LAT = "saraban.latkrabang@bangkok.go.th"
NO_REASON = "\x01\x02 \u200b\u202e "


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    users = (("somchai", "clerk", "saraban.latkrabang"),)
    letters = ((letter(files=[]), LAT), (letter(files=[]), LAT),  # held: no document
               (letter(subject="หนังสือธรรมดา S37", files=[("a.pdf", make_pdf("a"))]), LAT))
    with running_desk(tmp_path_factory.mktemp("desk"), users, letters) as desk:
        yield desk


def html_text(answer) -> str:
    return html.unescape(answer.text)


def held(desk) -> list[int]:
    return [i for (i,) in desk.db("SELECT id FROM quarantine WHERE state = 'held' ORDER BY id")]


def test_a_reject_with_control_characters_only_is_no_reason(desk):
    clerk = signed_in(desk.url, "somchai")
    first, second = held(desk)
    answer = clerk.post("/quarantine", [("action", "reject"), ("id", str(first)), ("reason", NO_REASON)])
    assert answer.status == 400 and "กรุณาระบุเหตุผล" in html_text(answer), answer.text[:300]
    assert held(desk) == [first, second]
    assert desk.db("SELECT count(*) FROM operator_actions WHERE action = 'quarantine_rejected'") == [(0,)]

    answer = clerk.post("/quarantine", [("action", "reject"), ("id", str(first)),
                                        ("reason", "ผู้ส่ง\x1b[2Jส่ง\u202eใหม่\r\nแล้ว")])
    assert answer.status == 200 and answer.outcomes() == [f"#{first}: ปฏิเสธแล้ว"]
    assert desk.db("SELECT reason FROM operator_actions WHERE action = 'quarantine_rejected'") == \
        [("ผู้ส่ง [2Jส่งใหม่ แล้ว",)]


def test_a_cancel_with_control_characters_only_is_no_reason(desk):
    clerk = signed_in(desk.url, "somchai")
    [(letter_id,)] = desk.db("SELECT id FROM letters WHERE subject = 'หนังสือธรรมดา S37'")
    answer = clerk.post(f"/letters/{letter_id}/cancel", {"reason": NO_REASON})
    assert answer.status == 400 and "กรุณาระบุเหตุผล" in html_text(answer), answer.text[:300]
    assert desk.db("SELECT status FROM letters WHERE id = ?", letter_id) == [("registered",)]
