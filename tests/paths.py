"""Where the test inputs that are not ours live: ../shared/ beside the repository."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def shared_dir() -> Path | None:
    """`shared/` beside the clone (CI), or beside any parent (developer worktrees)."""
    env = os.environ.get("SARABAN_SHARED")
    if env:
        return Path(env)
    for parent in REPO.parents:
        candidate = parent / "shared"
        if (candidate / "MISSION.md").exists():
            return candidate
    return None


def shared_path(*parts: str) -> Path:
    """A path under shared/, or skip the test cleanly when shared/ is absent."""
    base = shared_dir()
    if base is None or not base.joinpath(*parts).exists():
        pytest.skip(f"shared/{'/'.join(parts)} is not present beside the repository")
    return base.joinpath(*parts)


def seed_text(name_prefix: str) -> str:
    """The text of a seed document, by the start of its file name (e.g. '004')."""
    seeds = shared_path("seeds")
    matches = sorted(seeds.glob(f"{name_prefix}*.txt"))
    if not matches:
        pytest.skip(f"seed {name_prefix} not present")
    return matches[0].read_text(encoding="utf-8")
