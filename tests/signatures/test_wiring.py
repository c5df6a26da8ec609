"""The pieces around the daemon: configuration, policy, findings, the folder copy's MIME."""
from __future__ import annotations

import base64
import email
import email.policy
import json
import os
import subprocess
import sys

import pytest

from gateway.config.settings import ConfigError, load_settings
from gateway.pipeline.mime_attach import add_attachment, add_header
from gateway.service.services import policy_from_settings
from gateway.signatures.check import finding_for, needs_review
from gateway.signatures.receive_stamp import receipt_name, stamped_name
from gateway.signatures.settings import load_seal, prepare_signatures, trust_from_settings
from tests.letters import letter, make_pdf
from tests.paths import REPO


def settings_with(tmp_path, text: str):
    config = tmp_path / "gateway.toml"
    config.write_text(f'[storage]\ndata_dir = "{tmp_path / "var"}"\n[directory]\npath = "{REPO / "config" / "units.toml"}"\n' + text,
                      encoding="utf-8")
    return load_settings(config, environ={})


def test_trust_paths_are_relative_to_the_config_file(tmp_path, pki):
    (tmp_path / "trust").mkdir()
    (tmp_path / "trust" / "root.pem").write_bytes(pki.roots_pem.read_bytes())
    settings = settings_with(tmp_path, '[signatures]\ntrust_roots = "trust/root.pem"\n')
    assert len(trust_from_settings(settings).roots) == 1


def test_unusable_trust_bundle_is_a_clear_configuration_error(tmp_path):
    (tmp_path / "junk.pem").write_text("not a certificate")
    settings = settings_with(tmp_path, '[signatures]\ntrust_roots = "junk.pem"\n')
    with pytest.raises(ConfigError, match=r"\[signatures\].*junk.pem holds something that is not a certificate"):
        trust_from_settings(settings)
    with pytest.raises(ConfigError, match="junk.pem"):
        prepare_signatures(settings)


def test_env_override_replaces_the_trust_roots(tmp_path, pki):
    config = tmp_path / "gateway.toml"
    config.write_text('[signatures]\ntrust_roots = "absent.pem"\n')
    settings = load_settings(config, environ={"SARABAN_TRUST_ROOTS": str(pki.roots_pem)})
    assert len(trust_from_settings(settings).roots) == 1


def test_on_failure_becomes_the_signature_rule_action(tmp_path):
    settings = settings_with(tmp_path, '[signatures]\nunit_on_failure = { "saraban.dindaeng" = "reject" }\n'
                                       '[rules.unit_policy."saraban.pomprap"]\nsignature = "ignore"\n')
    policy = policy_from_settings(settings)
    assert policy.action_for("signature", "saraban.latkrabang") == "warn"
    assert policy.action_for("signature", "saraban.dindaeng.admin") == "reject"  # units below inherit
    assert policy.action_for("signature", "saraban.pomprap") == "ignore"  # an explicit rules entry wins
    everywhere = policy_from_settings(settings_with(tmp_path, '[signatures]\non_failure = "reject"\n'))
    assert everywhere.action_for("signature", "saraban.latkrabang") == "reject"


def test_bad_on_failure_value_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match="signatures.on_failure"):
        settings_with(tmp_path, '[signatures]\non_failure = "bounce"\n')


def _entry(indication, sub=None, review=False, signer="สมชาย ใจดี"):
    return {"indication": indication, "sub_indication": sub, "signer": signer, "review": review,
            "message": "m", "modifications": "none"}


def test_findings_and_review():
    assert finding_for("a.pdf", []) is None  # unsigned: nothing to say
    ok = finding_for("a.pdf", [_entry("TOTAL_PASSED")])
    assert ok.verdict == "pass" and "สมชาย ใจดี" in ok.message_en
    failed = finding_for("a.pdf", [_entry("TOTAL_PASSED"), _entry("TOTAL_FAILED", "HASH_FAILURE", True)])
    assert failed.verdict == "fail" and "HASH_FAILURE" in failed.message_en and failed.attachment == "a.pdf"
    assert "could not be confirmed" in finding_for("a.pdf", [_entry("INDETERMINATE", "TRY_LATER", True)]).message_en
    changed = finding_for("a.pdf", [_entry("TOTAL_PASSED", review=True)])
    assert changed.verdict == "fail" and "changed after it was signed" in changed.message_en
    from dataclasses import replace
    assert needs_review([replace(failed, verdict="warn")])
    assert not needs_review([ok])


def test_seal_key_is_created_once_in_the_key_store(tmp_path):
    settings = settings_with(tmp_path, "")
    first = load_seal(settings, create=True)
    assert b"PRIVATE KEY" in first.key_pem
    assert load_seal(settings) == first
    key_dir = tmp_path / "var" / "keys" / "gateway"
    [slot] = [p for p in key_dir.iterdir() if p.is_dir()]
    assert oct((slot / "key.pem").stat().st_mode & 0o777) == "0o600"


def test_configured_seal_files_must_come_in_pairs(tmp_path, pki):
    settings = settings_with(tmp_path, f'[signatures]\nseal_key = "{pki.seal.key_path}"\n')
    with pytest.raises(ConfigError, match="together"):
        load_seal(settings)
    settings = settings_with(tmp_path, f'[signatures]\nseal_key = "{pki.seal.key_path}"\nseal_cert = "{pki.seal.cert_path}"\n')
    assert load_seal(settings).cert_pem == pki.seal.cert_path.read_bytes()


def test_stamped_and_receipt_names():
    assert stamped_name("2569_dds_0403_57.pdf") == "2569_dds_0403_57.stamped.pdf"
    assert stamped_name("../../หนังสือ.PDF") == "หนังสือ.stamped.pdf"
    assert stamped_name(None) == "letter-1.stamped.pdf"
    assert receipt_name("15/2569") == "receipt-15-2569.pdf"


