"""The console's campaign overview from a campaign's unit report (bot/office/status.unit_report): the unit ×
category grid in the order staff work through it, and the days left. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

NOTHING, INCOMPLETE, COMPLETE, EXEMPT, NOT_REQUIRED = "nothing", "incomplete", "complete", "exempt", "not_required"
_ORDER = {NOTHING: 0, INCOMPLETE: 1, COMPLETE: 2, EXEMPT: 3, NOT_REQUIRED: 4}


@dataclass(frozen=True)
class Cell:
    category: str
    count: int
    state: str  # "missing", "done", "extra" (sent, not asked) or "" (not asked, nothing sent)


@dataclass(frozen=True)
class GridRow:
    name: str
    group: str
    state: str  # NOTHING, INCOMPLETE, COMPLETE, EXEMPT or NOT_REQUIRED
    late: bool
    problems: int
    last_received_at: str | None
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Overview:
    rows: tuple[GridRow, ...]
    groups: tuple[str, ...]  # every group of the roster, for the filter
    categories: tuple[str, ...]  # the grid's columns: the campaign's required categories, then the others sent
    required: int
    complete: int
    nothing: int


def unit_state(unit: dict[str, Any]) -> str:
    if unit["exempt"]:
        return EXEMPT
    if not unit["required"]:
        return NOT_REQUIRED
    if unit["complete"]:
        return COMPLETE
    return NOTHING if not any(unit["counts"].values()) else INCOMPLETE


def overview(report: dict[str, Any], group: str | None = None) -> Overview:
    """The grid of `report` (one campaign's unit report), units that sent nothing first, then the incomplete,
    the complete, the exempt and those not asked; by name within each; only `group`'s units when given."""
    required = tuple(report["campaign"]["required"])
    units = report["units"]
    sent_others = sorted({c for u in units for c, n in u["counts"].items() if n and c not in required})
    categories = required + tuple(sent_others)
    rows = []
    for unit in units:
        if group and unit["group"] != group:
            continue
        state = unit_state(unit)
        cells = tuple(Cell(c, unit["counts"].get(c, 0),
                           "missing" if c in unit["missing"] and state in (NOTHING, INCOMPLETE)
                           else "done" if c in required and unit["counts"].get(c, 0)
                           else "extra" if unit["counts"].get(c, 0) else "") for c in categories)
        rows.append(GridRow(unit["name"], unit["group"] or "", state, unit["late"], len(unit["problems"]),
                            unit["last_received_at"], cells))
    rows.sort(key=lambda r: (_ORDER[r.state], r.name))
    counted = [u for u in units if u["required"]]
    return Overview(tuple(rows), tuple(sorted({u["group"] for u in units if u["group"]})), categories,
                    len(counted), sum(1 for u in counted if u["complete"]),
                    sum(1 for u in counted if unit_state(u) == NOTHING))


def days_left(deadline: datetime, today: date) -> int:
    """Whole days from today to the deadline's date, in the campaign's time zone (negative when past)."""
    return (deadline.date() - today).days
