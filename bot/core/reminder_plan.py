"""Who gets which reminder or overdue notice now: one decision per unit and campaign from the unit's
progress in that campaign, the campaign's slots, its reminder ledger and the moment; then, per unit, the
campaigns whose slots fall due together, which go out as ONE mail. Pure; bot/office/reminders.py reads the
ledger and queues the mails. The timing rule (one catch-up, earlier missed slots skipped) is
bot/core/timetable.py's."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.core.settings import CampaignConfig
from bot.core.timetable import Moment, due, pending

# Why a unit gets nothing now.
COMPLETE = "complete"
NOT_REQUIRED = "not_required"
EXEMPT = "exempt"
NO_ADDRESS = "no_address"
ALREADY = "already"
NOT_DUE = "not_due"
DUE = "due"


@dataclass(frozen=True)
class UnitProgress:
    name: str
    emails: tuple[str, ...]
    required: bool
    exempt: bool
    counts: dict[str, int]
    missing: tuple[str, ...]


@dataclass(frozen=True)
class UnitPlan:
    """What a run at `now` does for one unit."""

    unit: UnitProgress
    reason: str  # due | complete | not_required | exempt | no_address | already | not_due
    send: Moment | None = None  # the slot to send now (for no_address: recorded as such, once)
    skip: tuple[Moment, ...] = ()  # missed slots to record as skipped
    current: Moment | None = None  # the open slot already done (already), or the next one (not_due)


def plan(units: Iterable[UnitProgress], reminders: tuple[Moment, ...], overdue: Moment | None,
         ledger: Mapping[str, set[str]], now: datetime) -> list[UnitPlan]:
    """One decision per unit. `ledger` maps a unit to the slot keys already sent or skipped for it."""
    everything = (*reminders, *((overdue,) if overdue else ()))
    plans = []
    for unit in units:
        if not unit.required:
            plans.append(UnitPlan(unit, EXEMPT if unit.exempt else NOT_REQUIRED))
            continue
        if not unit.missing:
            plans.append(UnitPlan(unit, COMPLETE))
            continue
        done = ledger.get(unit.name, set())
        reminder = due(reminders, now, done)
        notice = due((overdue,) if overdue else (), now, done)
        send = reminder.send or notice.send
        skip = (*reminder.skip, *notice.skip)
        if not unit.emails:
            plans.append(UnitPlan(unit, NO_ADDRESS, send, skip))
        elif send is not None:
            plans.append(UnitPlan(unit, DUE, send, skip))
        else:
            open_now = next((m for m in everything if m.open_at(now)), None)
            if open_now is not None:
                plans.append(UnitPlan(unit, ALREADY, None, skip, open_now))
            else:
                plans.append(UnitPlan(unit, NOT_DUE, None, skip, pending(everything, now)))
    return plans


@dataclass(frozen=True)
class CampaignPlan:
    """One campaign's slots and its decision for every unit of the roster (roster order)."""

    campaign: CampaignConfig
    reminders: tuple[Moment, ...]
    overdue: Moment | None
    units: list[UnitPlan]

    @property
    def moments(self) -> tuple[Moment, ...]:
        return (*self.reminders, *((self.overdue,) if self.overdue else ()))


@dataclass(frozen=True)
class Part:
    """One campaign's share of what a run does for a unit: its slot due now and its missed slots."""

    campaign: CampaignConfig
    plan: UnitPlan


@dataclass(frozen=True)
class UnitRun:
    """Everything a run at `now` writes for one unit, across campaigns: the ledger rows of each part, and
    ONE mail per address naming every campaign whose slot is due (`sends`)."""

    unit: str
    emails: tuple[str, ...]
    parts: tuple[Part, ...]  # campaigns (in config order) with a slot to send or to record as skipped

    @property
    def sends(self) -> tuple[Part, ...]:
        return tuple(p for p in self.parts if p.plan.send is not None)


def unit_runs(plans: Sequence[CampaignPlan]) -> list[UnitRun]:
    """Per unit (in roster order), the campaigns with something to write for it now."""
    parts: dict[str, list[Part]] = {}  # every unit first, in roster order
    emails: dict[str, tuple[str, ...]] = {}
    for campaign_plan in plans:
        for unit_plan in campaign_plan.units:
            parts.setdefault(unit_plan.unit.name, [])
            emails.setdefault(unit_plan.unit.name, unit_plan.unit.emails)
    for campaign_plan in plans:
        for unit_plan in campaign_plan.units:
            if unit_plan.send is not None or unit_plan.skip:
                parts[unit_plan.unit.name].append(Part(campaign_plan.campaign, unit_plan))
    return [UnitRun(name, emails[name], tuple(found)) for name, found in parts.items() if found]
