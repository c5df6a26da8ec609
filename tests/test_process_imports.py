"""What each long-lived process imports is what it holds in memory for the daemon's life
(docs/operations.md "Processes", docs/performance.md): libraries a process has no use
for were kept out of it on purpose, measured in MiB. These guard those choices; each
runs the imports in a fresh interpreter, as the process itself starts."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
