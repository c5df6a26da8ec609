"""Everything a runner needs, built once per process from the settings."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from gateway.config.settings import Settings
from gateway.units.directory import Directory, load_directory
from gateway.pipeline.pdf_inspect import PdfInfo, inspect_pdf
from gateway.spool import Spool
from rules.model import RuleSettings
from rules.policy import Policy
from storage.db import Database
from storage.vault import Vault

if TYPE_CHECKING:
    from gateway.signatures.check import SignatureChecker


@dataclass
class Services:
    settings: Settings
    db: Database
    spool: Spool
    vault: Vault
    directory: Directory
    policy: Policy
    rule_settings: RuleSettings
    pdf_reader: Callable[[bytes], PdfInfo] = field(default=inspect_pdf)
    signatures: "SignatureChecker | None" = None  # set by the pipeline runner

    @classmethod
    def build(cls, settings: Settings, create_schema: bool = False) -> "Services":
        db = Database(settings.database_url)
        if create_schema:
            db.create_schema()
        return cls(
            settings=settings,
            db=db,
            spool=Spool(settings.spool_dir),
            vault=Vault(settings.vault_dir),
            directory=load_directory(settings.directory_path, settings.gateway.domain),
            policy=policy_from_settings(settings),
            rule_settings=rule_settings_from(settings),
        )

    def close(self) -> None:
        self.db.dispose()


def rule_settings_from(settings: Settings) -> RuleSettings:
    if settings.rules.filename_pattern:
        return RuleSettings(filename_pattern=settings.rules.filename_pattern)
    return RuleSettings()


def policy_from_settings(settings: Settings) -> Policy:
    from gateway.signatures.settings import policy_tables  # [signatures] on_failure

    default, per_unit = policy_tables(settings)
    return Policy(default=default, per_unit=per_unit)
