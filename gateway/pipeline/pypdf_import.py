"""pypdf, without `cryptography` until a PDF is encrypted.

pypdf picks its crypt provider when it is imported: `cryptography` if it can be
imported, else its own pure-Python fallback (RC4 only). Loading `cryptography` costs a
process ~8.6 MiB resident (its Rust module alone 5.5-7.8 MiB), and the DATA-check
workers and the PDF reader import pypdf for letters of which almost none is encrypted
(docs/performance.md, session 30). So `import_pypdf` imports pypdf with `cryptography`
hidden from the importing thread, and `with_cryptography`, called before an encrypted
PDF is opened, loads pypdf's `cryptography` provider and puts its functions wherever
pypdf's modules had taken the fallback's: every PDF is decrypted exactly as it would
have been (tests/test_pypdf_import.py opens RC4, AES-128 and AES-256 files both ways).

Only the thread running `import_pypdf` is refused `cryptography`, and only while pypdf
is being imported: another thread importing it meanwhile gets it. A process that has
imported `cryptography` or pypdf already is left as it is."""
from __future__ import annotations

import importlib
import importlib.abc
import sys
import threading

_HIDDEN = "cryptography"
_hiding = threading.local()
_switched = threading.Lock()


class _HideFromPypdf(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        # Once another thread has loaded it, its memory is spent: pypdf may use it.
        if getattr(_hiding, "on", False) and fullname.partition(".")[0] == _HIDDEN \
                and _HIDDEN not in sys.modules:
            raise ModuleNotFoundError(f"{_HIDDEN} is loaded when a PDF is encrypted", name=fullname)
        return None


_finder = _HideFromPypdf()


def import_pypdf():
    """The pypdf package, imported (the first time) without `cryptography`."""
    if "pypdf" in sys.modules or _HIDDEN in sys.modules:
        return importlib.import_module("pypdf")
    _hiding.on = True
    sys.meta_path.insert(0, _finder)
    try:
        return importlib.import_module("pypdf")
    finally:
        _hiding.on = False
        try:
            sys.meta_path.remove(_finder)
        except ValueError:
            pass


def with_cryptography() -> None:
    """Make pypdf decrypt with `cryptography` (AES needs it) if it was imported without."""
    providers = sys.modules.get("pypdf._crypt_providers")
    if providers is None or getattr(providers, "crypt_provider", ("",))[0] != "local_crypt_fallback":
        return
    with _switched:
        fallback = sys.modules.get("pypdf._crypt_providers._fallback")
        try:
            real = importlib.import_module("pypdf._crypt_providers._cryptography")
        except ImportError:  # no cryptography installed: pypdf's fallback is all there is
            return
        if fallback is None:
            return
        swap = {id(value): getattr(real, name) for name, value in vars(fallback).items()
                if not name.startswith("__") and hasattr(real, name)
                and (callable(value) or name == "crypt_provider")}
        for name, module in list(sys.modules.items()):
            if module is None or module is fallback or not (name == "pypdf" or name.startswith("pypdf.")):
                continue
            for attr, value in list(vars(module).items()):
                if id(value) in swap and not attr.startswith("__"):
                    setattr(module, attr, swap[id(value)])
