"""pyHanko without aiohttp until an HTTP client of it is made
(gateway/signatures/pyhanko_import.py): the stamping child and the signature worker
import pyHanko through gateway/signatures/, and hold ~9.9 MiB less; whoever does want
pyHanko's HTTP timestamp client or its fetchers gets the real ones.

Each case runs in a fresh interpreter, as the children start."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

_IMPORTS = """
import sys, json
{before}
import gateway.signatures.receive_stamp, gateway.signatures.stamp, gateway.signatures.verify
import gateway.signatures.worker
import pyhanko.sign, pyhanko.sign.signers, pyhanko.sign.validation, pyhanko.sign.fields
out = {{"aiohttp_after_import": "aiohttp" in sys.modules}}
"""


def _run(code: str, before: str = "") -> dict:
    script = _IMPORTS.format(before=before) + code + "\nprint(json.dumps(out))"
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         cwd=REPO, check=True)
    return json.loads(run.stdout.splitlines()[-1])


def test_the_childrens_imports_leave_aiohttp_out():
    assert _run("") == {"aiohttp_after_import": False}


def test_an_http_timestamper_made_is_pyhankos_own():
    out = _run("""
from pyhanko.sign.timestamps import HTTPTimeStamper
stamper = HTTPTimeStamper("http://127.0.0.1:9/tsa")
import importlib
real = importlib.import_module("pyhanko.sign.timestamps.aiohttp_client")
out["real"] = type(stamper) is real.HTTPTimeStamper and type(real).__name__ == "module"
out["url"] = stamper.url
out["aiohttp"] = "aiohttp" in sys.modules
""")
    assert out == {"aiohttp_after_import": False, "real": True, "url": "http://127.0.0.1:9/tsa", "aiohttp": True}


def test_the_fetcher_backend_and_any_other_name_are_pyhankos_own():
    # The default backend pyhanko-certvalidator makes when revocation data is fetched
    # (`[signatures] online_revocation`), and a name of the module that is not deferred.
    out = _run("""
from pyhanko_certvalidator.fetchers import _default_fetcher_backend
backend = _default_fetcher_backend()
out["backend"] = type(backend).__module__ + "." + type(backend).__name__
out["backend_makes_fetchers"] = type(backend.get_fetchers()).__name__
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpCRLFetcher
out["other"] = AIOHttpCRLFetcher.__module__
""")
    assert out == {"aiohttp_after_import": False,
                   "backend": "pyhanko_certvalidator.fetchers.aiohttp_fetchers.AIOHttpFetcherBackend",
                   "backend_makes_fetchers": "Fetchers",
                   "other": "pyhanko_certvalidator.fetchers.aiohttp_fetchers.crl_client"}


def test_a_process_with_aiohttp_already_gets_the_modules_as_they_are():
    out = _run("""
import pyhanko.sign.timestamps as ts, pyhanko.sign.timestamps.aiohttp_client as real
out["same"] = ts.HTTPTimeStamper is real.HTTPTimeStamper
""", before="import aiohttp")
    assert out == {"aiohttp_after_import": True, "same": True}
