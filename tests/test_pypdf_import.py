"""pypdf imported without `cryptography` (gateway/pipeline/pypdf_import.py): the DATA
check and the PDF reader read every PDF as they did with it, encrypted ones included,
and load it only for an encrypted one.

Each reading runs in a fresh interpreter, as the worker starts: once the lean way, once
with `cryptography` imported before pypdf (how every process read PDFs until session 30),
and the two readings must be the same."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import shared_dir
from tests.thai_pdfs import thai_pdf

REPO = Path(__file__).resolve().parent.parent

_READ = """
import base64, json, sys
{before}
from gateway.pipeline.pdf_inspect import inspect_pdf
out = []
for path in sys.argv[1:]:
    before_read = "cryptography" in sys.modules
    info = inspect_pdf(open(path, "rb").read())
    out.append({{"text": info.text, "pages": info.pages, "encrypted": info.encrypted, "error": info.error,
                "page_texts": list(info.page_texts), "other_texts": list(info.other_texts),
                "crypto_before": before_read,
                "crypto_after": "cryptography" in sys.modules}})
import pypdf
print(json.dumps({{"provider": pypdf._crypt_providers.crypt_provider[0], "read": out}}))
"""


def _read(paths: list[Path], *, lean: bool) -> dict:
    before = "" if lean else "import cryptography.hazmat.primitives.ciphers"
    run = subprocess.run([sys.executable, "-c", _READ.format(before=before), *map(str, paths)],
                         capture_output=True, text=True, timeout=300, cwd=REPO, check=True)
    return json.loads(run.stdout.splitlines()[-1])


def _encrypted(data: bytes, algorithm: str, user_password: str = "") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner-only", algorithm=algorithm)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_plain_pdf_is_read_without_cryptography(tmp_path):
    path = tmp_path / "plain.pdf"
    path.write_bytes(thai_pdf(["หนังสือราชการ ลับมาก", "เรื่อง ทดสอบ"]))
    lean = _read([path], lean=True)
    assert lean["provider"] == "local_crypt_fallback"
    [reading] = lean["read"]
    assert "ลับมาก" in reading["text"] and not reading["crypto_after"]
    assert reading == {**_read([path], lean=False)["read"][0], "crypto_before": False, "crypto_after": False}


@pytest.mark.parametrize("algorithm", ["RC4-40", "RC4-128", "AES-128", "AES-256-R5", "AES-256"])
def test_an_owner_only_encrypted_pdf_is_read_as_with_cryptography(tmp_path, algorithm):
    # Owner-only protection (an empty user password) opens for anyone: its marking must
    # be found, whatever cipher protects it. Before the switch pypdf's fallback could
    # open RC4 and would have refused AES.
    path = tmp_path / f"{algorithm}.pdf"
    path.write_bytes(_encrypted(thai_pdf(["ลับมาก", "เรื่อง แผนงานประจำปี"]), algorithm))
    lean, full = _read([path], lean=True), _read([path], lean=False)
    [reading], [expected] = lean["read"], full["read"]
    assert reading["encrypted"] is True and "ลับมาก" in reading["text"]
    assert reading["crypto_after"] and lean["provider"] == "cryptography"
    assert {k: v for k, v in reading.items() if not k.startswith("crypto")} == \
        {k: v for k, v in expected.items() if not k.startswith("crypto")}


def test_an_owner_only_pdf_attached_inside_a_plain_one_is_read_as_with_cryptography(tmp_path):
    # The letter's PDF is plain (pypdf imported lean, no switch for it); the annex it
    # carries is AES-128 encrypted: the switch happens at the embedded file.
    from pypdf import PdfReader, PdfWriter

    outer = PdfWriter(clone_from=PdfReader(io.BytesIO(thai_pdf(["หนังสือนำส่ง"]))))
    outer.add_attachment("annex.pdf", _encrypted(thai_pdf(["ลับมาก", "แผนงาน"]), "AES-128"))
    out = io.BytesIO()
    outer.write(out)
    path = tmp_path / "outer.pdf"
    path.write_bytes(out.getvalue())
    lean, full = _read([path], lean=True), _read([path], lean=False)
    [reading], [expected] = lean["read"], full["read"]
    assert reading["crypto_after"] and lean["provider"] == "cryptography"
    assert any("ลับมาก" in text for text in reading["other_texts"])
    assert {k: v for k, v in reading.items() if not k.startswith("crypto")} == \
        {k: v for k, v in expected.items() if not k.startswith("crypto")}


def test_a_password_protected_pdf_stays_unread(tmp_path):
    path = tmp_path / "password.pdf"
    path.write_bytes(_encrypted(thai_pdf(["ลับ"]), "AES-256", user_password="s3cret"))
    [reading] = _read([path], lean=True)["read"]
    assert reading["encrypted"] is True and reading["text"] is None


def test_the_corpus_encrypted_pdfs_read_the_same_both_ways():
    # pyHanko's and the DSS trial's encrypted files: RC4, AES-256, public-key security,
    # a malformed /Encrypt.
    base = shared_dir()
    if base is None:
        pytest.skip("shared/ is not present beside the repository")
    paths = sorted(p for p in (base / "corpus" / "pdf").rglob("*.pdf") if b"/Encrypt" in p.read_bytes())
    assert len(paths) >= 5
    lean, full = _read(paths, lean=True), _read(paths, lean=False)
    strip = [{k: v for k, v in r.items() if not k.startswith("crypto")} for r in lean["read"]]
    assert strip == [{k: v for k, v in r.items() if not k.startswith("crypto")} for r in full["read"]]


def test_another_thread_gets_cryptography_while_pypdf_is_imported():
    # Only the importing thread is refused it: the pipeline has threads of its own.
    code = """
import sys, threading
import gateway.pipeline.pypdf_import as lean
started, got = threading.Event(), []
real_import = lean.importlib.import_module
def slow_import(name, *a):
    if name == "pypdf":
        started.set()
        other.join()
    return real_import(name, *a)
def other_thread():
    started.wait()
    import cryptography.hazmat.primitives.ciphers
    got.append(True)
other = threading.Thread(target=other_thread)
other.start()
lean.importlib.import_module = slow_import
lean.import_pypdf()
import pypdf
print(got, pypdf._crypt_providers.crypt_provider[0])
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=REPO, check=True).stdout.split()
    # cryptography was in sys.modules before pypdf's own import: pypdf took it then.
    assert out == ["[True]", "cryptography"]
