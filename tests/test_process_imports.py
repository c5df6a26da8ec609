"""What each long-lived process imports is what it holds in memory for the daemon's life
(docs/operations.md "Processes", docs/performance.md): libraries a process has no use
for were kept out of it on purpose, measured in MiB. These guard those choices; each
runs the imports in a fresh interpreter, as the process itself starts."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.processes import named, parent as _parent

REPO = Path(__file__).resolve().parent.parent


def _modules_after(code: str) -> set[str]:
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         timeout=120, cwd=REPO).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_the_stamping_child_holds_no_configuration_model():
    # The child's own imports: its entry module (gateway/service/child.py) and what
    # unpickling its body and the seal bring.
    loaded = _modules_after("import gateway.service.child, gateway.signatures.receive_stamp, "
                            "gateway.signatures.stamp, gateway.service.log, gateway.signatures.verify")
    assert "gateway.signatures.receive_stamp" in loaded
    assert not {"pydantic", "gateway.config.settings", "sqlalchemy"} & loaded


def test_the_supervisor_holds_neither_the_mime_parser_nor_the_other_databases_dialect():
    loaded = _modules_after("import gateway.service.daemon, storage.outbox, storage.register")
    assert "gateway.service.daemon" in loaded
    assert not {"mailparser", "magic", "gateway.pipeline.parse", "gateway.delivery.folder_copy",
                "sqlalchemy.dialects.postgresql"} & loaded


def test_the_supervisor_holds_no_cryptography():
    # Keys and certificates are read at start in a short-lived child
    # (gateway/service/start_checks.py); shredding a refused letter's draft is
    # gateway/secrecy/shred.py, apart from the vault's encryption.
    loaded = _modules_after("import gateway.service.daemon, gateway.spool, gateway.secrecy.shred")
    assert "gateway.service.start_checks" in loaded
    assert not {m for m in loaded if m == "cryptography" or m.startswith("cryptography.")}
    assert "gateway.secrecy.keys" not in loaded and "gateway.secrecy.vault_crypto" not in loaded


def _mapped(pid: int, library: str) -> bool:
    return library in Path(f"/proc/{pid}/maps").read_text()


_CRYPTOGRAPHY = "cryptography/hazmat/bindings"


def test_a_running_supervisor_never_loads_cryptography_nor_the_letter_parser(tmp_path):
    # As in service: the receive stamp on, and SPF, DKIM and DMARC checked at DATA against
    # a DNS server on loopback; the DMARC check reads the From as the register does
    # (gateway/pipeline/addresses.py), without gateway/pipeline/parse.py and its libmagic.
    from email import message_from_bytes
    from email.message import EmailMessage

    from tests.daemon import Daemon, write_config
    from tests.letters import letter
    from tests.sender.zones import SELECTOR, dkim_sign, key
    from tests.servers.dns import DnsServer

    domain = "bangkok.go.th"
    zone = {domain: {"TXT": ["v=spf1 ip4:127.0.0.0/8 -all"]},
            f"{SELECTOR}._domainkey.{domain}": {"TXT": [key(domain).dns_txt]},
            f"_dmarc.{domain}": {"TXT": ["v=DMARC1; p=quarantine"]}}
    with DnsServer(zone, tmp_path / "dns") as dns:
        d = Daemon(write_config(tmp_path, extra=f'[signatures]\nstamp = true\n[dns]\nnameservers = ["{dns.address}"]\n'))
        d.start()
        try:
            # The seal was made by the start-up checks' child, before the runners started.
            d.wait_for_event("stamp_child_ready")
            assert any(e.get("event") == "seal_key_created" and e.get("process") == "start-checks"
                       for e in d.events())
            d.send(dkim_sign(letter(subject="ตรวจสอบการประทับตรารับ"), domain), "saraban.latkrabang@bangkok.go.th")
            # A ลับที่สุด letter is refused at DATA and its draft shredded by the supervisor.
            top_secret = EmailMessage()
            top_secret["From"], top_secret["To"] = "saraban.dds@bangkok.go.th", "saraban.latkrabang@bangkok.go.th"
            top_secret["Subject"] = "ลับที่สุด แผนการ"
            top_secret.set_content("ลับที่สุด\n")
            code, _ = d.data_reply(top_secret.as_bytes())
            assert code == 550
            [entry] = d.wait_for(lambda: d.register(), what="the letter registered")
            assert entry["sender_auth"]["dmarc"] == "pass" and entry["sender_auth"]["spf"] == "pass"
            d.wait_for(lambda: any(e.get("event") == "file_shredded" for e in d.events()), what="the draft shredded")
            assert not _mapped(d.proc.pid, _CRYPTOGRAPHY)
            assert not _mapped(d.proc.pid, "libmagic")
            # The pipeline, the delivery runner and the DATA check see a plain letter
            # through without `cryptography` (~9 MiB each; session 30): the keys and S/MIME
            # are imported for a classified letter, pypdf's AES for an encrypted PDF
            # (tests/test_pypdf_import.py), and the stamping child reads the seal.
            [pipeline] = named(d.proc.pid, "saraban-pipe-0")
            [delivery] = named(d.proc.pid, "saraban-deliver")
            [stamping] = named(d.proc.pid, "saraban-stamp")
            checkers = named(d.proc.pid, "saraban-check")
            assert len(checkers) == 2 and all(_mapped(pid, "pypdfium2") for pid in checkers)
            assert not any(_mapped(pid, _CRYPTOGRAPHY) for pid in (pipeline, delivery, *checkers))
            # The runners and DATA-check workers are forked from the fork server, which
            # imported for all of them (gateway/service/fork_server.py): what one maps the
            # others share, so the delivery runner maps the letter parser's libmagic too,
            # in pages of the server's. No cryptography and no pydantic there either.
            [server] = named(d.proc.pid, "saraban-forks")
            assert _mapped(server, "libmagic") and _mapped(pipeline, "libmagic")
            assert not _mapped(server, _CRYPTOGRAPHY) and not _mapped(server, "pydantic_core")
            assert {_parent(pid) for pid in (pipeline, delivery, *checkers)} == {server}
            assert _mapped(stamping, _CRYPTOGRAPHY)
            # Only the supervisor validates the configuration: the runners are handed it as
            # plain views (gateway/config/views.py), without pydantic (~9 MiB each; session 32).
            assert _mapped(d.proc.pid, "pydantic_core")
            assert not any(_mapped(pid, "pydantic_core") for pid in (pipeline, delivery, stamping, *checkers))
            # pyHanko's HTTP clients are imported only when made (signatures/pyhanko_import.py).
            assert not _mapped(stamping, "/aiohttp/") and not _mapped(stamping, "/yarl/")
            copies = d.wait_for(lambda: d.maildir_files("latkrabang"), what="the folder copy")
            assert message_from_bytes(copies[0].read_bytes())["X-Saraban-Stamp"] == \
                "stamped: 2569_dds_0403_57.stamped.pdf"
        finally:
            d.stop()


def test_an_owner_only_aes_pdf_is_still_read_at_data_and_its_marking_found(tmp_path):
    # The DATA-check worker imports pypdf without `cryptography` and loads it for the
    # first encrypted PDF: an AES-256 file anyone may open (empty user password) marked
    # ลับมาก (secret) is registered in the secret book, as it was when every worker held
    # `cryptography` from its start.
    import io

    from pypdf import PdfReader, PdfWriter

    from tests.daemon import Daemon, write_config
    from tests.letters import letter
    from tests.thai_pdfs import thai_pdf

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(thai_pdf(["ลับมาก", "เรื่อง แผนงานประจำปี"]))))
    writer.encrypt(user_password="", owner_password="owner-only", algorithm="AES-256")
    pdf = io.BytesIO()
    writer.write(pdf)
    d = Daemon(write_config(tmp_path)).start()
    try:
        d.send(letter(subject="แผนงานประจำปี", files=[("2569_plan.pdf", pdf.getvalue())]),
               "saraban.latkrabang@bangkok.go.th")
        [entry] = d.wait_for(lambda: d.register(), what="the letter registered")
        assert (entry["secrecy"], entry["book"]) == ("secret", "secret")
        checkers = named(d.proc.pid, "saraban-check")
        assert any(_mapped(pid, _CRYPTOGRAPHY) for pid in checkers)
    finally:
        d.stop()
