"""`saraban-gateway verify FILE.pdf [--json]` as an operator sees it."""
from __future__ import annotations

import io
import json

from gateway.cli.verify import verify_command
from tests.pki import VALID_SIGNER_NAME, tamper_flip_byte


def run(path, trust, json_output=False):
    out = io.StringIO()
    code = verify_command(path, json_output, trust, out=out)
    return code, out.getvalue()


def test_text_output_for_a_valid_letter(tmp_path, signed, trust):
    path = tmp_path / "letter.pdf"
    path.write_bytes(signed)
    code, text = run(path, trust)
    assert code == 0
    assert "TOTAL_PASSED" in text and VALID_SIGNER_NAME in text
    assert "Traceback" not in text


def test_json_output_for_a_tampered_letter(tmp_path, signed, trust):
    path = tmp_path / "tampered.pdf"
    path.write_bytes(tamper_flip_byte(signed))
    code, text = run(path, trust, json_output=True)
    doc = json.loads(text)
    assert code == 1
    assert doc["file"] == str(path)
    assert doc["signatures"][0]["sub_indication"] == "HASH_FAILURE"


def test_garbage_and_missing_files(tmp_path, trust, capsys):
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"\x00" * 100)
    code, text = run(junk, trust)
    assert code == 1 and "FORMAT_FAILURE" in text and "Traceback" not in text
    assert run(tmp_path / "absent.pdf", trust)[0] == 64
    assert "cannot read" in capsys.readouterr().err


def test_unsigned_letter_exit_code(tmp_path, letter, trust):
    path = tmp_path / "plain.pdf"
    path.write_bytes(letter)
    code, text = run(path, trust)
    assert code == 2 and "NO_SIGNATURE_FOUND" in text
