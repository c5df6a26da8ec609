"""Key store reporting left from session 51's red team of the seal key: a retired key's
coming expiry, and a gateway/CURRENT that is not text."""
from __future__ import annotations

import argparse

from gateway.cli.secrecy import register_keys_parser
from gateway.secrecy.keys import KeyStore


def _keys(argv: list[str], keys_dir, capsys) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="saraban-gateway")
    register_keys_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["keys", "--keys-dir", str(keys_dir), *argv])
    code = args.func(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_retired_key_about_to_expire_is_not_a_warning(tmp_path, capsys):
    store = KeyStore(tmp_path / "keys")
    old = store.create_gateway_key("saraban-gateway (old)", days=10)
    old_seal = store.create_seal_key("Saraban Gateway Seal (old)", days=10)
    code, out, _ = _keys(["list", "--check"], store.path, capsys)
    assert code == 1 and "expires in" in out  # the current ones: rotate them
    store.create_gateway_key("saraban-gateway (new)")  # `keys create --rotate`
    store.create_seal_key("Saraban Gateway Seal (new)")  # `keys create-seal --rotate`
    code, out, _ = _keys(["list", "--check"], store.path, capsys)
    # Before: "warning: gateway key ... expires in 9 days" for each retired key, exit 1,
    # for a key kept only to open old letters and verify old stamps.
    assert code == 0 and "warning" not in out, out
    assert old[:16] in out and old_seal[:16] in out  # still listed
    assert store.warning_pairs() == []


def test_a_gateway_current_that_is_not_text_is_said_not_a_traceback(tmp_path, capsys):
    store = KeyStore(tmp_path / "keys")
    store.create_gateway_key("saraban-gateway")
    current = store.path / "gateway" / "CURRENT"
    for damage in ("bytes", "folder"):
        current.unlink() if current.is_file() else current.rmdir()
        current.write_bytes(b"\xff\xfe\x00") if damage == "bytes" else current.mkdir()
        code, out, err = _keys(["list", "--check"], store.path, capsys)
        assert code == 1, (damage, out, err)
        assert "no current gateway key: classified letters cannot be signed or stored" in out
        assert "Traceback" not in out + err and "UnicodeDecodeError" not in out + err


def test_a_gateway_current_folder_in_a_store_without_a_seal_costs_the_stamp_not_the_start(tmp_path):
    # A variation the red team did not name: its CURRENT folder was the seal's. In a key
    # store from before session 51 the gateway key signs stamps; its CURRENT a folder
    # raised IsADirectoryError through the start-up checks, which stopped the daemon.
    import pytest

    from gateway.config.views import ConfigError
    from gateway.signatures.settings import prepare_signatures, seal_for_stamping
    from tests.signatures.test_wiring import settings_with

    settings = settings_with(tmp_path, '[gateway]\ndomain = "saraban.bangkok.go.th"\n')
    store = KeyStore(tmp_path / "var" / "keys")
    assert store.path == KeyStore.for_data_dir(settings.data_dir).path
    store.create_gateway_key("saraban-gateway")
    current = store.path / "gateway" / "CURRENT"
    current.unlink()
    current.mkdir()
    prepare_signatures(settings)  # logs seal_unusable; letters are filed unstamped
    with pytest.raises(ConfigError, match="keys/gateway/CURRENT is damaged"):
        seal_for_stamping(settings)
