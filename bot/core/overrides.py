"""Staff decisions applied to what the bot works with: the roster and one message's analysis. Pure.

Decisions are kept as (kind, key, value) rows; the latest per (kind, key) is in force and an empty
value withdraws it. Applying them here, rather than editing stored rows, means a reprocess after a
fix or a roster change keeps every decision a person made.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from bot.core.model import Category, ItemPlan, UnitMatch
from bot.core.roster import Roster
from bot.core.routing import STAFF, Route, by_slug
from bot.core.settings import CampaignConfig

if TYPE_CHECKING:
    from bot.core.pipeline import Analysis

EXEMPT = "exempt"  # key: unit name; value "1"
ADDRESS = "address"  # key: mail address; value: unit name
ASSIGN = "assign"  # key: message row id; value: unit name
CATEGORY = "category"  # key: item_key(); value: category
CAMPAIGN = "campaign"  # key: message row id; value: campaign slug
DONE = "done"  # key: a review entry's key (bot/core/review.py entry_key); value "1": staff dealt with it
KINDS = (EXEMPT, ADDRESS, ASSIGN, CATEGORY, CAMPAIGN, DONE)


def item_key(message_row_id: int, source: str, filename: str, sha256: str) -> str:
    """A file of a message, stable across reprocessing (row ids are not)."""
    return f"{message_row_id}:{sha256}:{source or filename}"


@dataclass(frozen=True)
class Overrides:
    exempt: frozenset[str] = frozenset()
    addresses: Mapping[str, str] = field(default_factory=dict)  # address -> unit
    units: Mapping[int, str] = field(default_factory=dict)  # message row id -> unit
    categories: Mapping[str, str] = field(default_factory=dict)  # item key -> category
    campaigns: Mapping[int, str] = field(default_factory=dict)  # message row id -> campaign slug
    done: frozenset[str] = frozenset()  # review entries staff marked done

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str, str]]) -> Overrides:
        """Rows (kind, key, value) oldest first."""
        latest: dict[tuple[str, str], str] = {}
        for kind, key, value in rows:
            latest[(kind, key)] = value
        by_kind: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
        for (kind, key), value in latest.items():
            if value and kind in by_kind:
                by_kind[kind][key] = value
        return cls(
            exempt=frozenset(by_kind[EXEMPT]),
            addresses=by_kind[ADDRESS],
            units={int(k): v for k, v in by_kind[ASSIGN].items() if k.isdigit()},
            categories=by_kind[CATEGORY],
            campaigns={int(k): v for k, v in by_kind[CAMPAIGN].items() if k.isdigit()},
            done=frozenset(by_kind[DONE]),
        )


def apply_to_roster(roster: Roster, overrides: Overrides) -> Roster:
    """Exempt units are no longer required; a taught address moves to its unit (whoever had it before)."""
    taught = {address.lower(): unit for address, unit in overrides.addresses.items()}
    units = []
    for unit in roster.units:
        emails = tuple(e for e in unit.emails if e not in taught)
        emails += tuple(a for a, name in taught.items() if name == unit.name and a not in emails)
        exempt = unit.name in overrides.exempt
        units.append(replace(unit, emails=emails, exempt=exempt, required=unit.required and not exempt))
    return Roster(tuple(units))


def apply_to_analysis(analysis: Analysis, message_row_id: int, overrides: Overrides,
                      campaigns: tuple[CampaignConfig, ...] = (), actor: str = "") -> Analysis:
    """A message staff assigned to a unit is that unit's (a person vouched for the sender); one they filed
    under a campaign is that campaign's; a file staff reclassified keeps its new category."""
    unit = overrides.units.get(message_row_id)
    if unit is not None:
        analysis = replace(analysis, match=UnitMatch(unit, "staff", actor, "staff"), relevant=True,
                           relevance="staff", auth_failure=None)
    campaign = by_slug(campaigns, overrides.campaigns.get(message_row_id))
    if campaign is not None:
        analysis = replace(analysis, route=Route(campaign, STAFF), relevant=True)
    items = tuple(_recategorised(item, message_row_id, overrides) for item in analysis.items)
    return replace(analysis, items=items)


def _recategorised(item: ItemPlan, message_row_id: int, overrides: Overrides) -> ItemPlan:
    value = overrides.categories.get(item_key(message_row_id, item.source, item.filename, item.sha256))
    if value is None:
        return item
    return replace(item, category=Category(value), reason="staff")
