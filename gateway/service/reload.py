"""SIGHUP: read the configuration and the unit directory again, all or nothing.

The new configuration is validated completely (the TOML, every section, the unit
directory, the rules policy) before anything changes; if any part is wrong the gateway
keeps running on the old one and logs why. What a running process cannot change
(the listening address, the data directory and database, the HTTP endpoint, the web
desk, the mail domain) keeps its old value, and the log names the keys that need a restart.
"""
from __future__ import annotations

from dataclasses import dataclass

import structlog

from gateway.config.settings import ConfigError, Settings, load_settings
from gateway.units.directory import Directory, DirectoryError, load_directory
from gateway.units.in_force import refusals
from gateway.service.services import policy_from_settings, rule_settings_from

log = structlog.get_logger(__name__)

# Sections read once at start-up: the listener, the storage, the HTTP endpoint, the domain,
# and the web desk, which is built once from its [web] (its address, sign-in limits and
# LDAP): taken in silently, a new [web] was in the settings and not in the desk.
FIXED_SECTIONS = ("gateway", "smtp", "storage", "http", "web")


class ReloadError(Exception):
    """The new configuration cannot be used; the message says why."""


@dataclass
class Reloaded:
    settings: Settings
    directory: Directory
    needs_restart: list[str]  # "section.key" that changed but only apply after a restart


def load_new(current: Settings, in_force: Directory | None = None) -> Reloaded:
    """Validate the configuration on disk; raise ReloadError with the reason if it is bad.
    `in_force`: the directory the daemon runs on, against which a unit's changed address
    is refused (`folders_taken_over`)."""
    try:
        fresh = load_settings(current.source)
    except ConfigError as exc:
        raise ReloadError(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - whatever a file can hold, a reload never stops the daemon
        # A UnicodeDecodeError out of tomllib once ended the running daemon (session 36).
        raise ReloadError(f"{current.source}: cannot be read ({exc}); "
                          "the previous configuration is kept") from None
    changed = _fixed_changes(current, fresh)
    kept = fresh.model_copy(update={name: getattr(current, name) for name in FIXED_SECTIONS})
    try:
        directory = load_directory(kept.directory_path, kept.gateway.domain)
    except DirectoryError as exc:
        raise ReloadError(str(exc)) from None
    # Against the units in force and those kept from before (a unit removed by one reload
    # and its folder given to a new address by the next: gateway/units/in_force.py).
    taken = refusals(kept.data_dir, directory, in_force) if in_force is not None else []
    if taken:
        raise ReloadError(f"{kept.directory_path}: " + "; ".join(taken))
    try:
        policy_from_settings(kept)
        rule_settings_from(kept)
    except Exception as exc:  # noqa: BLE001 - PolicyError, a bad pattern: all mean "do not reload"
        raise ReloadError(f"{current.source}: rules: {exc}") from None
    return Reloaded(kept, directory, changed)


def _fixed_changes(old: Settings, new: Settings) -> list[str]:
    changed = []
    for name in FIXED_SECTIONS:
        before = getattr(old, name).model_dump()
        after = getattr(new, name).model_dump()
        changed += [f"{name}.{key}" for key in before if before[key] != after.get(key)]
    return changed
