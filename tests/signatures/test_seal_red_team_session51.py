"""Red team of the receive stamp's own seal key (session 51, docs/signatures.md "The seal
key"): what an operator sees when `keys/seal/` is damaged in ways the first tests did
not try, each tried with the real command or the daemon's start-up."""
from __future__ import annotations

import json
from email import message_from_bytes
from pathlib import Path

import pytest
import structlog

from gateway.secrecy.keys import KeyStore
from gateway.signatures.receive_stamp import STAMP_UNAVAILABLE
from gateway.signatures.settings import prepare_signatures, seal_common_name
from tests.daemon import Daemon, write_config
from tests.letters import letter
from tests.signatures.test_seal_key_session51 import _keys, _settings, _unfolded

UNIT = "saraban.latkrabang@bangkok.go.th"


def _damage(current: Path, how: str) -> None:
    if how == "a directory":
        current.unlink()
        current.mkdir()
    elif how == "not text":
        current.write_bytes(b"\xff\xfe\x00garbage")


@pytest.mark.parametrize("how", ["a directory", "not text"])
def test_a_seal_current_that_cannot_be_read_is_a_warning_not_an_error(tmp_path, pki, capsys, how):
    # `keys list` stopped at "error: .../seal/CURRENT: Is a directory" (exit 2) or a
    # UnicodeDecodeError traceback, and the gateway key and registrars went unlisted.
    settings = _settings(tmp_path, pki)
    prepare_signatures(settings)
    data_dir = Path(settings.data_dir)
    _damage(data_dir / "keys" / "seal" / "CURRENT", how)
    code, out, err = _keys(["keys", "list", "--check"], data_dir, capsys)
    assert code == 1, err
    assert "gateway (current)" in out
    assert "warning: seal key: keys/seal/CURRENT is damaged: receive stamps cannot be signed" in out
    th = [t for t, _en in KeyStore.for_data_dir(data_dir).warning_pairs()]
    assert any(t.startswith("กุญแจลงนามตรารับ: แฟ้ม CURRENT เสียหาย") for t in th)
    # The daemon's start goes on (letters are filed unstamped), as for a missing CURRENT.
    prepare_signatures(settings)
    # `keys create-seal` mends it, as it mends a lost CURRENT.
    current = data_dir / "keys" / "seal" / "CURRENT"
    if current.is_dir():  # said as such, not as a failed write to `.CURRENT.<pid>.tmp`
        code, _, err = _keys(["keys", "create-seal"], data_dir, capsys)
        assert code == 1 and f"{current} is a folder: remove it (rmdir)" in err
        assert len(KeyStore.for_data_dir(data_dir).seal_fingerprints()) == 1
        current.rmdir()
    code, _, _ = _keys(["keys", "create-seal", "--cn", seal_common_name(settings)], data_dir, capsys)
    assert code == 0
    assert KeyStore.for_data_dir(data_dir).current_seal_fingerprint() is not None


def test_the_daemon_starts_and_files_unstamped_when_seal_current_is_a_directory(tmp_path):
    # The daemon refused to start: start_checks_failed "IsADirectoryError: ...", no letter
    # received at all, where a damaged key store must only cost the stamp.
    d = Daemon(write_config(tmp_path, extra="[signatures]\nstamp = true\n"))
    store = KeyStore(tmp_path / "var" / "keys")
    store.create_seal_key("Saraban Gateway Seal (bangkok.go.th)")
    store.create_gateway_key("Saraban Gateway Seal (bangkok.go.th)", email="saraban-gateway@bangkok.go.th")
    _damage(store.path / "seal" / "CURRENT", "a directory")
    d.start()
    try:
        d.send(letter(subject="ฉบับที่หนึ่ง"), UNIT)
        found = d.wait_for(lambda: d.maildir_files("latkrabang") or None, what="a folder copy")
        assert _unfolded(message_from_bytes(found[0].read_bytes())["X-Saraban-Stamp"]) == STAMP_UNAVAILABLE
    finally:
        d.stop()


