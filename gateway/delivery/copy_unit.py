"""The unit a letter's copy is filed for: the directory's, or as it was when the letter
was registered.

The directory (units.toml) is read again at each reload; a copy is filed later, after
its letter is registered, sometimes much later (a share down, a mail server away). A
unit renamed (its address changed, its folder kept) or removed in between was no longer
found, and the copy went to a folder named after its old address, which no clerk reads,
while its outbox item said done (session 37's red team). Since session 37 the folder
and the registrar's copy item record the unit's folder, Thai name and secret folder
when the letter is registered, and a unit no longer in the directory is filed as it was
then. An item made before that records nothing: it waits, said in `outbox list` and
`status`, until the unit is back in the directory."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.service.services import Services
    from gateway.units.directory import Unit

PAYLOAD_KEY = "unit"


class UnitGone(Exception):
    """A copy owed to a unit that is no longer in the directory, with nothing recorded
    of where it was filed: retried (never done, never dead) until the unit is back."""


@dataclass(frozen=True)
class UnitAsRegistered:
    """What a `Unit` says that filing needs, as recorded with the outbox item."""

    address: str
    name_th: str
    folder: str
    settings: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


def recorded(unit: "Unit") -> dict[str, Any]:
    """The payload entry made with a folder or registrar copy item at registration."""
    kept: dict[str, Any] = {"folder": unit.folder, "name_th": unit.name_th}
    own = (unit.settings or {}).get("secret_folder")
    if own:
        kept["secret_folder"] = str(own)
    return kept


def unit_for_copy(services: "Services", address: str, payload: dict | None) -> "Unit | UnitAsRegistered":
    unit = services.directory.lookup(address)
    if unit is not None:
        return unit
    kept = (payload or {}).get(PAYLOAD_KEY) or {}
    if isinstance(kept, dict) and isinstance(kept.get("folder"), str) and kept["folder"]:
        settings = {"secret_folder": kept["secret_folder"]} if kept.get("secret_folder") else {}
        return UnitAsRegistered(address, str(kept.get("name_th") or address), kept["folder"], settings)
    raise UnitGone(f"the unit {address} is no longer in the directory of units (units.toml), and this copy "
                   "was owed before its folder was recorded: put the unit back (with its folder) and reload; "
                   "the copy is filed then")
