"""The unit directory: which saraban units (หน่วยสารบรรณกลาง, central registries) exist,
their Thai names, where each sits in the hierarchy and which folder gets its letters.

The operator edits `config/units.toml` (one `[[unit]]` table per unit). Addresses follow
the BMA scheme of seed 000: `saraban.<agency>[.<unit>]@bangkok.go.th`, local part at most
30 characters, domain configured separately.
"""
from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger(__name__)

DEFAULT_DOMAIN = "bangkok.go.th"
# Seed 000 ข้อ ๓.๑: "ต้องมีความยาวไม่เกิน ๓๐ ตัวอักษร (ไม่รวมชื่อโดเมน)".
MAX_LOCAL_PART = 30
SARABAN_PREFIX = "saraban."

# Dot-separated labels of a-z 0-9 & - ; `&` is real (`saraban.dindaeng.cd&sw`).
_LABEL = r"[a-z0-9&-]+"
_LOCAL_PART_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_SARABAN_RE = re.compile(rf"saraban(?:\.{_LABEL})+")
# A folder becomes a Maildir directory and an IMAP mailbox name: no `.` (Maildir++ and
# IMAP hierarchy separator), no `&` (IMAP modified UTF-7 escape), no `/`.
_FOLDER_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def _secret_folder_problem(value: object) -> str | None:
    """What keeps `secret_folder` of [unit.settings] (the secret registrar's Maildir under
    folders_dir, one directory) from working, or None. Thai and capitals work, as before."""
    if not isinstance(value, str) or not value.strip():
        return "must be a folder name (text)"
    if "/" in value or ".." in value or value.startswith("."):
        return "must be one folder under folders_dir: no '/', no '..', not starting with '.'"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return "holds a control character (a NUL, a line break)"
    if len(value.encode("utf-8")) > 200:
        return f"is {len(value.encode('utf-8'))} bytes long, more than a folder name may be (200)"
    return None

_REQUIRED_KEYS = ("address", "name_th", "folder")
_OPTIONAL_KEYS = ("name_en", "parent", "settings")


