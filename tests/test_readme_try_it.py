"""README's "Try it", as a new user on a machine without Internet DNS meets it: the
example configuration's sender checks, examples/send_examples.py, every example held
because bangkok.go.th does not exist for that resolver, and the release README shows
registering and filing the first one. The resolver is a real DNS server on loopback that
knows no name (a sandbox's resolver answers NXDOMAIN for everything)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib

from tests.daemon import Daemon, write_config
from tests.paths import REPO
from tests.servers.dns import DnsServer


def example_sender_sections() -> str:
    """[sender] and [sender.domains] as config/gateway.example.toml writes them."""
    example = tomllib.loads((REPO / "config" / "gateway.example.toml").read_text(encoding="utf-8"))
    sender = dict(example["sender"])
    domains = sender.pop("domains")
    lines = ["[sender]", *(f"{k} = {json.dumps(v)}" for k, v in sender.items()), "[sender.domains]",
             *(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in domains.items())]
    assert domains.get("bangkok.go.th") == "quarantine"  # what README's last sentence says
    return "\n".join(lines) + "\n"


def readme_try_it() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return text.split("## Try it", 1)[1].split("\n## ", 1)[0]


def test_the_examples_are_held_for_an_unknown_domain_and_release_registers_and_files_the_first(tmp_path):
    said = readme_try_it()
    [release] = re.findall(r"`\.venv/bin/saraban-gateway (quarantine release 1 --reason\s+\"[^\"]+\")`", said)
    release_args = ["quarantine", "release", "1", "--reason", re.search(r'"([^"]+)"', release).group(1)]
    [answer] = re.findall(r"answers `(registered as 1/2569 \(saraban\.latkrabang, book general\))`", said)

    dns = DnsServer({}, tmp_path / "dns").start()
    d = Daemon(write_config(tmp_path / "gw", extra=f'[dns]\nnameservers = ["{dns.address}"]\ntimeout = 0.5\n'
                            + example_sender_sections()))
    try:
        d.start()
        sent = subprocess.run([sys.executable, str(REPO / "examples" / "send_examples.py"), "--port", str(d.port)],
                              capture_output=True, text=True, timeout=120)
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.count(": 250 ") == 4, sent.stdout
        held = d.wait_for(lambda: (q := json.loads(d.cli("quarantine", "list", "--json").stdout)) and len(q) == 5 and q,
                          what="the five units' entries of the four examples held")
        assert d.register() == []
        for entry in held:
            reasons = {r["rule"]: r for r in entry["reasons"]}
            assert "sender_authenticity" in reasons, entry
            assert "โดเมนผู้ส่ง bangkok.go.th ไม่มีอยู่จริงในระบบ DNS (NXDOMAIN)" in reasons["sender_authenticity"]["message_th"]
            assert "the sender's domain bangkok.go.th does not exist (DNS: NXDOMAIN)" in reasons["sender_authenticity"]["message_en"]
        first = [e for e in held if e["id"] == 1][0]
        assert first["unit"] == "saraban.latkrabang"
        # The fourth example (a program disguised as a PDF) is held for that too.
        disguised = [e for e in held if e["subject"] == "ใบแจ้งหนี้"]
        assert disguised and all(len(e["reasons"]) > 1 for e in disguised)

        done = d.cli(*release_args)
        year = re.search(r"registered as 1/(\d{4})", done.stdout).group(1)
        assert answer.replace("2569", year) in done.stdout, done.stdout
        d.wait_for(lambda: d.maildir_files("latkrabang"), what="the released letter in the unit's folder")
        [entry] = d.register()
        assert entry["unit"] == "saraban.latkrabang" and entry["queue_id"] == first["queue_id"]
    finally:
        d.stop()
        dns.stop()
