"""The seal that signs registrars' S/MIME: its address is the From of sealed mail, it is
issued by a CA (never a self-signed CA:FALSE certificate, which gpgsm refuses), and an
organisation-issued seal can be imported with its chain."""
from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.secrecy.envelope import letter_entity, letter_from_entity, seal_for_registrars
from gateway.secrecy.keys import KeyStore, cert_addresses, seal_address_problem
from tests.daemon import write_config
from tests.paths import REPO
from tests.secrecy.certs import key_pem, make_cert, pem

SEAL = "saraban-gateway@bangkok.go.th"


def test_created_seal_carries_the_address_and_is_issued_by_its_own_ca(tmp_path):
    store = KeyStore(tmp_path / "keys")
    store.create_gateway_key("Saraban Gateway Seal (bangkok.go.th)", email=SEAL)
    _, cert = store.gateway_identity()
    [ca] = store.gateway_chain()
    assert cert_addresses(cert) == [SEAL]
    assert cert.issuer == ca.subject != cert.subject
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                           cert.signature_hash_algorithm)
    assert seal_address_problem(store, SEAL) is None
    assert "carries saraban-gateway@bangkok.go.th" in seal_address_problem(store, "saraban@bangkok.go.th")


def _org_pki(email: str):
    """An organisation's root and intermediate CA and a seal certificate they issued."""
    now = dt.datetime.now(dt.timezone.utc)

    def issue(subject_cn, key, issuer_name, issuer_key, ca: bool, extra=()):
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
                   .issuer_name(issuer_name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=365))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        for ext in extra:
            builder = builder.add_extension(ext, critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    root_key, mid_key, seal_key = (rsa.generate_private_key(65537, 2048) for _ in range(3))
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "BMA Root CA (test)")])
    root = issue("BMA Root CA (test)", root_key, root_name, root_key, True)
    mid = issue("BMA Issuing CA (test)", mid_key, root.subject, root_key, True)
    seal = issue("Saraban Gateway Seal", seal_key, mid.subject, mid_key, False, extra=[
        x509.SubjectAlternativeName([x509.RFC822Name(email)]),
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
    ])
    return root, mid, seal, seal_key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl command not installed")
def test_organisation_issued_seal_is_imported_with_its_chain_and_verifies(tmp_path):
    root, mid, seal, seal_key = _org_pki(SEAL)
    bundle = tmp_path / "seal-bundle.pem"
    bundle.write_bytes(key_pem(seal_key) + pem(seal) + pem(mid))
    data_dir = tmp_path / "var"
    config = write_config(tmp_path)
    done = subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), "keys", "import",
                           str(bundle)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    store = KeyStore.for_data_dir(data_dir)
    assert store.gateway_chain() == [mid]
    assert seal_address_problem(store, SEAL) is None

    reg_key, reg_cert = make_cert("registrar")
    key, cert = store.gateway_identity()
    raw = b"Subject: letter\r\n\r\nbody\r\n"
    sealed = seal_for_registrars(letter_entity(raw, "note"), [reg_cert], key, cert,
                                 chain=store.gateway_chain(), headers={"From": SEAL})
    (tmp_path / "mail.eml").write_bytes(sealed)
    (tmp_path / "reg.pem").write_bytes(key_pem(reg_key) + pem(reg_cert))
    (tmp_path / "root.pem").write_bytes(pem(root))  # the registrar trusts only the root
    subprocess.run(["openssl", "cms", "-decrypt", "-in", "mail.eml", "-recip", "reg.pem", "-out", "dec"],
                   cwd=tmp_path, check=True, capture_output=True)
    ver = subprocess.run(["openssl", "cms", "-verify", "-in", "dec", "-CAfile", "root.pem", "-out", "part"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert ver.returncode == 0 and "Verification successful" in ver.stderr, ver.stderr
    assert letter_from_entity((tmp_path / "part").read_bytes()) == raw


def test_daemon_refuses_a_seal_without_the_from_address(tmp_path):
    store = KeyStore.for_data_dir(tmp_path / "var")
    store.create_gateway_key("old seal", email="someone-else@bangkok.go.th")
    config = write_config(tmp_path, extra='[secrecy]\nfrom_address = "saraban-gateway@bangkok.go.th"\n')
    for command in (["run"], ["check-config"]):
        result = subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), *command],
                                cwd=REPO, capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert "carries someone-else@bangkok.go.th" in result.stderr
        assert "sealed mail is sent From saraban-gateway@bangkok.go.th" in result.stderr
        assert "Traceback" not in result.stdout + result.stderr
