"""What a new roster file would change: units added, removed and changed, field by field. Pure; staff see it
before the new roster is applied."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.model import Unit
from bot.core.roster import Roster

COMPARED = ("aliases", "emails", "group", "required")


@dataclass(frozen=True)
class Change:
    field: str  # one of COMPARED
    before: str
    after: str


@dataclass(frozen=True)
class UnitChanges:
    name: str
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class RosterDiff:
    added: tuple[Unit, ...]
    removed: tuple[Unit, ...]
    changed: tuple[UnitChanges, ...]
    unchanged: int

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def _shown(unit: Unit, field: str) -> str:
    value = getattr(unit, field)
    if isinstance(value, tuple):
        return "、".join(value)
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)


def roster_diff(old: Roster, new: Roster) -> RosterDiff:
    """Units matched by name; the new file's order for added and changed units, the old one's for removed."""
    before = {u.name: u for u in old.units}
    after = {u.name: u for u in new.units}
    changed = []
    for unit in new.units:
        if unit.name not in before:
            continue
        changes = tuple(Change(f, _shown(before[unit.name], f), _shown(unit, f)) for f in COMPARED
                        if _shown(before[unit.name], f) != _shown(unit, f))
        if changes:
            changed.append(UnitChanges(unit.name, changes))
    return RosterDiff(tuple(u for u in new.units if u.name not in before),
                      tuple(u for u in old.units if u.name not in after), tuple(changed),
                      sum(1 for u in new.units if u.name in before) - len(changed))
