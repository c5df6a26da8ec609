"""The key pairs' files in the key store (gateway/secrecy/keys.py keeps the layout's
description), found and watched without parsing them: the delivery runner names its
seal by these (gateway/signatures/settings.py `seal_for_stamping`) and leaves reading
and checking the key to its stamping child, so that it does not load `cryptography`
(~9 MiB) for it (docs/performance.md, session 30)."""
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


def seal_dir(keys_dir: str | os.PathLike) -> Path:
    """The receive stamp's own key pairs (`<keys>/seal`, EC P-256): made with the first
    gateway key since session 51. A store without it stamps with its gateway key."""
    return Path(keys_dir) / "seal"


def seal_common_name(settings) -> str:
    """The CN of a seal the gateway makes itself (and of its first gateway key)."""
    return f"Saraban Gateway Seal ({settings.gateway.domain})"


def fingerprints_in(directory: Path) -> list[str]:
    """The key slots of `gateway/` or `seal/`, by name (a key's fingerprint)."""
    if not directory.is_dir():
        return []
    return sorted(p.name for p in directory.iterdir() if p.is_dir() and _FINGERPRINT.fullmatch(p.name))


def _current(directory: Path) -> str | None:
    """The fingerprint in `directory/CURRENT`, None without the file. A folder, an
    unreadable file, not text or not a fingerprint is damaged, never a traceback."""
    try:
        fp = (directory / "CURRENT").read_text().strip()
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        raise SecrecyError(f"keys/{directory.name}/CURRENT is damaged") from None
    if not _FINGERPRINT.fullmatch(fp):
        raise SecrecyError(f"keys/{directory.name}/CURRENT is damaged")
    return fp


def current_gateway_fingerprint(keys_dir: str | os.PathLike) -> str:
    """The fingerprint in `gateway/CURRENT`: the key new letters are sealed with."""
    fp = _current(gateway_dir(keys_dir))
    if fp is None:
        raise SecrecyError("no gateway key: run `saraban-gateway keys create` or `keys import`")
    return fp


def current_seal_fingerprint(keys_dir: str | os.PathLike) -> str | None:
    """The fingerprint in `seal/CURRENT`, the key the receive stamp is signed with; None
    when the store has no seal of its own (then the gateway key signs it)."""
    fp = _current(seal_dir(keys_dir))
    if fp is None:
        # A store that has seals and lost CURRENT does not fall back to the gateway
        # key: stamps signed by another key than the one readers were given would fail
        # for them without a word here.
        try:
            slots = fingerprints_in(seal_dir(keys_dir))
        except OSError:
            raise SecrecyError("keys/seal/CURRENT is damaged") from None
        if slots:
            raise SecrecyError("keys/seal/CURRENT is missing")
    return fp


def _slot_state(directory: Path) -> tuple:
    state: list = []
    try:
        fp = (directory / "CURRENT").read_text().strip()
    except (OSError, ValueError):  # ValueError: not UTF-8 text
        return ("no CURRENT",)
    state.append(fp)
    if _FINGERPRINT.fullmatch(fp):
        for name in ("key.pem", "cert.pem", "chain.pem"):
            try:
                st = os.stat(directory / fp / name)
                state.append((name, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode))
            except OSError:
                state.append((name, None))
    return tuple(state)


def gateway_key_state(keys_dir: str | os.PathLike) -> tuple:
    """What changes when the current key is rotated, renewed, imported, repaired or
    has its mode fixed: `CURRENT` and the current slot's files (size, time, mode)."""
    return _slot_state(gateway_dir(keys_dir))


def stamp_key_state(keys_dir: str | os.PathLike) -> tuple:
    """`gateway_key_state` of both keys that may sign the receive stamp: the seal's own
    (`seal/`) and the gateway key (a store without a seal of its own)."""
    return _slot_state(seal_dir(keys_dir)), _slot_state(gateway_dir(keys_dir))
