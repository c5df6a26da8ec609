"""What a secret registrar types at the desk stays out of the browser's own files (red
team of 7 Dec 2026, docs/console.md "Security").

Chromium keeps what is typed into a form's text fields (its autocomplete history, the
`autofill` table of the profile's "Web Data" SQLite file) and offers it back to whoever
types in a field of the same name on the site: the reason a registrar gave for
rejecting a ลับ letter, quoting it, was on the disk of the counter's shared computer,
in plain, and offered to the next clerk who typed a reason. The desk's forms now say
autocomplete="off", which Chromium honours for that history."""
from __future__ import annotations

import os
import shutil
import sqlite3

import pytest

from tests.letters import letter, make_pdf
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, PASSWORD, running_desk

LAT = "saraban.latkrabang@bangkok.go.th"
REASON = "ไม่รับ แผนอพยพหน่วยคุ้มกัน AUTOF7QX"
CANCEL = "ลงซ้ำ แผนอพยพหน่วยคุ้มกัน AUTOC7QX"
DEPARTMENT = "ฝ่ายปกครอง AUTOD7QX"


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    held = letter(subject="ลับ แผนงาน AUTOHELD", body="ลับ\nเรื่อง แผนงาน AUTOHELD\n",
                  files=[("AUTOHELD.html", b"<html>AUTOHELD</html>")])
    secret = letter(subject="ลับ แผนรักษาความปลอดภัย AUTOSEC", body="ลับ\nเรื่อง แผน AUTOSEC\n",
                    files=[("2569_dds_0407_57.pdf", make_pdf("ลับ cover AUTOSEC"))])
    users = (("afreg", "registrar", "saraban.latkrabang"),)
    with running_desk(tmp_path_factory.mktemp("autofill"), users, ((held, LAT), (secret, LAT))) as desk:
        yield desk


def _typed_history(profile) -> list[tuple[str, str]]:
    """(field name, value) of the profile's autocomplete history, read from a copy of its
    SQLite file (Chromium holds the file open)."""
    path = profile / "Default" / "Web Data"
    if not path.exists():
        return []
    copy = profile.parent / "web-data-copy.sqlite"
    shutil.copyfile(path, copy)
    for suffix in ("-journal", "-wal"):
        if os.path.exists(str(path) + suffix):
            shutil.copyfile(str(path) + suffix, str(copy) + suffix)
    con = sqlite3.connect(copy)
    try:
        return con.execute("SELECT name, value FROM autofill").fetchall()
    finally:
        con.close()


def test_what_a_registrar_types_is_not_kept_by_the_browser(desk, tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    [(qid,)] = desk.db("SELECT id FROM quarantine WHERE state = 'held'")
    [(letter_id,)] = desk.db("SELECT id FROM letters WHERE book = 'secret'")
    profile = tmp_path / "profile"
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = context.new_page()
            page.goto(f"{desk.url}/login")
            page.fill("input[name=username]", "afreg")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/register**")

            page.goto(f"{desk.url}/quarantine/{qid}")
            page.fill("form.decide input[name=reason]", REASON)
            page.click("form.decide button[value=reject]")
            page.wait_for_load_state()
            assert desk.db("SELECT state FROM quarantine WHERE id = ?", qid) == [("rejected",)]

            page.goto(f"{desk.url}/letters/{letter_id}")
            page.fill("input[name=department]", DEPARTMENT)
            page.click("form[action$='/assign'] button[type=submit]")
            page.wait_for_load_state()
            page.fill("form.danger input[name=reason]", CANCEL)
            page.click("form.danger button[type=submit]")
            page.wait_for_load_state()
            assert desk.db("SELECT status FROM letters WHERE id = ?", letter_id) == [("cancelled",)]
            page.goto(f"{desk.url}/register")  # one more page: the profile's writes catch up
        finally:
            context.close()  # Chromium writes its "Web Data" out on close
    history = _typed_history(profile)
    typed = [value for _name, value in history]
    assert not any("7QX" in value for value in typed), history
    # Nor anywhere else in the profile (its caches, its session files).
    for dirpath, _dirs, names in os.walk(profile):
        for name in names:
            data = (profile / dirpath / name).read_bytes() if os.path.isfile(os.path.join(dirpath, name)) else b""
            for marker in (b"AUTOF7QX", b"AUTOC7QX"):
                assert marker not in data, os.path.join(dirpath, name)
