"""Shared pytest setup: the real daemon (tests/daemon.py) and the real servers the
suite starts by itself (tests/servers/: Dovecot, PostgreSQL)."""
from tests.fixtures_daemon import *  # noqa: F401,F403
from tests.servers.fixtures import *  # noqa: F401,F403 - fixtures and the marker hook


def pytest_terminal_summary(terminalreporter):
    """One line saying how many tests did not run for want of ../shared, and how to
    run them, so that a fresh clone does not pass quietly with them skipped."""
    from tests.paths import NO_SHARED, shared_dir

    skipped = [r for r in terminalreporter.stats.get("skipped", []) if NO_SHARED in str(r.longrepr)]
    if skipped:
        terminalreporter.write_sep("=", "missing test inputs", yellow=True)
        terminalreporter.write_line(
            f"{len(skipped)} test(s) skipped, each {NO_SHARED}, which is not beside this clone"
            + (f" (looked for {shared_dir()})" if shared_dir() else "")
            + "; put shared/ next to the repository or set SARABAN_SHARED=/path/to/shared")