class DirectoryError(ValueError):
    """The unit directory file is unusable; the message names file, unit and problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Unit:
    """One saraban unit. `address` and `parent` are local parts (`saraban.dds`)."""

    address: str
    name_th: str
    name_en: str
    parent: str
    folder: str
    # Free-form per-unit options (`[unit.settings]`) for later policy/delivery choices.
    settings: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def full_address(self, domain: str = DEFAULT_DOMAIN) -> str:
        return f"{self.address}@{domain}"


def is_saraban_address(local_part: str) -> bool:
    """True if `local_part` follows the `saraban.<org>[.<unit>]` scheme (any case).

    Used at RCPT time: an unknown saraban address is a wrong unit (550 5.1.1), anything
    else is a relay attempt (550 5.7.1). Pass the local part only, never `x@domain`.
    """
    return bool(_SARABAN_RE.fullmatch(local_part.strip().lower()))


# RFC 5321 4.5.1: the reserved mailbox every mail server takes mail for. Not a unit:
# what comes to it is held in quarantine for the operator, never registered.
POSTMASTER = "postmaster"


def is_postmaster(address: str, domain: str) -> bool:
    """`postmaster`, or `postmaster@<domain>`, in any case (RFC 5321 4.1.1.3, 4.5.1).
    ASCII only, as the domain is compared: str.lower() maps some non-ASCII letters
    (the Kelvin sign) onto ASCII ones."""
    if not address.isascii():
        return False
    local, at, where = address.lower().rpartition("@")
    if not at:
        return address.lower() == POSTMASTER
    return local == POSTMASTER and where == domain.lower()


def default_folder(local_part: str) -> str:
    """A safe folder name derived from an address: `saraban.dindaeng.cd&sw` → `dindaeng_cd-sw`."""
    name = local_part.lower()
    if name.startswith(SARABAN_PREFIX):
        name = name[len(SARABAN_PREFIX):]
    return name.replace(".", "_").replace("&", "-")


class Directory:
    """The loaded, validated directory. Lookups are by local part or full address."""

    def __init__(self, units: Iterable[Unit], domain: str = DEFAULT_DOMAIN, source: str = ""):
        self.units: list[Unit] = list(units)
        self.domain = domain.strip().lower()
        self.source = source
        self._by_address = {u.address: u for u in self.units}
        self._children: dict[str, list[Unit]] = {}
        for unit in self.units:
            if unit.parent:
                self._children.setdefault(unit.parent, []).append(unit)

    def __len__(self) -> int:
        return len(self.units)

    def _local_part(self, address: str) -> str | None:
        """The lower-cased local part, or None when the address names another domain or
        is not ASCII (no unit's is)."""
        address = address.strip()
        if not address.isascii():
            # Every unit's address is ASCII, and str.lower() maps some other letters onto
            # ASCII ones: saraban.lat\u212arabang (the Kelvin sign) was saraban.latkrabang.
            return None
        if "@" in address:
            local, _, domain = address.rpartition("@")
            if domain.lower().rstrip(".") != self.domain:
                return None
            address = local
        return address.lower()

    def in_domain(self, address: str) -> bool:
        """True for a bare local part or an address in the directory's domain."""
        return self._local_part(address) is not None

    def lookup(self, address: str) -> Unit | None:
        """The unit for `saraban.dds@bangkok.go.th` or `saraban.dds` (any case), or None."""
        local = self._local_part(address)
        return None if local is None else self._by_address.get(local)

    def children(self, local_part: str) -> list[Unit]:
        """Direct sub-units, in file order; [] for a leaf or an unknown unit."""
        unit = self.lookup(local_part)
        return list(self._children.get(unit.address, [])) if unit else []

    def owned_by(self, local_part: str) -> list[Unit]:
        """The unit and all its descendants (appendix ง: a unit sees only letters of the
        units it owns); [] for an unknown unit."""
        unit = self.lookup(local_part)
        if unit is None:
            return []
        owned, stack = [], [unit]
        while stack:
            current = stack.pop()
            owned.append(current)
            stack.extend(reversed(self._children.get(current.address, [])))
        return owned


def unit_folders(directory: Directory) -> dict[str, str]:
    return {u.address: u.folder for u in directory.units}


def folders_taken_over(before: Directory | dict[str, str], after: Directory | dict[str, str],
                       owners: dict[str, str] | None = None) -> list[str]:
    """Each unit of `after` whose folder held another address's letters: a unit whose
    address was changed, a new unit given a folder its old unit left, two units that
    swapped folders. A receive book is the address's (storage/register.py), so the
    newcomer began at 1 again in that folder, beside the other book's letters with the
    same numbers (session 37's red team; session 38's for a folder left by a unit that
    stayed). Said so that the change is refused. Each side a Directory or {address:
    folder}; `owners`: {folder: address} of every folder used before, beyond `before`'s."""
    old = before if isinstance(before, dict) else unit_folders(before)
    now = after if isinstance(after, dict) else unit_folders(after)
    held = {**(owners or {}), **{folder: address for address, folder in old.items()}}
    problems = []
    for address, folder in now.items():
        owner = held.get(folder)
        if owner is None or owner == address:
            continue
        if owner not in now:
            problems.append(
                f"unit {owner} is gone and its folder {folder!r} is now {address}'s: a receive book "
                f"belongs to an address, so {address} would number from 1 again beside {owner}'s "
                f"letters in that folder; keep the address {owner} (change its names instead), or give "
                f"{address} a folder of its own")
        else:
            problems.append(
                f"the folder {folder!r} holds {owner}'s letters and is now {address}'s: a receive book "
                f"belongs to an address, so {address} would number from 1 again beside {owner}'s "
                f"letters in that folder; give {address} a folder of its own")
    return problems


def load_directory(path: Path, domain: str = DEFAULT_DOMAIN) -> Directory:
    """Read and validate a units TOML file; every problem found is in the DirectoryError."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise DirectoryError([f"{path}: unit directory file not found"]) from None
    except OSError as exc:
        raise DirectoryError([f"{path}: cannot read unit directory: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise DirectoryError([f"{path}: not UTF-8 text (byte {exc.start})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise DirectoryError([f"{path}: not valid TOML: {exc}"]) from None
    directory = build_directory(data, domain=domain, source=str(path))
    log.info("directory_loaded", path=str(path), units=len(directory), domain=directory.domain)
    return directory


def build_directory(data: dict[str, Any], domain: str = DEFAULT_DOMAIN, source: str = "<units>") -> Directory:
    """Validate parsed TOML data (`{"unit": [...]}`) into a Directory."""
    problems: list[str] = []
    unknown_top = sorted(set(data) - {"unit"})
    if unknown_top:
        problems.append(f"{source}: unknown top-level key(s) {', '.join(unknown_top)}; "
                        "expected only [[unit]] tables")
    raw_units = data.get("unit", [])
    if not isinstance(raw_units, list) or not all(isinstance(u, dict) for u in raw_units):
        raise DirectoryError(problems + [f"{source}: 'unit' must be an array of tables ([[unit]])"])
    if not raw_units:
        raise DirectoryError(problems + [f"{source}: no [[unit]] tables: the directory is empty"])

    units: list[tuple[int, Unit]] = []
    for index, raw in enumerate(raw_units, start=1):
        unit = _parse_unit(raw, index, source, problems)
        if unit is not None:
            units.append((index, unit))

    _check_relations(units, source, problems)
    if problems:
        raise DirectoryError(problems)
    return Directory((u for _, u in units), domain=domain, source=source)


def _where(source: str, index: int, address: str | None) -> str:
    return f"{source}: unit #{index} ({address or 'no address'})"


def _parse_unit(raw: dict[str, Any], index: int, source: str, problems: list[str]) -> Unit | None:
    address = raw.get("address")
    where = _where(source, index, address if isinstance(address, str) else None)

    unknown = sorted(set(raw) - set(_REQUIRED_KEYS) - set(_OPTIONAL_KEYS))
    if unknown:
        problems.append(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: "
                        f"{', '.join(_REQUIRED_KEYS + _OPTIONAL_KEYS)}")
    for key in _REQUIRED_KEYS:
        if key not in raw:
            problems.append(f"{where}: missing key '{key}'")
    values: dict[str, str] = {}
    for key in ("address", "name_th", "name_en", "parent", "folder"):
        value = raw.get(key, "")
        if not isinstance(value, str):
            problems.append(f"{where}: '{key}' must be a string, not {type(value).__name__}")
            value = ""
        values[key] = value.strip()
    settings = raw.get("settings", {})
    if not isinstance(settings, dict):
        problems.append(f"{where}: 'settings' must be a table ([unit.settings])")
        settings = {}

    if "address" in raw and isinstance(address, str):
        problems.extend(f"{where}: address {msg}" for msg in _local_part_problems(values["address"]))
    if values["parent"]:
        problems.extend(f"{where}: parent {msg}" for msg in _local_part_problems(values["parent"]))
    if "name_th" in raw and not values["name_th"]:
        problems.append(f"{where}: 'name_th' is empty")
    if "folder" in raw and not _FOLDER_RE.fullmatch(values["folder"]):
        problems.append(f"{where}: folder {values['folder']!r} is not a safe folder name "
                        "(lowercase a-z, 0-9, '_' and '-', starting with a letter or digit, "
                        f"at most 64 characters; e.g. {default_folder(values['address'])!r})")
    if "secret_folder" in settings and (why := _secret_folder_problem(settings["secret_folder"])):
        # Read only when a classified letter comes: a NUL, a '/', 300 characters made its
        # sealed copy fail at every attempt, never filed (session 52).
        problems.append(f"{where}: settings.secret_folder {settings['secret_folder']!r} is not a safe folder "
                        f"name: it {why} (e.g. {values['folder'] + '.secret'!r})")
    # A unit with problems still takes part in the duplicate and parent checks, so
    # that one pass reports every error of the file (the directory is refused anyway).
    return Unit(settings=dict(settings), **values)


def _local_part_problems(local: str) -> list[str]:
    if "@" in local:
        return [f"{local!r} must be the local part only, without '@domain' "
                "(the domain is configured separately)"]
    found = []
    if local != local.lower():
        found.append(f"{local!r} must be lowercase ({local.lower()!r})")
    if not _LOCAL_PART_RE.fullmatch(local.lower()):
        found.append(f"{local!r} has bad characters: only a-z, 0-9, '&', '-' and "
                     "single '.' between names are allowed")
    if len(local) > MAX_LOCAL_PART:
        found.append(f"{local!r} is {len(local)} characters long, over the limit of "
                     f"{MAX_LOCAL_PART} (seed 000 ข้อ ๓.๑)")
    return found


def _check_relations(units: list[tuple[int, Unit]], source: str, problems: list[str]) -> None:
    """Duplicates, unknown parents and parent cycles, across the whole file."""
    first_address: dict[str, int] = {}
    first_folder: dict[str, tuple[int, str]] = {}
    for index, unit in units:
        where = _where(source, index, unit.address)
        if unit.address in first_address:
            problems.append(f"{where}: duplicate address, already used by unit "
                            f"#{first_address[unit.address]}")
        else:
            first_address[unit.address] = index
        own = (unit.settings or {}).get("secret_folder")
        if isinstance(own, str) and own.lower() in {u.folder.lower() for _, u in units}:
            # The registrar's sealed copies and alerts (sender, receive number) would land
            # in the clerks' folder of a unit (session 52).
            problems.append(f"{where}: settings.secret_folder {own!r} is a unit's folder: the secret "
                            "registrar's copies would be filed among that unit's ordinary letters")
        folder = unit.folder.lower()
        if folder in first_folder:
            other_index, other_address = first_folder[folder]
            problems.append(f"{where}: duplicate folder {unit.folder!r}, already used by unit "
                            f"#{other_index} ({other_address})")
        else:
            first_folder[folder] = (index, unit.address)

    parents = {unit.address: unit.parent for _, unit in units}
    for index, unit in units:
        where = _where(source, index, unit.address)
        if unit.parent and unit.parent not in parents:
            problems.append(f"{where}: unknown parent {unit.parent!r} (no unit has that address)")
    reported: set[str] = set()
    for index, unit in units:
        seen = [unit.address]
        current = parents.get(unit.address, "")
        while current and current in parents:
            if current in seen:
                # Reported once, at the cycle's first member in file order.
                if current == unit.address and not reported & set(seen):
                    problems.append(f"{_where(source, index, unit.address)}: parent cycle "
                                    f"{' → '.join(seen + [current])}")
                    reported.update(seen)
                break
            seen.append(current)
            current = parents[current]
