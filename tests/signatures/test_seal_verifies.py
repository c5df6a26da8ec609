"""The gateway's own receive stamp verifies as the gateway's, with no operator step.

`saraban-gateway verify` reads the seal certificate from the configuration (the key
store's certificates, or `seal_cert`), so a stamped letter shows the seal by name and
TOTAL_PASSED although nobody copied the self-signed seal into the trust roots."""
from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys

from gateway.cli.verify import verify_command
from gateway.signatures.settings import load_seal, prepare_signatures, seal_common_name, trust_from_settings
from gateway.signatures.stamp import SealKey, StampInfo, stamp_pdf
from tests.paths import REPO
from tests.pki import NOW, self_signed_identity
from tests.signatures.test_wiring import settings_with

RECEIVED = dt.datetime(2026, 1, 5, 2, 0, tzinfo=dt.timezone.utc)


def test_verify_names_the_gateway_seal_and_passes_it(tmp_path, pki, signed):
    settings = settings_with(tmp_path, f'[gateway]\ndomain = "saraban.bangkok.go.th"\n'
                                       f'[signatures]\ntrust_roots = "{pki.roots_pem}"\n')
    prepare_signatures(settings)  # the daemon's first start: creates the self-signed seal
    seal = load_seal(settings)
    stamped = stamp_pdf(signed, StampInfo("สำนักงานเขตพระนคร", "15/2569", RECEIVED), seal)
    assert stamped.mode == "stamped"
    path = tmp_path / "letter.stamped.pdf"
    path.write_bytes(stamped.pdf)

    out = io.StringIO()
    code = verify_command(path, True, trust_from_settings(settings), out=out)
    doc = json.loads(out.getvalue())
    # Valid, but "needs review" (exit 1): a file that already carries our stamp may be a
    # letter already registered coming in again (red team F6), and says so.
    assert code == 1, doc
    by_field = {s["field"]: s for s in doc["signatures"]}
    ours = by_field["SarabanReceiveStamp"]
    assert ours["signer"] == seal_common_name(settings) == "Saraban Gateway Seal (saraban.bangkok.go.th)"
    assert (ours["indication"], ours["sub_indication"]) == ("TOTAL_PASSED", None)
    assert "receive stamp (ตรารับ) sealed by this gateway" in ours["message"]
    assert "already carries this gateway's receive stamp (receive number ๑๕/๒๕๖๙)" in ours["message"]
    assert ours["review"] is True
    assert by_field["Signature1"]["indication"] == "TOTAL_PASSED" and not by_field["Signature1"]["review"]
    assert doc["indication"] == "TOTAL_PASSED" and doc["review"]

    # The same through the command an operator types.
    run = subprocess.run([sys.executable, "-m", "gateway", "--config", str(settings.source), "verify", str(path)],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Saraban Gateway Seal (saraban.bangkok.go.th)" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr


def test_a_foreign_self_signed_seal_is_still_not_trusted(tmp_path, pki, signed):
    # Only the gateway's own certificates are added: another gateway's seal is unknown here.
    foreign = self_signed_identity(tmp_path / "other", "seal", not_before=NOW - dt.timedelta(days=1),
                                   not_after=NOW + dt.timedelta(days=300), cn="Saraban Gateway Seal (elsewhere)")
    stamped = stamp_pdf(signed, StampInfo("สำนักงานเขตพระนคร", "15/2569", RECEIVED),
                        SealKey.load(foreign.key_path, foreign.cert_path)).pdf
    mine = settings_with(tmp_path, f'[signatures]\ntrust_roots = "{pki.roots_pem}"\n')
    path = tmp_path / "foreign.pdf"
    path.write_bytes(stamped)
    out = io.StringIO()
    assert verify_command(path, True, trust_from_settings(mine), out=out) == 1
    ours = {s["field"]: s for s in json.loads(out.getvalue())["signatures"]}["SarabanReceiveStamp"]
    assert (ours["indication"], ours["sub_indication"]) == ("INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND")
