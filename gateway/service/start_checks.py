"""The supervisor's start-up checks of keys and certificates, run in a short-lived child.

At start the daemon reads the signatures' trust roots, creates the seal key if there is
none and checks it (docs/signatures.md), checks that the seal's address is the From of
sealed mail (docs/secrecy.md) and whether the SMTP certificate is about to expire. All
of that reads keys and certificates with cryptography, ~8 MiB of a process once
imported, and a process keeps what it has imported: the supervisor, which lives as long
as the daemon and uses cryptography for nothing else, held it for good.

The child starts with the daemon and works while the supervisor opens the spool, the
database and the DATA-check workers; its answer is awaited before the runners start
(they load the seal it may have just created) and before SMTP opens. Like the schema
upgrade (schema_upgrade.py) it gets the settings pickled on its stdin, never on its
command line, writes its events to the daemon's log under the process name
`start-checks`, and says its outcome as one JSON line on stderr. A configuration
mistake stays a `ConfigError`, which `saraban-gateway run` prints and exits 2 on, as
before."""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from dataclasses import dataclass

from gateway.config.settings import ConfigError, Settings
from gateway.service.process_util import ForkedChild, fork_child

# Reading a few key files and, on a first start, making an RSA key: seconds. A child
# still at it after this is stuck (a hung disk), and the daemon must not wait forever.
CHECKS_TIMEOUT = 120.0


class StartChecksFailed(Exception):
    """The checks could not be run (the child crashed, was killed or hung): `str()` says how."""


@dataclass
class StartChecks:
    """A child running the checks; `outcome()` waits for it."""

    process: subprocess.Popen | ForkedChild

    @classmethod
    def begin(cls, settings: Settings) -> "StartChecks":
        # Forked while the supervisor has one thread (process_util.fork_child): the
        # imports it shares with the supervisor are not made again.
        forked = fork_child("startup", _check_and_say, settings)
        if forked is not None:
            return cls(forked)
        # The supervisor's module path (the same gateway, however it was started); its
        # working directory is inherited (a relative data_dir means the same place).
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(path for path in sys.path if path))
        process = subprocess.Popen([sys.executable, "-m", "gateway.service.start_checks"],
                                   stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            process.stdin.write(pickle.dumps(settings))
        except BrokenPipeError:  # it died at once; outcome() says so
            pass
        finally:
            process.stdin.close()
            process.stdin = None  # communicate() would flush it again
        return cls(process)

    def outcome(self, timeout: float = CHECKS_TIMEOUT) -> list[str]:
        """The SMTP certificate's warnings (`tls.certificate_warnings`), once every check
        passed. Raises ConfigError with the check's own words, or StartChecksFailed."""
        try:
            _, said = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            raise StartChecksFailed(f"the start-up checks of keys and certificates did not end within "
                                    f"{timeout:.0f} s") from None
        last = (said.decode("utf-8", "replace").strip().splitlines() or [""])[-1]
        try:
            answer = json.loads(last)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):  # it died before it could say (killed, out of memory)
            raise StartChecksFailed(f"the start-up checks of keys and certificates ended with exit code "
                                    f"{self.process.returncode}")
        if "config_error" in answer:
            raise ConfigError(str(answer["config_error"]))
        if "error" in answer:
            raise StartChecksFailed(str(answer["error"]))
        return [str(warning) for warning in answer.get("tls_warnings", [])]

    def abandon(self) -> None:
        """The daemon stops (or never started) before the answer was read: the child
        goes, and is reaped."""
        if self.process.returncode is None:
            self.process.kill()
            self.process.wait()
        if self.process.stderr is not None and not self.process.stderr.closed:
            self.process.stderr.close()


def run_checks(settings: Settings) -> list[str]:
    """The checks themselves (in the child): ConfigError on a mistake; the SMTP
    certificate's warnings otherwise."""
    from gateway.intake.tls import configured_certificate_warnings
    from gateway.secrecy.keys import refuse_seal_mismatch
    from gateway.signatures.settings import prepare_signatures

    prepare_signatures(settings)  # trust bundle readable, seal key present (docs/signatures.md)
    refuse_seal_mismatch(settings)  # sealed mail's From must be the seal's address (docs/secrecy.md)
    return configured_certificate_warnings(settings)


def _check_and_say(settings: Settings) -> None:
    """The child's whole work, forked or started fresh: the checks, then their outcome as
    one JSON line on stderr."""
    from gateway.service.log import setup_logging
    from gateway.service.process_util import exit_now

    setup_logging(settings.logging.level, settings.logging.format, process="start-checks")
    try:
        answer = {"tls_warnings": run_checks(settings)}
    except ConfigError as exc:
        answer = {"config_error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - said to the supervisor, which logs it
        text = str(exc).strip()
        answer = {"error": f"{type(exc).__name__}: {text.splitlines()[0][:300] if text else ''}"}
    print(json.dumps(answer, ensure_ascii=False), file=sys.stderr, flush=True)
    exit_now(0)


def _main() -> None:
    """`python -m gateway.service.start_checks`: where the supervisor could not fork."""
    from gateway.service.process_util import die_with_parent, name_process

    die_with_parent()
    name_process("startup")
    _check_and_say(pickle.load(sys.stdin.buffer))


if __name__ == "__main__":
    _main()