def test_attachment_goes_into_a_multipart_mixed_letter_byte_for_byte():
    pdf = make_pdf("cover")
    raw = letter(files=[("a.pdf", pdf)])
    out = add_header(add_attachment(raw, "หนังสือ.stamped.pdf", b"%PDF-stamped"), "X-Saraban-Stamp", "ตรารับ")
    head, _, body = raw.partition(b"\n\n")
    assert body.rsplit(b"--", 2)[0] in out  # every original part untouched
    msg = email.message_from_bytes(out, policy=email.policy.default)
    files = {p.get_filename(): p.get_content() for p in msg.iter_attachments()}
    assert files == {"a.pdf": pdf, "หนังสือ.stamped.pdf": b"%PDF-stamped"}
    assert msg["X-Saraban-Stamp"] == "ตรารับ"
    assert msg.get_content_type() == "multipart/mixed" and not msg.defects


@pytest.mark.parametrize("newline", [b"\r\n", b"\n"])
def test_a_large_stamped_file_goes_in_whole_in_76_character_lines_before_the_real_closing_line(newline):
    """The file's base64 is written by the gateway, not the email package's generator
    (issue 16): still 76-character lines in the letter's own line ends, decoding to the
    same bytes; it goes before the closing delimiter that starts a line, not before the
    same text quoted inside a part."""
    import os

    pdf, stamped = make_pdf("cover"), b"%PDF-1.7\n" + os.urandom(200_000)
    raw = letter(files=[("a.pdf", pdf)])
    boundary = email.message_from_bytes(raw).get_boundary()
    head, _, body = raw.partition(b"\r\n\r\n")  # the preamble quotes the closing delimiter
    raw = head + f"\r\n\r\nquoting a boundary: x--{boundary}-- is not one\r\n".encode() + body
    raw = raw.replace(b"\r\n", b"\n").replace(b"\n", newline)
    out = add_attachment(raw, "หนังสือ.stamped.pdf", stamped)
    msg = email.message_from_bytes(out, policy=email.policy.default)
    assert not msg.defects and [p.defects for p in msg.walk()] == [[]] * len(list(msg.walk()))
    files = {p.get_filename(): p.get_content() for p in msg.iter_attachments()}
    assert files == {"a.pdf": pdf, "หนังสือ.stamped.pdf": stamped}
    assert newline == b"\n" or b"\n" not in out.replace(b"\r\n", b"")  # no mixed line ends
    lines = base64.encodebytes(stamped).splitlines()  # 76 characters a line, as RFC 2045 has it
    assert {len(line) for line in lines[:-1]} == {76}
    assert newline.join(lines) + newline + b"--" + boundary.encode() + b"--" in out
    assert out.endswith(b"--" + boundary.encode() + b"--" + newline)
    assert f"x--{boundary}-- is not one".encode() in out


def test_a_boundary_full_of_pattern_characters_and_an_epilogue():
    """Another producer's shape: a boundary of characters a regular expression would
    read as syntax, and text after the closing delimiter (an epilogue). The stamped file
    goes before the closing line; the epilogue stays after it, untouched."""
    boundary = "=_a.b+c(d)?e*[f]|g^$"
    raw = (f'From: a@dds.bangkok.go.th\r\nMIME-Version: 1.0\r\n'
           f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
           f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nsee the file\r\n"
           f"--{boundary}--\r\nepilogue: --{boundary}-- quoted, not a delimiter\r\n").encode()
    out = add_attachment(raw, "x.stamped.pdf", b"%PDF-2")
    msg = email.message_from_bytes(out, policy=email.policy.default)
    assert not msg.defects
    assert [p.get_filename() for p in msg.iter_attachments()] == ["x.stamped.pdf"]
    assert next(msg.iter_attachments()).get_content() == b"%PDF-2"
    assert out.endswith(f"--{boundary}--\r\nepilogue: --{boundary}-- quoted, not a delimiter\r\n".encode())


def test_a_single_part_message_is_wrapped_not_changed():
    raw = (b"From: a@b.c\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: application/pdf; name=x.pdf\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n")
    out = add_attachment(raw, "x.stamped.pdf", b"%PDF-2")
    msg = email.message_from_bytes(out, policy=email.policy.default)
    assert msg["From"] == "a@b.c" and msg.get_content_type() == "multipart/mixed"
    first, second = msg.iter_parts()
    assert first.get_content_type() == "application/pdf" and first.get_content() == b"%PDF-1.4\n"
    assert second.get_filename() == "x.stamped.pdf"
    assert b"JVBERi0xLjQK\r\n" in out


def test_verify_command_reads_trust_from_the_config(tmp_path, pki, signed):
    config = tmp_path / "gateway.toml"
    config.write_text(f'[signatures]\ntrust_roots = "{pki.roots_pem}"\nrevocation_dir = "{pki.revocation_dir}"\n')
    path = tmp_path / "letter.pdf"
    path.write_bytes(signed)
    env = {k: v for k, v in os.environ.items() if k != "SARABAN_TRUST_ROOTS"}
    run = subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), "verify", str(path), "--json"],
                         cwd=REPO, capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["indication"] == "TOTAL_PASSED"
    (tmp_path / "bad.toml").write_text('[signatures]\ntrust_roots = "missing.pem"\n')
    run = subprocess.run([sys.executable, "-m", "gateway", "--config", str(tmp_path / "bad.toml"), "verify", str(path)],
                         cwd=REPO, capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 2 and "missing.pem" in run.stderr and "Traceback" not in run.stderr
