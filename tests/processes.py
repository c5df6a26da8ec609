"""What tests ask of a process by its pid."""
from __future__ import annotations

from pathlib import Path


def gone(pid: int) -> bool:
    """Ended: no such process, or a zombie nobody reaps (a container's pid 1)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat[stat.rindex(")") + 2] in "ZX"
