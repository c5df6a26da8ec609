"""The gateway key pairs' files in the key store (gateway/secrecy/keys.py keeps the
layout's description), found and watched without parsing them: the delivery runner
names its seal by these (gateway/signatures/settings.py `seal_for_stamping`) and leaves
reading and checking the key to its stamping child, so that it does not load
`cryptography` (~9 MiB) for it (docs/performance.md, session 30)."""
from __future__ import annotations

import os
import re
from pathlib import Path

from gateway.secrecy.errors import SecrecyError

_FINGERPRINT = re.compile(r"[0-9a-f]{64}")


def keys_dir(data_dir: str | os.PathLike) -> Path:
    """The key store of a data directory (`<data_dir>/keys`)."""
    return Path(data_dir) / "keys"


def gateway_dir(keys_dir: str | os.PathLike) -> Path:
    return Path(keys_dir) / "gateway"


def current_gateway_fingerprint(keys_dir: str | os.PathLike) -> str:
    """The fingerprint in `gateway/CURRENT`: the key new letters are sealed with."""
    try:
        fp = (gateway_dir(keys_dir) / "CURRENT").read_text().strip()
    except FileNotFoundError:
        raise SecrecyError("no gateway key: run `saraban-gateway keys create` or `keys import`") from None
    if not _FINGERPRINT.fullmatch(fp):
        raise SecrecyError("keys/gateway/CURRENT is damaged")
    return fp


def gateway_key_state(keys_dir: str | os.PathLike) -> tuple:
    """What changes when the current key is rotated, renewed, imported, repaired or
    has its mode fixed: `CURRENT` and the current slot's files (size, time, mode)."""
    state: list = []
    try:
        fp = (gateway_dir(keys_dir) / "CURRENT").read_text().strip()
    except OSError:
        return ("no CURRENT",)
    state.append(fp)
    if _FINGERPRINT.fullmatch(fp):
        for name in ("key.pem", "cert.pem", "chain.pem"):
            try:
                st = os.stat(gateway_dir(keys_dir) / fp / name)
                state.append((name, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode))
            except OSError:
                state.append((name, None))
    return tuple(state)
