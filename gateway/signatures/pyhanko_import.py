"""pyHanko, without aiohttp until an HTTP client of it is made.

`pyhanko.sign` imports aiohttp whatever it is asked to do: its timestamp package for
`HTTPTimeStamper` and its AdES validation for `AIOHttpFetcherBackend`, both at import.
aiohttp (with yarl, multidict, propcache) is ~9.9 MiB of each process that loads it: the
stamping child and the signature worker, which never fetch a timestamp and fetch
revocation data only with `[signatures] online_revocation` (docs/performance.md, session 30).

`defer_aiohttp` puts a stand-in for those two modules in `sys.modules` before pyHanko is
imported. Each stand-in holds its class as a placeholder that, called, imports the real
module and returns the real class's instance; any other name asked of it imports the
real module too. What a caller gets is what it got before, only later; at worst (a
pyHanko that asks these modules for more) aiohttp is loaded as it was
(tests/signatures/test_pyhanko_import.py)."""
from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from pathlib import Path

# pyHanko's modules that import aiohttp at their own import -> the names pyHanko takes from them.
DEFERRED = {
    "pyhanko.sign.timestamps.aiohttp_client": ("HTTPTimeStamper",),
    "pyhanko_certvalidator.fetchers.aiohttp_fetchers": ("AIOHttpFetcherBackend",),
}
_loading = threading.RLock()


class _StandIn(types.ModuleType):
    """In `sys.modules` in place of one of DEFERRED until anything else of it is asked."""

    def __getattr__(self, name: str):
        # Dunders are the import system's questions (`__path__`: a package?), answered
        # by the stand-in itself; loading the module for them would defer nothing.
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return getattr(_real(self.__name__), name)


def _real(module_name: str) -> types.ModuleType:
    with _loading:
        module = sys.modules.get(module_name)
        if isinstance(module, _StandIn):
            del sys.modules[module_name]
            try:
                module = importlib.import_module(module_name)
            except BaseException:
                sys.modules.setdefault(module_name, _stand_in(module_name))
                raise
        return module


def _placeholder(module_name: str, name: str) -> type:
    def __new__(cls, *args, **kwargs):
        return getattr(_real(module_name), name)(*args, **kwargs)

    return type(name, (), {"__new__": __new__, "__module__": module_name,
                           "__doc__": f"{module_name}.{name}, imported when first made"})


def _package_path(module_name: str) -> list[str] | None:
    """The directory of `module_name` if it is a package, found without importing its
    parents (their own imports may be what is deferred)."""
    top, *rest = module_name.split(".")
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        where = Path(base).joinpath(*rest)
        if (where / "__init__.py").is_file():
            return [str(where)]
    return None


def _stand_in(module_name: str) -> _StandIn:
    module = _StandIn(module_name)
    path = _package_path(module_name)
    if path is not None:
        module.__path__ = path  # its submodules are imported from the real place
    for name in DEFERRED[module_name]:
        setattr(module, name, _placeholder(module_name, name))
    return module


def defer_aiohttp() -> None:
    """Before pyHanko's first import in this process; a no-op after it or after aiohttp's."""
    if "aiohttp" in sys.modules:
        return
    with _loading:
        for module_name in DEFERRED:
            if module_name not in sys.modules:
                sys.modules[module_name] = _stand_in(module_name)
