"""The secret register's search box takes a sender's address only (red team of 7 Dec
2026, docs/console.md "secret register").

It said "เรื่อง ผู้ส่ง หรือเลขที่หนังสือ" (subject, sender or reference), as the general
register's does; but a classified entry keeps none of those, so a registrar who typed a
ลับ letter's subject found nothing, and the words went into the page's address
(`/secret?q=...`): the browser's history on the counter's computer and the access log
of the reverse proxy in front of the desk (docs/console.md "Behind nginx") kept them in
plain. Now the field is "ค้นหาตามที่อยู่อีเมลผู้ส่ง", the browser refuses to send
anything but an address's characters, and the server refuses it too, without drawing
it back into the page."""
from __future__ import annotations

import html
import os
import re
from urllib.parse import quote

import pytest

from tests.letters import letter, make_pdf
from tests.web.client import signed_in
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, PASSWORD, running_desk

LAT = "saraban.latkrabang@bangkok.go.th"
TYPED = "แผนอพยพ SRCH7QX"


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    secret = letter(subject="ลับ แผนอพยพ SRCHSEC", body="ลับ\nเรื่อง แผนอพยพ SRCHSEC\n",
                    files=[("2569_dds_0407_57.pdf", make_pdf("ลับ cover SRCHSEC"))])
    users = (("ssreg", "registrar", "saraban.latkrabang"),)
    with running_desk(tmp_path_factory.mktemp("secret_search"), users, ((secret, LAT),)) as desk:
        yield desk


def seen(answer) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", answer.text)))


def test_the_browser_does_not_send_a_subject_typed_into_the_secret_registers_search(desk, tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            sent: list[str] = []
            page.on("request", lambda request: sent.append(request.url))
            page.goto(f"{desk.url}/login")
            page.fill("input[name=username]", "ssreg")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/register**")
            page.goto(f"{desk.url}/secret")
            field = page.locator("form.filters input[name=q]")
            field.fill(TYPED)
            page.click("form.filters button[type=submit]")
            page.wait_for_timeout(500)
            # Until then: sent, and the address bar (so the history) read /secret?...&q=แผนอพยพ...
            assert "SRCH7QX" not in page.url and not any("SRCH7QX" in url for url in sent), (page.url, sent)
            assert "ที่อยู่อีเมลผู้ส่ง" in page.locator("form.filters").inner_text()
            # Chromium's bubble: its "Please match the requested format." and the field's title.
            assert field.evaluate("e => e.validity.patternMismatch") is True
            assert "ค้นหาได้ด้วยที่อยู่อีเมลผู้ส่งเท่านั้น" in field.get_attribute("title")
            field.fill("bangkok.go.th")
            page.click("form.filters button[type=submit]")
            page.wait_for_url("**q=bangkok.go.th**")
            assert "(หนังสือลับ)" in page.content()  # found by its sender's address
        finally:
            browser.close()


def test_the_server_refuses_words_in_the_secret_registers_search_and_draws_none_back(desk):
    registrar = signed_in(desk.url, "ssreg")
    answer = registrar.get(f"/secret?q={quote(TYPED)}")
    page = seen(answer)
    assert "ค้นหาได้ด้วยที่อยู่อีเมลผู้ส่งเท่านั้น" in page
    assert "SRCH7QX" not in answer.text  # not drawn back into the field (nor the pager's links)
    assert "(หนังสือลับ)" in seen(registrar.get("/secret?q=saraban.dds%40bangkok.go.th"))
    assert "(หนังสือลับ)" not in seen(registrar.get("/secret?q=nobody.example"))
    # The general register still searches subjects as before.
    assert registrar.get(f"/register?q={quote('แผนอพยพ')}").status == 200