@pytest.mark.parametrize("how", ["names a seal not in the store", "its slot was removed"])
def test_a_seal_current_naming_no_seal_is_warned(tmp_path, pki, capsys, how):
    # `keys list --check` exited 0 without a word (no seal marked current), the desk said
    # nothing, and every letter was filed unstamped.
    settings = _settings(tmp_path, pki)
    prepare_signatures(settings)
    data_dir = Path(settings.data_dir)
    seal = data_dir / "keys" / "seal"
    if how == "its slot was removed":
        import shutil

        named = (seal / "CURRENT").read_text().strip()
        shutil.rmtree(seal / named)
    else:
        named = "0" * 64
        (seal / "CURRENT").write_text(named + "\n")
    code, out, _ = _keys(["keys", "list", "--check"], data_dir, capsys)
    assert code == 1
    assert (f"warning: seal key: keys/seal/CURRENT names {named[:16]}…, which is not in the key store: "
            "receive stamps cannot be signed") in out
    th = [t for t, _en in KeyStore.for_data_dir(data_dir).warning_pairs()]
    assert any(t.startswith("กุญแจลงนามตรารับ") for t in th)


def test_the_start_up_hint_for_an_unusable_seal_names_create_seal(tmp_path, pki):
    # The daemon logged seal_unusable with hint "saraban-gateway keys create / keys import":
    # neither mends a seal (`keys create` says a key exists; an imported key does not
    # sign stamps in a store with a seal of its own).
    settings = _settings(tmp_path, pki)
    store = KeyStore.for_data_dir(settings.data_dir)
    store.create_seal_key(seal_common_name(settings), days=0)
    store.create_gateway_key(seal_common_name(settings))
    with structlog.testing.capture_logs() as events:
        prepare_signatures(settings)
    [event] = [e for e in events if e["event"] == "seal_unusable"]
    assert "keys create-seal --rotate" in event["hint"], event
    assert "keys import" not in event["hint"]


def test_a_seal_slot_holding_another_keys_certificate_is_unusable_in_keys_list(tmp_path, pki, capsys):
    # The slot's cert.pem replaced by the gateway key's (a copy made by hand): `keys list`
    # said "ok" under the other key's name while every stamp failed ("does not match its
    # name"), and `--check` exited 0.
    settings = _settings(tmp_path, pki)
    prepare_signatures(settings)
    data_dir = Path(settings.data_dir)
    store = KeyStore.for_data_dir(data_dir)
    seal_fp, gateway_fp = store.current_seal_fingerprint(), store.current_fingerprint()
    (store.path / "seal" / seal_fp / "cert.pem").write_bytes(
        (store.path / "gateway" / gateway_fp / "cert.pem").read_bytes())
    code, out, _ = _keys(["keys", "list", "--check"], data_dir, capsys)
    assert code == 1
    [line] = [line for line in out.splitlines() if line.startswith("seal (current)")]
    assert "UNUSABLE: cert.pem is not this key's certificate" in line
    code, out, _ = _keys(["keys", "list", "--json"], data_dir, capsys)
    [row] = [r for r in json.loads(out)["keys"] if r["kind"] == "seal"]
    assert row["usable"] is False
    th = [t for t, _en in store.warning_pairs()]
    assert any(t.startswith("กุญแจลงนามตรารับ") and "ไม่ใช่ใบรับรองของกุญแจนี้" in t for t in th)


def test_the_desks_operations_page_says_a_seal_current_folder_is_damaged(tmp_path):
    # Before b7d7a57 (key_files.current_seal_fingerprint) the page was a 500 (ระบบขัดข้อง)
    # for the IsADirectoryError of listing() and warning_pairs().
    from tests.web.conftest import running_desk
    from tests.web.test_parked_letters import shown, signed_in

    with running_desk(tmp_path, (("ops", "admin"),), ()) as desk:
        store = KeyStore(desk.daemon.data_dir / "keys")
        store.create_seal_key("Saraban Gateway Seal (bangkok.go.th)")
        _damage(store.path / "seal" / "CURRENT", "a directory")
        answer = signed_in(desk.url, "ops").get("/operations")
        assert answer.status == 200
        page = shown(answer)
        assert "กุญแจลงนามตรารับ: แฟ้ม CURRENT เสียหาย" in page, page
        assert "seal key: keys/seal/CURRENT is damaged" in page
