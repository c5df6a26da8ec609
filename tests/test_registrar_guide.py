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


MISREAD = "error parsing or decrypting the PKCS#12 file"


def export_line() -> str:
    """Step 4's line that writes registrar-legacy.p12."""
    [line] = [c for c in guide_commands() if c.startswith("openssl pkcs12 -export")]
    return line


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
            if done.returncode and command.startswith("gpgsm") and "--import registrar-legacy.p12" in command:
                # What the guide says to do when gpgsm misreads the legacy file (about one
                # in 60, see test_gpgsm_misreads_a_legacy_file_whose_salt_loses_a_zero_byte):
                # export again, import again. Four misreads in a row: ~1 in 10^7.
                for _ in range(3):
                    assert MISREAD in done.stderr, done.stderr
                    subprocess.run(["bash", "-c", export_line()], cwd=work, env=env, check=True,
                                   capture_output=True, timeout=60)
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


def pkcs12_key(salt: bytes, password: bytes, iterations: int, *, gpgsm_2_2: bool) -> bytes:
    """RFC 7292 appendix B's 24-byte key (ID 1) for 3DES; with gpgsm_2_2, as sm/minip12.c's
    string_to_key makes it: gcry_mpi_print writes a 64-byte block that starts with 0x00 one
    byte short, at the block's start, so the next round hashes another block."""
    def block(data: bytes) -> bytes:
        return bytes(data[i % len(data)] for i in range(64))
    state = bytearray(block(salt) + block(b"".join(b"\0" + bytes([c]) for c in password + b"\0")))
    key = b""
    while True:
        digest = hashlib.sha1(b"\x01" * 64 + bytes(state)).digest()
        for _ in range(1, iterations):
            digest = hashlib.sha1(digest).digest()
        key += digest
        if len(key) >= 24:
            return key[:24]
        b_plus_1 = int.from_bytes(block(digest), "big") + 1
        for at in (0, 64):
            value = (int.from_bytes(state[at:at + 64], "big") + b_plus_1) % (1 << 512)
            written = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big") if gpgsm_2_2 else value.to_bytes(64, "big")
            state[at:at + len(written)] = written


def misread_by_gpgsm(p12: bytes, password: bytes) -> bool:
    """Whether the 3DES key gpgsm derives for one of the file's two bags is not the key."""
    from asn1crypto import pkcs12 as asn1_pkcs12
    pfx = asn1_pkcs12.Pfx.load(p12)
    params = []
    for info in asn1_pkcs12.AuthenticatedSafe.load(pfx["auth_safe"]["content"].native):
        if info["content_type"].native == "encrypted_data":  # the certificate bag
            params.append(info["content"]["encrypted_content_info"]["content_encryption_algorithm"]["parameters"])
        else:  # the shrouded key bag
            for bag in asn1_pkcs12.SafeContents.load(info["content"].native):
                params.append(bag["bag_value"]["encryption_algorithm"]["parameters"])
    assert len(params) == 2
    return any(
        pkcs12_key(p["salt"].native, password, p["iterations"].native, gpgsm_2_2=True)
        != pkcs12_key(p["salt"].native, password, p["iterations"].native, gpgsm_2_2=False)
        for p in params)


def test_gpgsm_misreads_a_legacy_file_whose_salt_loses_a_zero_byte_and_the_next_export_reads(tmp_path):
    """The guide's step 4 file, exported until its salts make gpgsm's key derivation drop a
    zero byte: gpgsm refuses that file with the right password, as the guide warns, and
    reads the file of the next export that does not; the model says which is which."""
    key, cert = make_cert("สมศรี registrar latkrabang")
    (tmp_path / "registrar.p12").write_bytes(pkcs12.serialize_key_and_certificates(
        b"registrar", key, cert, None, BestAvailableEncryption(P12_PASSWORD.encode())))
    (tmp_path / "p12pass").write_text(P12_PASSWORD + "\n", encoding="utf-8")
    [convert] = [c for c in guide_commands() if c.startswith("openssl pkcs12 -in registrar.p12")]
    [gpgsm_import] = [c for c in guide_commands() if "--import registrar-legacy.p12" in c]
    subprocess.run(["bash", "-c", convert], cwd=tmp_path, check=True, capture_output=True, timeout=60)

    def export_until(misread: bool) -> int:
        for tries in range(1, 2001):  # one file in ~64 is misread; 2,000 misses: ~1e-14
            subprocess.run(["bash", "-c", export_line()], cwd=tmp_path, check=True, capture_output=True, timeout=60)
            if misread_by_gpgsm((tmp_path / "registrar-legacy.p12").read_bytes(), P12_PASSWORD.encode()) == misread:
                return tries
        raise AssertionError(f"no export that gpgsm {'misreads' if misread else 'reads'} in 2,000")

    def gpgsm_imports(home: str):
        gnupg = tmp_path / home
        gnupg.mkdir(mode=0o700)
        env = dict(os.environ, GNUPGHOME=str(gnupg), LC_ALL="C.UTF-8")
        try:
            return subprocess.run(["bash", "-c", gpgsm_import], cwd=tmp_path, env=env, capture_output=True,
                                  text=True, timeout=60)
        finally:
            subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, capture_output=True, timeout=30)

    export_until(misread=True)
    refused = gpgsm_imports("gnupg-1")
    assert refused.returncode != 0 and MISREAD in refused.stderr, refused.stderr
    assert export_until(misread=False) >= 1
    read = gpgsm_imports("gnupg-2")
    assert read.returncode == 0 and "secret keys imported: 1" in read.stderr, read.stderr
