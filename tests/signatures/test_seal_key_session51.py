"""The receive stamp's own seal key (`<data_dir>/keys/seal/`, EC P-256), made with the
first gateway key (docs/signatures.md "The seal key").

A new installation signs its stamps with it; a key store made before it (a gateway key
and no `seal/`) keeps stamping with the gateway key, so readers who were given that
certificate are not surprised, until the operator runs `keys create-seal`. Every stamp
the gateway ever made still verifies as its own: the seals and the gateway keys are all
its certificates. A store that has seals and lost its `seal/CURRENT` does not fall back
to the gateway key."""
from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import stat
from email import message_from_bytes
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.cli.secrecy import register_keys_parser
from gateway.cli.verify import verify_command
from gateway.config.views import ConfigError
from gateway.secrecy import SecrecyError
from gateway.secrecy.keys import KeyStore
from gateway.signatures.receive_stamp import STAMP_UNAVAILABLE
from gateway.signatures.settings import (load_seal, prepare_signatures, seal_common_name, seal_for_stamping,
                                         trust_from_settings)
from gateway.signatures.stamp import StampInfo, stamp_pdf
from tests.daemon import Daemon, write_config
from tests.letters import letter
from tests.signatures.test_wiring import settings_with

UNIT = "saraban.latkrabang@bangkok.go.th"
RECEIVED = dt.datetime(2026, 1, 5, 2, 0, tzinfo=dt.timezone.utc)
DOMAIN = "saraban.bangkok.go.th"


