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


# The skip reason every test without shared/ gives: the terminal summary counts them
# under it once (tests/conftest.py) instead of leaving them among other skips.
NO_SHARED = "needs ../shared (the project's seed documents and test corpus)"


def shared_path(*parts: str) -> Path:
    """A path under shared/, or skip the test cleanly when shared/ is absent."""
    base = shared_dir()
    if base is None or not base.joinpath(*parts).exists():
        pytest.skip(f"{NO_SHARED}: shared/{'/'.join(parts)} is not present beside the repository")
    return base.joinpath(*parts)


def seed_text(name_prefix: str) -> str:
    """The text of a seed document, by the start of its file name (e.g. '004')."""
    seeds = shared_path("seeds")
    matches = sorted(seeds.glob(f"{name_prefix}*.txt"))
    if not matches:
        pytest.skip(f"{NO_SHARED}: seed {name_prefix} not present")
    return matches[0].read_text(encoding="utf-8")
