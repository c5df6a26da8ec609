"""Everything a runner or a command needs, built once from the settings, in one place.

`open_services(settings, role)` is the one factory: the pipeline runner, `reprocess`,
`quarantine release` and `rules check` all ask for the role "pipeline" and so all get
the same PDF reader (a worker process with its time and memory cap: the signature
checker's when verification is on, which verifies a PDF that may be signed in the same
trip) and the same signature checker; nothing patches a Services after it is built. Tools that only read
or write the register ask for "register"; `rules check` without a database asks for
"dry_run"."""
from __future__ import annotations

from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, Literal

from gateway.pipeline.pdf_inspect import PdfInfo, inspect_pdf
from gateway.spool import Spool, open_spool
from gateway.units.directory import Directory, load_directory
from rules.model import RuleSettings
from rules.policy import Policy
from storage.db import Database
from storage.vault import Vault

if TYPE_CHECKING:
    from gateway.config.settings import Settings
    from gateway.sender.check import PipelineChecker
    from gateway.signatures.check import SignatureChecker

Role = Literal["pipeline", "delivery", "register", "dry_run"]


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: Database | None  # None in a dry run, which reads and stores nothing
    spool: Spool | None
    vault: Vault | None
    directory: Directory
    policy: Policy
    rule_settings: RuleSettings
    pdf_reader: Callable[[bytes, float | None], PdfInfo] = inspect_pdf  # (data, timeout)
    signatures: "SignatureChecker | None" = None
    sender: "PipelineChecker | None" = None  # who really sent it (gateway/sender/), pipeline only


@contextmanager
def open_services(settings: Settings, role: Role, *, upgrade_schema: bool = False,
                  lock_wait: float | None = None) -> Iterator[Services]:
    """The services of one role, closed (pools stopped, connections released) on exit.

    `upgrade_schema` brings the database to the newest migration first: the daemon and
    the commands that write do; read-only commands check instead (storage/migrate.py).
    `lock_wait`: a shorter wait for a database lock (Settings.open_database)."""
    with ExitStack() as stack:
        db = None
        if role != "dry_run":
            db = settings.open_database(lock_wait)
            stack.callback(db.dispose)
            if upgrade_schema:
                db.create_schema()
        pdf_reader: Callable[[bytes, float | None], PdfInfo] = inspect_pdf  # (data, timeout)
        signatures = None
        if role in ("pipeline", "dry_run"):
            from gateway.pipeline.pdf_pool import PdfPool
            from gateway.signatures.check import SignatureChecker

            pool = PdfPool(timeout=settings.signatures.timeout)
            stack.callback(pool.close)
            pdf_reader = pool.inspect
            signatures = SignatureChecker.from_settings(settings, text_reader=pool.inspect)
            if signatures is not None:
                stack.callback(signatures.close)
                # One trip per PDF, to the signature worker: text and signatures together
                # for a file that may be signed, text alone for the rest; the PDF pool
                # reads only files larger than the verifier takes.
                pdf_reader = signatures.read_pdf
        yield Services(
            settings=settings,
            db=db,
            spool=open_spool(settings) if role != "dry_run" else None,
            vault=Vault(settings.vault_dir) if role != "dry_run" else None,
            directory=load_directory(settings.directory_path, settings.gateway.domain),
            policy=policy_from_settings(settings),
            rule_settings=rule_settings_from(settings),
            pdf_reader=pdf_reader,
            signatures=signatures,
            sender=_sender_checker(settings) if role == "pipeline" else None,
        )


def _sender_checker(settings: Settings) -> "PipelineChecker | None":
    from gateway.sender.check import pipeline_checker

    return pipeline_checker(settings)


def rule_settings_from(settings: Settings) -> RuleSettings:
    if settings.rules.filename_pattern:
        return RuleSettings(filename_pattern=settings.rules.filename_pattern)
    return RuleSettings()


def policy_from_settings(settings: Settings) -> Policy:
    from gateway.signatures.settings import policy_tables  # [signatures] on_failure

    default, per_unit = policy_tables(settings)
    return Policy(default=default, per_unit=per_unit)
