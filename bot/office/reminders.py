"""Reminders and the overdue notice: who is due which slot now, and queueing them with their ledger rows.

`plan` is pure (units, slots, ledger, now in; one decision per unit out). `queue_reminders` is the
shell: it reads unit state and the ledger, and writes, per unit, the ledger row of the slot and the
outbox rows of its mails in ONE transaction; the ledger's unique (campaign, unit, slot) makes each
slot go to a unit at most once, across restarts, kills, missed runs and a concurrent `intake remind`.
The timing rule (one catch-up, earlier missed slots skipped) is bot/core/timetable.py's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.bootstrap import App
from bot.core.render.notice import Notice, render_notice
from bot.core.timetable import Moment, due, overdue_moment, pending, reminder_moments
from bot.office.status import unit_report
from storage import tables as t
from storage.db import session

log = logging.getLogger(__name__)

# Why a unit gets nothing now.
COMPLETE = "complete"
NOT_REQUIRED = "not_required"
EXEMPT = "exempt"
NO_ADDRESS = "no_address"
ALREADY = "already"
NOT_DUE = "not_due"
DUE = "due"


@dataclass(frozen=True)
class UnitFacts:
    name: str
    emails: tuple[str, ...]
    required: bool
    exempt: bool
    counts: dict[str, int]
    missing: tuple[str, ...]


@dataclass(frozen=True)
class UnitPlan:
    """What a run at `now` does for one unit."""

    unit: UnitFacts
    reason: str  # due | complete | not_required | exempt | no_address | already | not_due
    send: Moment | None = None  # the slot to send now (for no_address: recorded as such, once)
    skip: tuple[Moment, ...] = ()  # missed slots to record as skipped
    current: Moment | None = None  # the open slot already done (already), or the next one (not_due)


@dataclass
class RemindReport:
    plans: list[UnitPlan] = field(default_factory=list)
    queued_units: list[str] = field(default_factory=list)
    mails: int = 0  # outbox rows written
    skipped: int = 0  # ledger rows written as skipped
    lost_race: int = 0  # another run wrote the same slot first

    @property
    def no_address(self) -> list[str]:
        return [p.unit.name for p in self.plans if p.reason == NO_ADDRESS]


def slots(app: App) -> tuple[tuple[Moment, ...], Moment | None]:
    schedule, campaign = app.config.schedule, app.config.campaign
    return reminder_moments(schedule, campaign), overdue_moment(schedule, campaign)


def plan(units: Iterable[UnitFacts], reminders: tuple[Moment, ...], overdue: Moment | None,
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


def unit_facts(app: App) -> list[UnitFacts]:
    report = unit_report(app.engine, app.roster, app.config.campaign)
    state = {u["name"]: u for u in report["units"]}
    return [
        UnitFacts(unit.name, unit.emails, unit.required, unit.exempt, dict(state[unit.name]["counts"]),
                  tuple(state[unit.name]["missing"]))
        for unit in app.roster.units
    ]


def load_ledger(s: Session, campaign: str) -> dict[str, set[str]]:
    ledger: dict[str, set[str]] = {}
    for unit, slot in s.exec(select(t.ReminderRow.unit, t.ReminderRow.slot)
                             .where(t.ReminderRow.campaign == campaign)).all():
        ledger.setdefault(unit, set()).add(slot)
    return ledger


def plan_now(app: App, now: datetime) -> list[UnitPlan]:
    reminders, overdue = slots(app)
    with session(app.engine) as s:
        ledger = load_ledger(s, app.config.campaign.slug)
    return plan(unit_facts(app), reminders, overdue, ledger, now)


def queue_reminders(app: App, now: datetime) -> RemindReport:
    """Queue every reminder and overdue notice due at `now`; record missed slots as skipped."""
    report = RemindReport(plans=plan_now(app, now))
    for unit_plan in report.plans:
        if not (unit_plan.send or unit_plan.skip):
            continue
        try:
            mails = _write(app, unit_plan, now)
        except IntegrityError:
            report.lost_race += 1
            log.info("%s: slot already recorded by another run", unit_plan.unit.name)
            continue
        report.skipped += len(unit_plan.skip)
        if unit_plan.reason == NO_ADDRESS and unit_plan.send is not None:
            log.warning("%s: %s %s is due but the roster has no address for it (missing: %s)", unit_plan.unit.name,
                        unit_plan.send.kind, unit_plan.send.key, ", ".join(unit_plan.unit.missing))
        if mails:
            report.mails += mails
            report.queued_units.append(unit_plan.unit.name)
    return report


def _write(app: App, unit_plan: UnitPlan, now: datetime) -> int:
    """The unit's skipped slots, and the due slot's ledger row with its outbox rows: one transaction."""
    campaign = app.config.campaign
    unit = unit_plan.unit
    stamp = now.astimezone(UTC)
    with session(app.engine) as s:
        for missed in unit_plan.skip:
            s.add(t.ReminderRow(campaign=campaign.slug, unit=unit.name, kind=missed.kind, slot=missed.key,
                                state=t.REMINDER_SKIPPED, moment=missed.at.astimezone(UTC),
                                missing=",".join(unit.missing), at=stamp))
        slot = unit_plan.send
        if slot is None:
            s.commit()
            return 0
        state = t.REMINDER_SENT if unit.emails else t.REMINDER_NO_ADDRESS
        row = t.ReminderRow(campaign=campaign.slug, unit=unit.name, kind=slot.kind, slot=slot.key, state=state,
                            moment=slot.at.astimezone(UTC), missing=",".join(unit.missing), at=stamp)
        s.add(row)
        s.flush()  # the unique slot is taken here, or IntegrityError: another run has it
        if not unit.emails:
            s.commit()
            return 0
        notice = Notice(slot.kind, unit.name, unit.emails, unit.counts, unit.missing, now)
        recipients = [(address, False) for address in unit.emails]
        if app.config.schedule.copy_staff:
            recipients += [(address, True) for address in app.config.digest_to]
        domain = app.identity.address.rpartition("@")[2] or "localhost"
        outbox = []
        for n, (address, staff_copy) in enumerate(recipients, start=1):
            message_id = f"<intake.{campaign.slug}.{slot.kind}.{row.id}.{n}@{domain}>"
            mail = render_notice(app.templates, notice, address, campaign, app.identity, message_id, now, staff_copy)
            entry = t.OutboxRow(kind=slot.kind, to_addr=address, subject=mail.subject, header_message_id=message_id,
                                raw=mail.raw, state=t.PENDING, next_attempt_at=stamp, created_at=stamp)
            s.add(entry)
            outbox.append(entry)
        s.flush()
        row.outbox_ids = ",".join(str(entry.id) for entry in outbox)
        s.add(row)
        s.commit()
    log.info("%s: %s %s queued to %s", unit.name, slot.kind, slot.key, ", ".join(a for a, _ in recipients))
    return len(outbox)