def _keys(argv: list[str], data_dir: Path, capsys) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="saraban-gateway")
    register_keys_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    args.data_dir = str(data_dir)
    code = args.func(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def _seal_signature(pdf: bytes) -> tuple[str, bytes]:
    """(signature algorithm, signer certificate DER) of the receive stamp in `pdf`."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    sigs = {s.field_name: s for s in PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures}
    stamp = sigs["SarabanReceiveStamp"]
    return stamp.signer_info["signature_algorithm"]["algorithm"].native, stamp.signer_cert.dump()


def _cert_der(slot: Path) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return x509.load_pem_x509_certificate((slot / "cert.pem").read_bytes()).public_bytes(Encoding.DER)


def _verified_as_ours(path: Path, settings) -> dict:
    out = io.StringIO()
    # Exit 1: valid, flagged for review because the file already carries our stamp.
    assert verify_command(path, True, trust_from_settings(settings), out=out) == 1, out.getvalue()
    ours = {s["field"]: s for s in json.loads(out.getvalue())["signatures"]}["SarabanReceiveStamp"]
    assert (ours["indication"], ours["sub_indication"]) == ("TOTAL_PASSED", None), ours
    assert "receive stamp (ตรารับ) sealed by this gateway" in ours["message"]
    return ours


def _settings(tmp_path, pki):
    return settings_with(tmp_path, f'[gateway]\ndomain = "{DOMAIN}"\n'
                                   f'[signatures]\ntrust_roots = "{pki.roots_pem}"\n')


def _stamp(signed: bytes, settings, n: int, tmp_path: Path) -> Path:
    stamped = stamp_pdf(signed, StampInfo("สำนักงานเขตพระนคร", f"{n}/2569", RECEIVED), load_seal(settings))
    assert stamped.mode == "stamped", stamped.reason
    path = tmp_path / f"letter-{n}.stamped.pdf"
    path.write_bytes(stamped.pdf)
    return path


def test_a_new_installation_gets_an_ec_seal_beside_its_rsa_gateway_key(tmp_path, pki, signed):
    settings = _settings(tmp_path, pki)
    prepare_signatures(settings)  # the daemon's first start
    store = KeyStore.for_data_dir(settings.data_dir)
    [seal_fp] = store.seal_fingerprints()
    [gateway_fp] = store.gateway_fingerprints()
    assert store.current_seal_fingerprint() == seal_fp and store.current_fingerprint() == gateway_fp
    key, cert = store.seal_identity()
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert stat.S_IMODE(os.stat(store.path / "seal" / seal_fp / "key.pem").st_mode) == 0o600
    # A signing certificate and nothing else: it opens no mail and issues nothing.
    uses = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert uses.digital_signature and uses.content_commitment and not uses.key_encipherment
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    purposes = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert [p.dotted_string for p in purposes] == ["1.3.6.1.5.5.7.3.36"]  # documentSigning
    # The gateway key is still RSA: it opens and signs sealed mail.
    assert store.gateway_identity()[0].key_size == 3072

    path = _stamp(signed, settings, 1, tmp_path)
    algorithm, signer = _seal_signature(path.read_bytes())
    assert "ecdsa" in algorithm
    assert signer == _cert_der(store.path / "seal" / seal_fp)
    assert _verified_as_ours(path, settings)["signer"] == seal_common_name(settings)

    # A second start makes nothing more.
    prepare_signatures(settings)
    assert store.seal_fingerprints() == [seal_fp] and store.gateway_fingerprints() == [gateway_fp]


def test_a_key_store_from_before_keeps_its_gateway_key_until_create_seal(tmp_path, pki, signed, capsys):
    settings = _settings(tmp_path, pki)
    store = KeyStore.for_data_dir(settings.data_dir)
    gateway_fp = store.create_gateway_key(seal_common_name(settings))  # an installation of session 50
    prepare_signatures(settings)
    assert store.seal_fingerprints() == []  # no silent change of the key readers were given
    old = _stamp(signed, settings, 1, tmp_path)
    algorithm, signer = _seal_signature(old.read_bytes())
    assert algorithm.startswith("sha256_rsa") or "rsa" in algorithm
    assert signer == _cert_der(store.path / "gateway" / gateway_fp)

    code, out, _ = _keys(["keys", "create-seal", "--cn", seal_common_name(settings)],
                         Path(settings.data_dir), capsys)
    assert code == 0 and "seal key" in out and "restart" in out
    [seal_fp] = store.seal_fingerprints()
    assert seal_for_stamping(settings).fingerprint == seal_fp
    new = _stamp(signed, settings, 2, tmp_path)
    assert "ecdsa" in _seal_signature(new.read_bytes())[0]
    # Both stamps are the gateway's own.
    _verified_as_ours(old, settings)
    _verified_as_ours(new, settings)


def test_seal_rotation_keeps_older_stamps_verifying(tmp_path, pki, signed, capsys):
    settings = _settings(tmp_path, pki)
    prepare_signatures(settings)
    data_dir = Path(settings.data_dir)
    store = KeyStore.for_data_dir(data_dir)
    [first] = store.seal_fingerprints()
    old = _stamp(signed, settings, 1, tmp_path)

    code, _, err = _keys(["keys", "create-seal"], data_dir, capsys)
    assert code == 1 and "--rotate" in err
    assert store.seal_fingerprints() == [first]
    code, _, _ = _keys(["keys", "create-seal", "--rotate", "--cn", seal_common_name(settings)], data_dir, capsys)
    assert code == 0
    second = store.current_seal_fingerprint()
    assert second != first and sorted(store.seal_fingerprints()) == sorted([first, second])

    new = _stamp(signed, settings, 2, tmp_path)
    assert _seal_signature(new.read_bytes())[1] == _cert_der(store.path / "seal" / second)
    _verified_as_ours(old, settings)
    _verified_as_ours(new, settings)

    code, out, _ = _keys(["keys", "list"], data_dir, capsys)
    assert code == 0
    seal_lines = [line for line in out.splitlines() if line.startswith("seal")]
    assert len(seal_lines) == 2 and sum(line.startswith("seal (current)") for line in seal_lines) == 1
    assert second[:16] in next(line for line in seal_lines if line.startswith("seal (current)"))


@pytest.mark.parametrize("damage", ["missing", "damaged"])
def test_a_lost_seal_current_does_not_fall_back_to_the_gateway_key(tmp_path, pki, signed, capsys, damage):
    settings = _settings(tmp_path, pki)
    prepare_signatures(settings)
    data_dir = Path(settings.data_dir)
    current = data_dir / "keys" / "seal" / "CURRENT"
    if damage == "missing":
        current.unlink()
    else:
        current.write_text("not a fingerprint\n")
    with pytest.raises(ConfigError, match=f"keys/seal/CURRENT is {damage}"):
        seal_for_stamping(settings)
    with pytest.raises(ConfigError, match=f"keys/seal/CURRENT is {damage}"):
        load_seal(settings)
    code, out, _ = _keys(["keys", "list", "--check"], data_dir, capsys)
    assert code == 1 and f"seal key: keys/seal/CURRENT is {damage}: receive stamps cannot be signed" in out
    th = dict(KeyStore.for_data_dir(data_dir).warning_pairs())
    assert any(t.startswith("กุญแจลงนามตรารับ") for t in th)

    # `keys create-seal` mends it without --rotate; the lost seal stays for its stamps.
    code, _, _ = _keys(["keys", "create-seal", "--cn", seal_common_name(settings)], data_dir, capsys)
    assert code == 0
    assert len(KeyStore.for_data_dir(data_dir).seal_fingerprints()) == 2
    _verified_as_ours(_stamp(signed, settings, 1, tmp_path), settings)


def test_an_expired_seal_is_said_and_not_used(tmp_path, pki, capsys):
    settings = _settings(tmp_path, pki)
    data_dir = Path(settings.data_dir)
    store = KeyStore.for_data_dir(data_dir)
    store.create_seal_key(seal_common_name(settings), days=0)  # its certificate ends as it is made
    store.create_gateway_key(seal_common_name(settings))
    with pytest.raises(SecrecyError, match="seal certificate expired .*keys create-seal --rotate"):
        store.seal_identity()
    with pytest.raises(ConfigError, match="seal certificate expired"):
        load_seal(settings)
    code, out, _ = _keys(["keys", "list", "--check"], data_dir, capsys)
    assert code == 1 and "warning: seal key CN=Saraban Gateway Seal" in out and "expired on" in out
    assert any(th.startswith("กุญแจลงนามตรารับ") and "หมดอายุแล้ว" in th
               for th, _en in store.warning_pairs())


def test_keys_create_on_an_empty_store_makes_the_seal_too_and_rotate_does_not(tmp_path, capsys):
    data_dir = tmp_path / "var"
    code, out, _ = _keys(["keys", "create", "--cn", "saraban-gateway", "--email", "saraban-gateway@bangkok.go.th"],
                         data_dir, capsys)
    assert code == 0 and "seal key" in out and "gateway key" in out
    store = KeyStore.for_data_dir(data_dir)
    assert len(store.seal_fingerprints()) == 1 and len(store.gateway_fingerprints()) == 1
    code, out, _ = _keys(["keys", "create", "--cn", "saraban-gateway", "--email", "saraban-gateway@bangkok.go.th",
                          "--rotate"], data_dir, capsys)
    assert code == 0 and "seal key" not in out
    assert len(store.seal_fingerprints()) == 1 and len(store.gateway_fingerprints()) == 2
    code, out, _ = _keys(["keys", "list", "--json"], data_dir, capsys)
    kinds = [k["kind"] for k in json.loads(out)["keys"]]
    assert kinds.count("seal") == 1 and kinds.count("gateway") == 2


def _copies(d: Daemon, count: int) -> list:
    found = d.wait_for(lambda: (lambda f: f if len(f) >= count else None)(d.maildir_files("latkrabang")),
                       what=f"{count} folder copies")
    return [message_from_bytes(p.read_bytes()) for p in found]


def _unfolded(value: str) -> str:
    return value.replace("\r\n", "").replace("\n", "")


def _stamped_pdfs(copies) -> list[bytes]:
    return [part.get_payload(decode=True) for msg in copies for part in msg.walk()
            if (part.get_filename() or "").endswith(".stamped.pdf")]


def test_the_daemon_stamps_with_the_seal_and_takes_up_a_rotation_without_a_restart(tmp_path, capsys):
    d = Daemon(write_config(tmp_path, extra="[signatures]\nstamp = true\n"))
    store = KeyStore(tmp_path / "var" / "keys")
    # An expired seal beside a good gateway key: no stamp, and no fall-back to the gateway key.
    store.create_seal_key("Saraban Gateway Seal (bangkok.go.th)", days=0)
    store.create_gateway_key("Saraban Gateway Seal (bangkok.go.th)", email="saraban-gateway@bangkok.go.th")
    d.start()
    try:
        d.send(letter(subject="ฉบับที่หนึ่ง"), UNIT)
        [first] = _copies(d, 1)
        assert _unfolded(first["X-Saraban-Stamp"]) == STAMP_UNAVAILABLE
        assert d.cli("keys", "create-seal", "--rotate").returncode == 0
        d.send(letter(subject="ฉบับที่สอง"), UNIT)
        copies = _copies(d, 2)
        [pdf] = _stamped_pdfs(copies)
        algorithm, signer = _seal_signature(pdf)
        assert "ecdsa" in algorithm
        assert signer == _cert_der(store.path / "seal" / store.current_seal_fingerprint())
        path = tmp_path / "copy.stamped.pdf"
        path.write_bytes(pdf)
        run = d.cli("verify", str(path), check=False)
        assert run.returncode == 1, run.stdout + run.stderr  # review: it carries our stamp
        assert "receive stamp (ตรารับ) sealed by this gateway" in run.stdout
    finally:
        d.stop()


def test_the_first_key_made_for_a_classified_letter_comes_with_the_seal(tmp_path, pki):
    # The pipeline makes the gateway key at the first classified letter when nobody ran
    # `keys create` and the stamp is off (gateway/secrecy/keys.py ensure_gateway_key).
    # Turned on later, the stamp is then signed as a new installation's, with the seal.
    from gateway.secrecy.keys import ensure_gateway_key

    settings = settings_with(tmp_path, f'[gateway]\ndomain = "{DOMAIN}"\n[signatures]\nstamp = false\n')
    store = KeyStore.for_data_dir(settings.data_dir)
    assert ensure_gateway_key(store, settings)
    assert len(store.seal_fingerprints()) == 1 and len(store.gateway_fingerprints()) == 1
    assert seal_for_stamping(settings).slot == "seal"
    assert ensure_gateway_key(store, settings)  # nothing more once there is a key
    assert len(store.seal_fingerprints()) == 1 and len(store.gateway_fingerprints()) == 1
