"""`quarantine release` runs the pipeline with the daemon's own services (one factory):
the signature checker included, so a released signed letter keeps its verdict."""
from __future__ import annotations

import json

import pytest

from tests.letters import letter
from tests.pki import make_letter, sign_letter

LAT = "saraban.latkrabang@bangkok.go.th"


@pytest.fixture
def signing_daemon(daemon_factory, pki):
    extra = ("[signatures]\nstamp = false\n"
             f'trust_roots = "{pki.roots_pem}"\nrevocation_dir = "{pki.revocation_dir}"\n'
             '[rules.policy]\nnaming = "reject"\n')
    return daemon_factory(extra=extra).start()


def test_a_released_letter_keeps_its_signature_verdicts(signing_daemon, pki):
    """`quarantine release` runs the pipeline with the same signature checker as the
    daemon (one service factory): the register shows the verdict, not nothing."""
    d = signing_daemon
    signed = sign_letter(make_letter(), pki)
    d.send(letter(files=[("scan0007.pdf", signed)]), LAT)  # badly named: held
    d.wait_idle()
    [entry] = json.loads(d.cli("quarantine", "list", "--json").stdout)
    out = d.cli("quarantine", "release", str(entry["id"]))
    number = out.stdout.split("registered as ", 1)[1].split()[0]
    shown = json.loads(d.cli("register", "show", "saraban.latkrabang", number, "--json").stdout)
    [attachment] = shown["attachments"]
    assert [s["indication"] for s in attachment["signatures"]] == ["TOTAL_PASSED"]


