"""A secret registrar (นายทะเบียนลับ) gets the classified letter where they read mail
and opens it with the tools of docs/secrecy.md's guide, byte for byte.

The unit files by IMAP into the suite's Dovecot; the registrar has an account of their
own there. The copy is read back with imaplib (a plain IMAP client, not ours), then
every shell command of the guide runs in order: openssl cms decrypts and verifies
against the seal's CA, gpgsm imports a legacy PKCS#12, trusts the CA, decrypts and
says "Good signature". The letter inside equals what the sender sent (SHA-256)."""
from __future__ import annotations

import hashlib
import imaplib
import os
import re
import subprocess
import time

from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

from gateway.secrecy.envelope import letter_from_entity
from tests.classified.helpers import LATKRABANG, MARKER, classified_letter, make_gateway_key, wait_processed
from tests.imap_helpers import delivery_config
from tests.paths import REPO
from tests.secrecy.certs import make_cert, pem

P12_PASSWORD = "registrar-p12-pass"  # ASCII: gpgsm 2.2 reads non-ASCII PKCS#12 passwords differently


def guide_commands() -> list[str]:
    """Every line of the ```sh blocks of the registrar's guide, in order."""
    text = (REPO / "docs" / "secrecy.md").read_text(encoding="utf-8")
    guide = text.split("## Registrar's guide", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", guide, flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def fetch_all(conn: imaplib.IMAP4, folder: str) -> list[bytes]:
    typ, _ = conn.select(f'"{folder}"', readonly=True)
    if typ != "OK":
        return []
    _, data = conn.uid("FETCH", "1:*", "(BODY.PEEK[])")
    return [item[1] for item in data if isinstance(item, tuple)]


def test_registrar_reads_the_imap_copy_with_openssl_and_gpgsm(daemon_factory, dovecot, dovecot_user):
    dept_user, dept_password = dovecot_user
    registrar_user, registrar_password = f"{dept_user}.registrar", "registrar-imap-pw"
    dovecot.add_user(registrar_user, registrar_password)
    extra = delivery_config(dovecot, dept_user, dept_password) + (
        '[delivery.units."saraban.latkrabang".registrar]\n'
        f'username = "{registrar_user}"\npassword = "{registrar_password}"\n'
    )
    d = daemon_factory(extra=extra)
    work = d.config.parent
    make_gateway_key(d)
    reg_key, reg_cert = make_cert("สมศรี registrar latkrabang")
    (work / "registrar-cert.pem").write_bytes(pem(reg_cert))
    d.cli("keys", "import-registrar", "saraban.latkrabang", str(work / "registrar-cert.pem"))
    # What the organisation's CA hands the registrar: OpenSSL 3's default AES/PBKDF2 PKCS#12.
    (work / "registrar.p12").write_bytes(pkcs12.serialize_key_and_certificates(
        b"registrar", reg_key, reg_cert, None, BestAvailableEncryption(P12_PASSWORD.encode())))
    (work / "p12pass").write_text(P12_PASSWORD + "\n", encoding="utf-8")

    d.start()
    raw, _pdf = classified_letter("ลับมาก")
    d.send(raw, LATKRABANG)
    wait_processed(d, registrar=1)
    filed = [e for e in d.events() if e.get("event") == "filed_for_registrar"]
    assert filed and filed[0]["backend"] == "imap" and filed[0]["folder"] == "Saraban/latkrabang/Secret"

    conn = dovecot.imap(registrar_user)
    try:
        [mail] = fetch_all(conn, "Saraban/latkrabang/Secret")
    finally:
        conn.logout()
    dept = dovecot.imap(dept_user)
    try:  # nothing for the department, not even sealed
        assert all(not fetch_all(dept, f) for f in ("Saraban/latkrabang", "INBOX"))
    finally:
        dept.logout()
    assert MARKER.encode() not in mail and b"From: saraban-gateway@bangkok.go.th\r\n" in mail
    (work / "mail.eml").write_bytes(mail)

    gnupg = work / "gnupg"
    gnupg.mkdir(mode=0o700)
    env = dict(os.environ, GNUPGHOME=str(gnupg), LC_ALL="C.UTF-8")
    outputs = []
    try:
        for command in guide_commands():
            done = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True,
                                  text=True, timeout=60)
            if done.returncode and command.startswith("gpgsm") and (
                    "possibly bad passphrase" in done.stderr
                    or "error parsing or decrypting the PKCS#12 file" in done.stderr):
                # Seen once in four full runs at four workers (session 18), never alone (0 of
                # 40 keys) nor with four of this test at once: gpgsm's import of the same
                # legacy PKCS#12 and password said "decryption failed ... possibly bad
                # passphrase"; in session 29's third full run, "decryption failed; trying
                # charset ..." for every charset, then "error parsing or decrypting the
                # PKCS#12 file" (the test passed alone at once). What a registrar would do:
                # run the line again, with a fresh agent. Session 39's last full run (load 6-9)
                # saw it fail twice in a row: three tries, a second apart; a fourth failure
                # fails the test.
                for _ in range(3):
                    subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, capture_output=True, timeout=30)
                    time.sleep(1)
                    done = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True,
                                          text=True, timeout=60)
                    if done.returncode == 0:
                        break
            assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
            outputs.append((command, done.stdout + done.stderr))
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, capture_output=True, timeout=30)

    said = "\n".join(out for _, out in outputs)
    assert "Verification successful" in said  # openssl cms -verify against the seal's CA
    assert 'Good signature from "/CN=saraban-gateway test' in said
    assert 'aka "saraban-gateway@bangkok.go.th"' in said  # the signer is the From
    # The letter inside, from either tool, is the letter the sender sent.
    original = hashlib.sha256(raw).hexdigest()
    for part in ("signed-part.eml", "gpgsm-part.eml"):
        letter = letter_from_entity((work / part).read_bytes())
        assert hashlib.sha256(letter).hexdigest() == original, part
