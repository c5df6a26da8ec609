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
    code, out, _ = run(["keys", "import-registrar", "saraban.dindaeng", str(tmp_path / "reg.pem")], data_dir, capsys)
    assert code == 0 and "saraban.dindaeng" in out and "1 usable" in out
    code, out, _ = run(["keys", "list"], data_dir, capsys)
    assert code == 0
    assert "gateway (current)" in out and "registrar saraban.dindaeng" in out
    assert "warning:" in out and "expires in" in out
    code, out, _ = run(["keys", "list", "--json"], data_dir, capsys)
    listing = json.loads(out)
    # The first `keys create` makes the receive stamp's seal too (session 51).
    assert {k["kind"] for k in listing["keys"]} == {"gateway", "seal", "registrar"}
    assert any(k["kind"] == "seal" and k["current"] for k in listing["keys"])
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
    code, _, err = run(["keys", "import-registrar", "saraban.dindaeng", str(tmp_path / "junk.pem")], data_dir, capsys)
    assert code == 1 and err.startswith("error: not a certificate")
    code, _, err = run(["keys", "import-registrar", "saraban.dindaeng", str(tmp_path / "missing.pem")],
                       data_dir, capsys)
    assert code == 2 and "missing.pem" in err
    _, expired = make_cert("old", days=-1, starts_days_ago=100)
    (tmp_path / "old.pem").write_bytes(pem(expired))
    code, _, err = run(["keys", "import-registrar", "saraban.dindaeng", str(tmp_path / "old.pem")], data_dir, capsys)
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


def _with_email(name: str, email: str, *, ca: bool = False):
    """A registrar certificate as a Thai CA issues it: the address in the subject."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = rsa.generate_private_key(65537, 2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                         x509.NameAttribute(NameOID.EMAIL_ADDRESS, email)])
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=365))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=True, data_encipherment=False,
            key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False),
            critical=True)
    return builder.sign(key, hashes.SHA256())


def test_keys_texts_name_what_a_sysadmin_recognises(data_dir, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="saraban-gateway")
    register_keys_parser(parser.add_subparsers(dest="command"))
    import contextlib
    import io

    help_text = io.StringIO()
    with contextlib.redirect_stdout(help_text), pytest.raises(SystemExit):
        parser.parse_args(["keys", "import-registrar", "--help"])
    assert "saraban.latkrabang" in help_text.getvalue() and "dds.sd" not in help_text.getvalue()

    (tmp_path / "ca.pem").write_bytes(pem(_with_email("Thai Test CA", "ca@example.th", ca=True)))
    code, _, err = run(["keys", "import-registrar", "saraban.latkrabang", str(tmp_path / "ca.pem")], data_dir, capsys)
    assert code == 1 and "this is a CA certificate (CN=Thai Test CA" in err and "found 0" not in err

    (tmp_path / "somsri.pem").write_bytes(pem(_with_email("สมศรี ใจดี", "somsri@bangkok.go.th")))
    run(["keys", "import-registrar", "saraban.latkrabang", str(tmp_path / "somsri.pem")], data_dir, capsys)
    _, out, _ = run(["keys", "list"], data_dir, capsys)
    assert "CN=สมศรี ใจดี,E=somsri@bangkok.go.th" in out and "<somsri@bangkok.go.th>" in out
    assert "1.2.840.113549.1.9.1" not in out


def test_many_registrar_certificates_from_a_folder_or_a_csv(data_dir, tmp_path, capsys):
    folder = tmp_path / "registrars"
    (folder / "saraban.latkrabang").mkdir(parents=True)
    (folder / "saraban.latkrabang" / "a.pem").write_bytes(pem(_with_email("A", "a@bangkok.go.th")))
    (folder / "saraban.latkrabang" / "b.pem").write_bytes(pem(_with_email("B", "b@bangkok.go.th")))
    (folder / "saraban.dindaeng.pem").write_bytes(pem(_with_email("C", "c@bangkok.go.th")))
    (folder / "saraban.pomprap.pem").write_bytes(pem(_with_email("CA", "ca@x.th", ca=True)))
    code, out, err = run(["keys", "import-registrars", str(folder)], data_dir, capsys)
    assert code == 1  # one refused: said, and the others imported all the same
    assert "3 of 4 certificate(s) imported, 1 refused" in out
    assert "saraban.pomprap.pem (saraban.pomprap): this is a CA certificate" in err
    _, listing, _ = run(["keys", "list", "--json"], data_dir, capsys)
    units = sorted(k["unit"] for k in json.loads(listing)["keys"] if k["kind"] == "registrar")
    assert units == ["saraban.dindaeng", "saraban.latkrabang", "saraban.latkrabang"]

    sheet = tmp_path / "registrars.csv"
    (tmp_path / "d.pem").write_bytes(pem(_with_email("D", "d@bangkok.go.th")))
    sheet.write_text("unit,certificate\nsaraban.pomprap@bangkok.go.th,d.pem\nsaraban.x,missing.pem\n",
                     encoding="utf-8")
    code, out, err = run(["keys", "import-registrars", str(sheet)], data_dir, capsys)
    assert "saraban.pomprap: registrar certificate" in out and f"{sheet} line 3 (saraban.x)" in err
