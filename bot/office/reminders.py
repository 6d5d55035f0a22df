"""Reminders and the overdue notice: queueing what is due now with its ledger rows.

Who is due which slot is decided by the pure bot/core/reminder_plan.py. Here `Reminders.queue` reads the
units' progress and the ledger, and writes, per unit, the ledger row of the slot and the outbox rows of its
mails in ONE transaction; the ledger's unique (campaign, unit, slot) makes each slot go to a unit at most
once, across restarts, kills, missed runs and a concurrent `intake remind`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.core.reminder_plan import NO_ADDRESS, UnitPlan, UnitProgress, plan
from bot.core.render.notice import Notice, render_notice
from bot.core.render.outgoing import Identity, outgoing_message_id
from bot.core.render.texts import Texts
from bot.core.roster import Roster
from bot.core.settings import CampaignConfig, ScheduleConfig
from bot.core.timetable import Moment, overdue_moment, reminder_moments
from bot.office.outbox import queue_outgoing
from bot.office.status import unit_report
from storage import tables as t
from storage.db import session

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class Reminders:
    """What reminders read and who writes them: the database, the campaign and its schedule, the roster,
    the templates, the bot's identity and the staff who get a copy (schedule.copy_staff)."""

    engine: Engine
    campaign: CampaignConfig
    schedule: ScheduleConfig
    roster: Roster
    templates: Texts
    identity: Identity
    staff: tuple[str, ...]

    def slots(self) -> tuple[tuple[Moment, ...], Moment | None]:
        return reminder_moments(self.schedule, self.campaign), overdue_moment(self.schedule, self.campaign)

    def progress(self) -> list[UnitProgress]:
        report = unit_report(self.engine, self.roster, self.campaign)
        state = {u["name"]: u for u in report["units"]}
        return [
            UnitProgress(unit.name, unit.emails, unit.required, unit.exempt, dict(state[unit.name]["counts"]),
                         tuple(state[unit.name]["missing"]))
            for unit in self.roster.units
        ]

    def plan_now(self, now: datetime) -> list[UnitPlan]:
        reminders, overdue = self.slots()
        with session(self.engine) as s:
            ledger = load_ledger(s, self.campaign.slug)
        return plan(self.progress(), reminders, overdue, ledger, now)

    def queue(self, now: datetime) -> RemindReport:
        """Queue every reminder and overdue notice due at `now`; record missed slots as skipped."""
        report = RemindReport(plans=self.plan_now(now))
        for unit_plan in report.plans:
            if not (unit_plan.send or unit_plan.skip):
                continue
            try:
                mails = self._write(unit_plan, now)
            except IntegrityError:
                report.lost_race += 1
                log.info("%s: slot already recorded by another run", unit_plan.unit.name)
                continue
            report.skipped += len(unit_plan.skip)
            if unit_plan.reason == NO_ADDRESS and unit_plan.send is not None:
                log.warning("%s: %s %s is due but the roster has no address for it (missing: %s)",
                            unit_plan.unit.name, unit_plan.send.kind, unit_plan.send.key,
                            ", ".join(unit_plan.unit.missing))
            if mails:
                report.mails += mails
                report.queued_units.append(unit_plan.unit.name)
        return report

    def _write(self, unit_plan: UnitPlan, now: datetime) -> int:
        """The unit's skipped slots, and the due slot's ledger row with its outbox rows: one transaction."""
        campaign = self.campaign
        unit = unit_plan.unit
        stamp = now.astimezone(UTC)
        with session(self.engine) as s:
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
            if self.schedule.copy_staff:
                recipients += [(address, True) for address in self.staff]
            outbox = []
            for n, (address, staff_copy) in enumerate(recipients, start=1):
                message_id = outgoing_message_id(campaign.slug, self.identity, slot.kind, row.id, n)
                mail = render_notice(self.templates, notice, address, campaign, self.identity, message_id, now,
                                     staff_copy)
                outbox.append(queue_outgoing(s, slot.kind, address, mail.subject, message_id, mail.raw, now))
            row.outbox_ids = ",".join(str(entry) for entry in outbox)
            s.add(row)
            s.commit()
        log.info("%s: %s %s queued to %s", unit.name, slot.kind, slot.key, ", ".join(a for a, _ in recipients))
        return len(outbox)


def load_ledger(s: Session, campaign: str) -> dict[str, set[str]]:
    ledger: dict[str, set[str]] = {}
    for unit, slot in s.exec(select(t.ReminderRow.unit, t.ReminderRow.slot)
                             .where(t.ReminderRow.campaign == campaign)).all():
        ledger.setdefault(unit, set()).add(slot)
    return ledger
