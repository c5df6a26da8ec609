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


def parent(pid: int) -> int:
    """Its parent's pid (the fork server's children are not the supervisor's)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2:].split()[1])


def tree(root: int) -> list[int]:
    """`root` and every process below it."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                todo += [int(p) for p in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


def comm(pid: int) -> str:
    """What `ps -o comm` shows of it ("saraban-deliver"), or "" once it is gone."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def named(root: int, name: str) -> list[int]:
    """The processes below `root` (itself included) that `ps -o comm` shows as `name`."""
    return [pid for pid in tree(root) if comm(pid) == name]
