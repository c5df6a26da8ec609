"""The tools on their own: reprocessing a parked message, the unit directory import,
Thai line breaking and the progress bar."""
from __future__ import annotations

import io
import unicodedata

import pytest

from gateway.config.settings import load_settings
from gateway.pipeline.runner import process_safely
from gateway.service.services import open_services
from gateway.tools.common import ToolError
from gateway.tools.progress import Progress
from gateway.tools.reprocess import reprocess
from gateway.tools import thai_wrap
from gateway.tools.thai_wrap import wrap
from storage.models import Message, OperatorAction
from tests.daemon import write_config
from tests.letters import letter
from tests.tools_helpers import cli, this_be_year


@pytest.fixture
def services(tmp_path):
    with open_services(load_settings(write_config(tmp_path)), "pipeline", upgrade_schema=True) as s:
        yield s


def test_a_message_parked_after_repeated_failures_is_reprocessed_into_the_register(services, monkeypatch):
    raw = letter()
    qid = services.spool.accept(raw, "saraban.dds@bangkok.go.th", ["saraban.latkrabang@bangkok.go.th"])

    def bug(*_args, **_kwargs):  # not a storage error (those wait, never park): a bug
        raise RuntimeError("a bug fixed in the next release")

    with monkeypatch.context() as patch:
        patch.setattr(services.vault, "put", bug)
        for _ in range(services.settings.pipeline.max_attempts):
            process_safely(services, qid)
    assert services.spool.parked() == [qid]
    with services.db.session() as session:
        message = session.get(Message, qid)
        # Its type and place, not its words, which may quote the letter (docs/secrecy.md).
        assert message.state == "failed" and message.reason.startswith("RuntimeError at test_tools_direct.py:")
        assert "a bug fixed" not in message.reason

    result = reprocess(services, qid, "bug fixed")  # the new release is installed
    assert result["was"] == "parked" and result["state"] == "done"
    assert result["outcome"] == {"saraban.latkrabang@bangkok.go.th": f"registered 1/{this_be_year()}"}
    assert services.spool.parked() == [] and services.spool.pending() == []
    with services.db.session() as session:
        [action] = session.query(OperatorAction).all()
        assert (action.action, action.reason, action.details["was"]) == ("reprocessed", "bug fixed", "parked")
        assert action.details["error"].startswith("RuntimeError at test_tools_direct.py:")
    with pytest.raises(ToolError, match="nothing to reprocess"):
        reprocess(services, qid, None)


def test_units_import_validates_and_summarises(tmp_path):
    config = write_config(tmp_path)
    sheet = tmp_path / "units.csv"
    sheet.write_bytes("\ufeffaddress,name_th,name_en,parent,folder\n"
                      "saraban.latkrabang,สำนักงานเขตลาดกระบัง,Lat Krabang District Office,,\n"
                      "saraban.latkrabang.admin,ฝ่ายปกครอง,Administration,saraban.latkrabang,\n"
                      "\n".encode("utf-8"))
    target = tmp_path / "units.toml"
    out = cli(config, "units", "import", str(sheet), "-o", str(target))
    assert out.returncode == 0, out.stderr
    assert f"wrote {target}: 2 units, 1 at the top level" in out.stdout
    assert "added 2: saraban.latkrabang, saraban.latkrabang.admin" in out.stdout
    assert 'name_th = "ฝ่ายปกครอง"' in target.read_text(encoding="utf-8")

    sheet.write_text("address,name_th,name_en,parent,folder\n"
                     "saraban.latkrabang,สำนักงานเขตลาดกระบัง (ใหม่),Lat Krabang,,\n", encoding="utf-8")
    checked = cli(config, "units", "import", str(sheet), "-o", str(target), "--check")
    assert "checked (not written)" in checked.stdout
    assert "removed 1: saraban.latkrabang.admin" in checked.stdout and "changed 1: saraban.latkrabang" in checked.stdout
    assert "ฝ่ายปกครอง" in target.read_text(encoding="utf-8")  # --check wrote nothing

    before = target.read_bytes()
    sheet.write_text("address,name_th,name_en,parent,folder\nSaraban Lat Krabang!,ลาดกระบัง,,,\n", encoding="utf-8")
    bad = cli(config, "units", "import", str(sheet), "-o", str(target))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "Saraban Lat Krabang!" in bad.stderr
    assert target.read_bytes() == before  # a bad sheet never replaces a good directory
    missing = cli(config, "units", "import", str(tmp_path / "nope.csv"), "-o", str(target))
    assert missing.returncode == 2 and "not found" in missing.stderr

    # Every error at once, each named by the sheet's file and line (not a temp file).
    sheet.write_text("address,name_th,name_en,parent,folder\n"
                     "saraban.latkrabang,สำนักงานเขตลาดกระบัง,Lat Krabang,,\n"
                     "saraban.latkrabang,ซ้ำ,Duplicate,,dup\n"
                     "saraban.x,,,saraban.nowhere,\n", encoding="utf-8")
    many = cli(config, "units", "import", str(sheet), "-o", str(target))
    assert many.returncode == 2 and ".import.toml" not in many.stderr
    assert f"{sheet} line 3 (saraban.latkrabang): duplicate address, already used on line 2" in many.stderr
    assert f"{sheet} line 4 (saraban.x): 'name_th' is empty" in many.stderr
    assert f"{sheet} line 4 (saraban.x): unknown parent 'saraban.nowhere'" in many.stderr


@pytest.mark.parametrize("text", [
    "การสมัครขอใช้งานโปรแกรมอีเล็กทรอนิกส์ของกรุงเทพมหานคร",
    "ขอความร่วมมือแจ้งเวียนเรื่องการป้องกันน้ำท่วมขังในพื้นที่ ส่งเข้าแฟ้มแล้ว 22 พ.ย. 2569",
    "ผู้อำนวยการสำนักงานเขตลาดกระบังที่นี่ไม่ใช่ที่โน่น",
])
@pytest.mark.parametrize("limit", [6, 12, 25])
@pytest.mark.parametrize("dictionary", [True, False], ids=["pythainlp", "clusters-only"])
def test_thai_lines_break_between_words_never_inside_a_character_cluster(text, limit, dictionary, monkeypatch):
    if not dictionary:  # as on a host without PyThaiNLP
        monkeypatch.setattr(thai_wrap, "_segmenter", lambda: None)
    lines = wrap(text, limit, len)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    for line in lines:
        assert line and unicodedata.category(line[0]) != "Mn"  # no orphaned vowel or tone mark
        assert line[0] not in "ะาำ" and line[-1] not in "เแโใไ"
        assert not line.startswith((".", ";", ")"))
    assert "พ.ย." in " ".join(lines).replace("\n", " ") or "พ.ย." not in text


def test_an_unwritable_export_target_is_one_sentence(tmp_path):
    config = write_config(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = cli(config, "register", "export", "--unit", "saraban.latkrabang", "-o", str(blocker / "r.csv"))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert str(blocker) in out.stderr


def test_progress_bar_only_on_a_terminal():
    quiet = io.StringIO()
    bar = Progress(3, "export", stream=quiet)  # a StringIO is not a terminal
    for _ in range(3):
        bar.advance()
    bar.close()
    assert quiet.getvalue() == ""
    shown = io.StringIO()
    bar = Progress(2, "export", stream=shown, enabled=True)
    bar.advance()
    bar.advance()
    bar.close()
    assert shown.getvalue().endswith("export [" + "#" * 30 + "] 2/2\n")
