"""Session 40: a page that fails for a signed-in clerk is drawn for that clerk.

The app-wide 500 page was drawn as for nobody signed in, in Thai (session 39's red
team): a clerk who had chosen English read "ระบบขัดข้อง" under a "Sign in" menu, took
it for being signed out, and signed in again to the same page. A file whose stored
copy is damaged (its bytes no longer hash to its name) says so, for the operator to
restore it from the backup, not "something went wrong"."""
from __future__ import annotations

import hashlib
import shutil

import pytest

from tests.letters import letter, make_pdf
from tests.web.client import signed_in
from tests.web.conftest import running_desk

LAT = "saraban.latkrabang@bangkok.go.th"
PDF = make_pdf("session 40 damaged copy")


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    letters = ((letter(subject="หนังสือสำเนาเสียหาย", files=[("a.pdf", PDF)]), LAT),)
    with running_desk(tmp_path_factory.mktemp("desk"), (("somchai", "clerk", "saraban.latkrabang"),),
                      letters) as desk:
        yield desk


def _stored_copy(desk):
    digest = hashlib.sha256(PDF).hexdigest()
    [path] = [p for p in desk.daemon.data_dir.rglob(digest) if p.is_file()]
    return path


def test_a_damaged_stored_copy_is_named_for_the_clerk_in_their_language(desk):
    [(letter_id,)] = desk.db("SELECT id FROM letters WHERE subject = ?", "หนังสือสำเนาเสียหาย")
    clerk = signed_in(desk.url, "somchai")
    assert clerk.get(f"/letters/{letter_id}/files/0").body == PDF
    stored = _stored_copy(desk)
    kept = stored.read_bytes()
    try:
        stored.write_bytes(kept[:-10] + b"0123456789")  # what a disk's damage leaves
        answer = clerk.get(f"/letters/{letter_id}/files/0")
        assert answer.status == 500 and answer.header("content-type").startswith("text/html")
        assert "สำเนาไฟล์นี้ในคลังเอกสารของระบบเสียหาย" in answer.text and "ออกจากระบบ" in answer.text
        assert "Traceback" not in answer.text and "vault object" not in answer.text
        clerk.post("/lang", {"lang": "en", "back": "/register"})
        answer = clerk.get(f"/letters/{letter_id}/files/0")
        assert answer.status == 500
        assert "The stored copy of this file is damaged" in answer.text and "Sign out" in answer.text
        assert any(e.get("event") == "web_vault_object_damaged" for e in desk.daemon.events())
    finally:
        stored.write_bytes(kept)
        clerk.post("/lang", {"lang": "th", "back": "/register"})


def test_a_page_that_fails_is_drawn_for_the_clerk_signed_in(desk):
    [(letter_id,)] = desk.db("SELECT id FROM letters WHERE subject = ?", "หนังสือสำเนาเสียหาย")
    clerk = signed_in(desk.url, "somchai")
    clerk.post("/lang", {"lang": "en", "back": "/register"})
    stored = _stored_copy(desk)
    moved = stored.with_name(stored.name + ".away")
    stored.rename(moved)
    stored.mkdir()  # not a file any more: reading it fails as no page expects
    try:
        answer = clerk.get(f"/letters/{letter_id}/files/0")
        assert answer.status == 500 and answer.header("content-type").startswith("text/html")
        assert "Something went wrong" in answer.text and "Sign out" in answer.text
        assert "ระบบขัดข้อง" not in answer.text and "IsADirectoryError" not in answer.text
        failed = [e for e in desk.daemon.events() if e.get("event") == "web_handler_failed"]
        assert failed and failed[-1].get("username") == "somchai"
    finally:
        shutil.rmtree(stored)
        moved.rename(stored)
    assert clerk.get(f"/letters/{letter_id}/files/0").body == PDF
