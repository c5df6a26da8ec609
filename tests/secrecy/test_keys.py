from __future__ import annotations

import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from gateway.secrecy import SecrecyError
from gateway.secrecy.keys import KeyStore, key_fingerprint
from tests.secrecy.certs import key_pem, make_cert, pem


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_created_private_key_is_readable_only_by_the_service_user(store):
    fp = store.current_fingerprint()
    assert _mode(store.path / "gateway" / fp / "key.pem") == 0o600
    assert _mode(store.path) == 0o700
    assert _mode(store.path / "gateway" / fp) == 0o700


def test_private_key_mode_holds_under_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        ks = KeyStore(tmp_path / "keys")
        fp = ks.create_gateway_key("umask test")
    finally:
        os.umask(old)
    assert _mode(ks.path / "gateway" / fp / "key.pem") == 0o600


def test_a_key_file_others_can_read_is_refused(store):
    fp = store.current_fingerprint()
    os.chmod(store.path / "gateway" / fp / "key.pem", 0o644)
    with pytest.raises(SecrecyError, match="chmod 600"):
        store.gateway_identity()
    assert "readable by others" in store.listing()[0]["problem"]


def test_gateway_identity_is_the_created_pair(store):
    key, cert = store.gateway_identity()
    assert key_fingerprint(key.public_key()) == key_fingerprint(cert.public_key())
    assert key_fingerprint(cert.public_key()) == store.current_fingerprint()


def test_no_gateway_key_is_a_clear_error(tmp_path):
    with pytest.raises(SecrecyError, match="keys create"):
        KeyStore(tmp_path / "keys").gateway_identity()


def test_rotation_keeps_the_old_key_and_moves_current(store):
    old = store.current_fingerprint()
    new = store.create_gateway_key("saraban-gateway 2025")
    assert new != old
    assert store.current_fingerprint() == new
    fps = [gk.fingerprint for gk in store.all_gateway_keys()]
    assert fps[0] == new and old in fps
    assert store.gateway_key(old).fingerprint == old


def test_import_gateway_key_from_pem_bundle(tmp_path):
    key, cert = make_cert("imported gateway", bits=2048)
    ks = KeyStore(tmp_path / "keys")
    fp = ks.import_gateway_key(key_pem(key) + pem(cert))
    assert fp == key_fingerprint(key.public_key())
    assert ks.gateway_identity()[1] == cert
    assert _mode(ks.path / "gateway" / fp / "key.pem") == 0o600


def test_import_gateway_key_from_pkcs12_with_password(tmp_path):
    key, cert = make_cert("p12 gateway")
    p12 = pkcs12.serialize_key_and_certificates(
        b"gw", key, cert, None, serialization.BestAvailableEncryption(b"s3cret")
    )
    ks = KeyStore(tmp_path / "keys")
    with pytest.raises(SecrecyError, match="wrong password"):
        ks.import_gateway_key(p12, "wrong")
    assert ks.gateway_fingerprints() == []
    fp = ks.import_gateway_key(p12, "s3cret")
    assert ks.current_fingerprint() == fp


def test_import_refuses_a_certificate_of_another_key(tmp_path):
    key, _ = make_cert("a")
    _, other = make_cert("b")
    with pytest.raises(SecrecyError, match="matches the private key"):
        KeyStore(tmp_path / "keys").import_gateway_key(key_pem(key) + pem(other))


def test_registrar_certs_several_per_unit(store, registrar):
    _, second = make_cert("second registrar")
    store.import_registrar_cert("dds.sd", pem(registrar[1]))
    store.import_registrar_cert("dds.sd", pem(second))
    assert {c.serial_number for c in store.registrar_certs("dds.sd")} == {
        registrar[1].serial_number, second.serial_number}
    assert store.registrar_certs("pomprap") == []


@pytest.mark.parametrize(
    "kwargs, reason",
    [
        ({"days": -1}, "expired"),
        ({"starts_days_ago": -5}, "not valid before"),
        ({"key_encipherment": False}, "keyEncipherment"),
        ({"key_usage": False}, "no keyUsage"),
        ({"ec_key": True}, "EC key"),
        ({"bits": 1024}, "too short"),
    ],
)
def test_unusable_registrar_certificates_are_refused(store, kwargs, reason):
    _, cert = make_cert(**kwargs)
    with pytest.raises(SecrecyError, match=reason):
        store.import_registrar_cert("dds.sd", pem(cert))
    assert store.registrar_certs("dds.sd") == []


def test_a_certificate_that_expired_after_import_is_not_used(store, registrar):
    store.import_registrar_cert("dds.sd", pem(registrar[1]))
    _, expired = make_cert("expired since", days=-2, starts_days_ago=400)
    (store.path / "registrars" / "dds.sd" / "expired.pem").write_bytes(pem(expired))
    assert store.registrar_certs("dds.sd") == [registrar[1]]
    bad = [r for r in store.listing() if r["kind"] == "registrar" and not r["usable"]]
    assert len(bad) == 1 and bad[0]["problem"].startswith("expired")


@pytest.mark.parametrize("unit", ["../gateway", "..", "a/b", "", ".hidden"])
def test_unit_codes_cannot_escape_the_store(store, registrar, unit):
    with pytest.raises(SecrecyError, match="unit code"):
        store.import_registrar_cert(unit, pem(registrar[1]))


def test_unit_code_with_ampersand_is_accepted(store, registrar):
    store.import_registrar_cert("dindaeng.cd&sw", pem(registrar[1]))
    assert store.registrar_certs("dindaeng.cd&sw")


def test_listing_and_warnings_before_expiry(store, registrar):
    _, soon = make_cert("soon registrar", days=10)
    store.import_registrar_cert("dds.sd", pem(registrar[1]))
    store.import_registrar_cert("hd.04", pem(soon))
    rows = store.listing()
    assert [r["kind"] for r in rows].count("gateway") == 1
    assert {r["unit"] for r in rows if r["kind"] == "registrar"} == {"dds.sd", "hd.04"}
    warnings = store.warnings(days=30)
    assert len(warnings) == 1
    assert "hd.04" in warnings[0] and "expires in" in warnings[0]
    assert store.warnings(days=5) == []


def test_warning_when_a_unit_has_no_usable_registrar(store):
    _, expired = make_cert("old", days=-1, starts_days_ago=400)
    unit_dir = store.path / "registrars" / "pawnshop.branch1"
    unit_dir.mkdir(parents=True)
    (unit_dir / "x.pem").write_bytes(pem(expired))
    assert any("pawnshop.branch1 has no usable registrar" in w for w in store.warnings())


def test_gateway_key_must_be_rsa(tmp_path):
    key, cert = make_cert("ec gateway", ec_key=True)
    with pytest.raises(SecrecyError, match="RSA"):
        KeyStore(tmp_path / "keys").import_gateway_key(key_pem(key) + pem(cert))


def test_expired_gateway_certificate_cannot_sign_but_stored_letters_still_open(store):
    from gateway.secrecy.vault_crypto import decrypt_blob, encrypt_blob

    blob = encrypt_blob(b"old letter", store)
    fp = store.current_fingerprint()
    key = store.gateway_key(fp).private_key
    _, expired = make_cert("gateway", key=key, days=-1, starts_days_ago=700)
    (store.path / "gateway" / fp / "cert.pem").write_bytes(pem(expired))
    with pytest.raises(SecrecyError, match="expired"):
        store.gateway_identity()
    assert decrypt_blob(blob, store) == b"old letter"
    assert any("expired" in w for w in store.warnings())
