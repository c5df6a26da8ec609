"""Session 44: the bounds on sign-ins' password checks are `[web]` settings, no longer
constants in gateway/web/auth.py (2 at once, 10 s of waiting): a sysadmin with a
smaller or slower machine can lower them, and the desk honours what is set."""
from __future__ import annotations

import pytest

from tests.web.client import sign_ins_at_once, signed_in
from tests.web.conftest import running_desk

USERS = (("somchai", "clerk", "saraban.latkrabang"),)
BUSY = {"th": "ขณะนี้มีผู้พยายามเข้าสู่ระบบพร้อมกันมากเกินไป กรุณาลองใหม่ในอีกสักครู่",
        "en": "Too many sign-ins at once right now; try again shortly."}
WRONG = {"th": "ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง", "en": "Wrong user name or password"}


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    one_at_a_time = "password_checks_at_once = 1\npassword_check_wait_seconds = 0.05\n"
    with running_desk(tmp_path_factory.mktemp("desk"), USERS, (), extra=one_at_a_time) as desk:
        yield desk


@pytest.mark.parametrize("lang", ["th", "en"])
def test_one_check_at_once_and_a_short_wait_answer_the_sign_ins_behind_it_busy(desk, lang):
    """8 wrong sign-ins at the same moment: one argon2 check at a time (60-160 ms each)
    and 0.05 s of waiting leave some of them answered 503, busy, in the person's language,
    with Retry-After 1 (the wait rounded up); with the old constants (2 at once, 10 s)
    all 8 were told "wrong password"."""
    port = int(desk.url.rsplit(":", 1)[1])
    source = "127.0.0.2" if lang == "th" else "127.0.0.3"  # within login_attempts_per_minute
    answers = sign_ins_at_once(port, [source] * 8, lang)
    assert len(answers) == 8
    busy = [(text, retry_after) for status, text, retry_after in answers if status == 503]
    wrong = [text for status, text, _ in answers if status == 401]
    assert busy and wrong, [status for status, _, _ in answers]
    assert len(busy) + len(wrong) == 8
    assert all(BUSY[lang] in text and retry_after == "1" for text, retry_after in busy)
    assert all(WRONG[lang] in text for text in wrong)
    assert "web_login_busy" in desk.daemon.log_path.read_text()
    # A sign-in alone still gets its turn.
    assert signed_in(desk.url, "somchai").get("/register").status == 200
