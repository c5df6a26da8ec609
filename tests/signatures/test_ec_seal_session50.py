"""An operator's EC seal (`[signatures] seal_key` + `seal_cert`, P-256) stamps letters
that verify as the gateway's own, like the key store's RSA seal.

The stamping child keeps the loaded key and the seal's CMS between letters
(gateway/signatures/stamp.py `KeptKeySigner`); the CMS is reused only for a signature
of the same length. An ECDSA signature's DER length varies from one letter to the next
(70, 71 or 72 bytes for P-256), so a run of letters goes through both the kept CMS and
a fresh one: every stamp must verify."""
from __future__ import annotations

import datetime as dt
import io
import json

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.cli.verify import verify_command
from gateway.signatures.settings import load_seal, prepare_signatures, trust_from_settings
from gateway.signatures.stamp import StampInfo, stamp_pdf
from tests.pki import NOW, self_signed_identity
from tests.signatures.test_wiring import settings_with

RECEIVED = dt.datetime(2026, 1, 5, 2, 0, tzinfo=dt.timezone.utc)
CN = "Saraban Gateway Seal (EC, saraban.bangkok.go.th)"


def _seal_signature(pdf: bytes) -> tuple[str, bytes]:
    from pyhanko.pdf_utils.reader import PdfFileReader

    sigs = {s.field_name: s for s in PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures}
    info = sigs["SarabanReceiveStamp"].signer_info
    return info["signature_algorithm"]["algorithm"].native, info["signature"].native


def test_an_ec_seal_stamps_letters_that_verify_as_the_gateways_own(tmp_path, pki, signed):
    ident = self_signed_identity(tmp_path / "seal", "ec-seal", not_before=NOW - dt.timedelta(days=1),
                                 not_after=NOW + dt.timedelta(days=300), cn=CN,
                                 key=ec.generate_private_key(ec.SECP256R1()))
    settings = settings_with(tmp_path, f'[gateway]\ndomain = "saraban.bangkok.go.th"\n'
                                       f'[signatures]\ntrust_roots = "{pki.roots_pem}"\n'
                                       f'seal_key = "{ident.key_path}"\nseal_cert = "{ident.cert_path}"\n')
    prepare_signatures(settings)  # the daemon's start-up check of the operator's seal
    seal = load_seal(settings)
    trust = trust_from_settings(settings)
    lengths: list[int] = []
    for n in range(1, 41):
        stamped = stamp_pdf(signed, StampInfo("สำนักงานเขตพระนคร", f"{n}/2569", RECEIVED), seal)
        assert stamped.mode == "stamped", stamped.reason
        algorithm, signature = _seal_signature(stamped.pdf)
        assert "ecdsa" in algorithm
        path = tmp_path / f"letter-{n}.pdf"
        path.write_bytes(stamped.pdf)
        out = io.StringIO()
        # Exit 1: valid, flagged for review because the file already carries our stamp.
        assert verify_command(path, True, trust, out=out) == 1, out.getvalue()
        ours = {s["field"]: s for s in json.loads(out.getvalue())["signatures"]}["SarabanReceiveStamp"]
        assert (ours["indication"], ours["sub_indication"]) == ("TOTAL_PASSED", None), ours
        assert ours["signer"] == CN
        assert "receive stamp (ตรารับ) sealed by this gateway" in ours["message"]
        assert f"(receive number {_thai_digits(n)}/๒๕๖๙)" in ours["message"]
        lengths.append(len(signature))
        if len(set(lengths)) > 1 and len(set(lengths)) < len(lengths):
            break
    # Both a reused CMS (a length seen before) and a fresh one (a new length) were verified.
    assert 1 < len(set(lengths)) < len(lengths), lengths


def _thai_digits(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙"))
