"""The operator's commands, through the same argparse wiring the main CLI uses."""
from __future__ import annotations

import argparse
import json

import pytest

from gateway.secrecy.audit import append_event, audit_path
from gateway.cli.secrecy import register_audit_parser, register_keys_parser
from tests.secrecy.certs import make_cert, pem


def run(argv, data_dir, capsys):
    parser = argparse.ArgumentParser(prog="saraban-gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    register_keys_parser(sub)
    register_audit_parser(sub)
    args = parser.parse_args(argv)
    args.data_dir = str(data_dir)
    code = args.func(args)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "var"


def test_create_list_and_import_registrar(data_dir, tmp_path, capsys):
    code, out, _ = run(["keys", "create", "--cn", "saraban.dds gateway"], data_dir, capsys)
    assert code == 0 and "created" in out
    _, cert = make_cert("registrar", days=20)
    (tmp_path / "reg.pem").write_bytes(pem(cert))
    code, out, _ = run(["keys", "import-registrar", "dds.sd", str(tmp_path / "reg.pem")], data_dir, capsys)
    assert code == 0 and "dds.sd" in out and "1 usable" in out
    code, out, _ = run(["keys", "list"], data_dir, capsys)
    assert code == 0
    assert "gateway (current)" in out and "registrar dds.sd" in out
    assert "warning:" in out and "expires in" in out
    code, out, _ = run(["keys", "list", "--json"], data_dir, capsys)
    listing = json.loads(out)
    assert {k["kind"] for k in listing["keys"]} == {"gateway", "registrar"}
    assert run(["keys", "list", "--check"], data_dir, capsys)[0] == 1


def test_second_create_needs_rotate(data_dir, capsys):
    run(["keys", "create", "--cn", "one"], data_dir, capsys)
    code, _, err = run(["keys", "create", "--cn", "two"], data_dir, capsys)
    assert code == 1 and "--rotate" in err
    assert run(["keys", "create", "--cn", "two", "--rotate"], data_dir, capsys)[0] == 0
    code, out, _ = run(["keys", "list", "--json"], data_dir, capsys)
    assert len([k for k in json.loads(out)["keys"] if k["kind"] == "gateway"]) == 2


def test_import_with_password_from_environment(data_dir, tmp_path, capsys, monkeypatch):
    from cryptography.hazmat.primitives import serialization

    key, cert = make_cert("imported")
    enc = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(b"pw"))
    (tmp_path / "gw.pem").write_bytes(enc + pem(cert))
    monkeypatch.setenv("GW_PASS", "pw")
    code, out, _ = run(["keys", "import", str(tmp_path / "gw.pem"), "--password-env", "GW_PASS"],
                       data_dir, capsys)
    assert code == 0 and "imported" in out


def test_bad_input_gets_a_sentence_not_a_traceback(data_dir, tmp_path, capsys):
    (tmp_path / "junk.pem").write_bytes(b"not a certificate")
    code, _, err = run(["keys", "import-registrar", "dds.sd", str(tmp_path / "junk.pem")], data_dir, capsys)
    assert code == 1 and err.startswith("error: not a certificate")
    code, _, err = run(["keys", "import-registrar", "dds.sd", str(tmp_path / "missing.pem")], data_dir, capsys)
    assert code == 2 and "missing.pem" in err
    _, expired = make_cert("old", days=-1, starts_days_ago=100)
    (tmp_path / "old.pem").write_bytes(pem(expired))
    code, _, err = run(["keys", "import-registrar", "dds.sd", str(tmp_path / "old.pem")], data_dir, capsys)
    assert code == 1 and "expired" in err


def test_audit_verify_ok_then_broken(data_dir, capsys):
    log = audit_path(data_dir)
    for i in range(3):
        append_event(log, action="view", letter_id=f"L{i}", who="admin")
    code, out, _ = run(["audit", "verify"], data_dir, capsys)
    assert code == 0 and "OK" in out and "3 entries" in out
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(lines[0] + lines[2])
    code, _, err = run(["audit", "verify"], data_dir, capsys)
    assert code == 1 and "BROKEN at line 2" in err
