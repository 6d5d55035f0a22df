"""Reminders and the overdue notice of every campaign: queueing what is due now with its ledger rows.

Who is due which slot of which campaign is decided by the pure bot/core/reminder_plan.py, campaign by
campaign (each has its own slots, relative to its own deadline, and asks its own units). Here
`Reminders.queue` reads the units' progress in each campaign and the ledger, and writes, per unit, in ONE
transaction: the ledger row of every campaign's slot due now (and of the slots it missed), and the outbox
rows of ONE mail per address naming every campaign due (each ledger row points at those outbox rows). The
ledger's unique (campaign, unit, slot) makes each slot of each campaign go to a unit at most once, across
restarts, kills, missed runs and a concurrent `intake remind`: a run that loses the race writes nothing for
that unit, and the next run sends what is still due.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.core.reminder_plan import DUE, NO_ADDRESS, CampaignPlan, UnitPlan, UnitProgress, UnitRun, plan, unit_runs
from bot.core.render.notice import Notice, NoticeMail, render_notice
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
    plans: list[CampaignPlan] = field(default_factory=list)
    queued_units: list[str] = field(default_factory=list)
    mails: int = 0  # outbox rows written
    skipped: int = 0  # ledger rows written as skipped
    lost_race: int = 0  # units whose slot another run wrote first

    @property
    def no_address(self) -> list[str]:
        """The units with something due (in any campaign) and no address in the roster."""
        names = [p.unit.name for c in self.plans for p in c.units if p.reason == NO_ADDRESS]
        return list(dict.fromkeys(names))


@dataclass(frozen=True)
class Reminders:
    """What reminders read and who writes them: the database, the campaigns in force and the schedule, the
    roster, the templates, the bot's identity and the staff who get a copy (schedule.copy_staff)."""

    engine: Engine
    campaigns: tuple[CampaignConfig, ...]
    schedule: ScheduleConfig
    roster: Roster
    templates: Texts
    identity: Identity
    staff: tuple[str, ...]

    def slots(self, campaign: CampaignConfig) -> tuple[tuple[Moment, ...], Moment | None]:
        """The campaign's reminder slots and its overdue notice."""
        return reminder_moments(self.schedule, campaign), overdue_moment(self.schedule, campaign)

    def progress(self, campaign: CampaignConfig) -> list[UnitProgress]:
        """Every unit's state in the campaign; a unit it does not ask is not required."""
        report = unit_report(self.engine, self.roster, campaign)
        state = {u["name"]: u for u in report["units"]}
        return [
            UnitProgress(unit.name, unit.emails, bool(state[unit.name]["required"]), unit.exempt,
                         dict(state[unit.name]["counts"]), tuple(state[unit.name]["missing"]))
            for unit in self.roster.units
        ]

    def plan_for(self, campaign: CampaignConfig, now: datetime) -> CampaignPlan:
        reminders, overdue = self.slots(campaign)
        with session(self.engine) as s:
            ledger = load_ledger(s, campaign.slug)
        return CampaignPlan(campaign, reminders, overdue, plan(self.progress(campaign), reminders, overdue, ledger,
                                                               now))

    def plan_now(self, now: datetime) -> list[CampaignPlan]:
        """Every campaign's plan at `now` (what the dry run shows)."""
        return [self.plan_for(campaign, now) for campaign in self.campaigns]

    def queue(self, now: datetime) -> RemindReport:
        """Queue every reminder and overdue notice due at `now`, one mail per unit and address whatever the
        number of campaigns; record missed slots as skipped. Campaigns not open yet or closed are passed
        over: none of their slots can be due."""
        live = [c for c in self.campaigns if c.opens <= now < c.closes]
        report = RemindReport(plans=[self.plan_for(c, now) for c in live])
        for run in unit_runs(report.plans):
            try:
                mails = self._write(run, now)
            except IntegrityError:
                report.lost_race += 1
                log.info("%s: slot already recorded by another run", run.unit)
                continue
            report.skipped += sum(len(p.plan.skip) for p in run.parts)
            for part in run.sends:
                if part.plan.reason == NO_ADDRESS and part.plan.send is not None:
                    log.warning("%s: %s %s is due but the roster has no address for it (missing: %s)%s",
                                run.unit, part.plan.send.kind, part.plan.send.key, ", ".join(part.plan.unit.missing),
                                f" [{part.campaign.slug}]" if len(self.campaigns) > 1 else "")
            if mails:
                report.mails += mails
                report.queued_units.append(run.unit)
        return report

    def send_now(self, campaign: CampaignConfig, now: datetime) -> RemindReport:
        """Staff remind now, outside the schedule: every unit the campaign still waits for (required, not
        exempt, something missing, an address) gets one reminder, under a slot named for this minute (a second
        click in the same minute sends nothing more). The scheduled slots are left as they are."""
        local = now.astimezone(campaign.timezone)
        slot = Moment("reminder", f"手动催报 {local:%Y-%m-%d %H:%M}", local.date(), local, local,
                      local + timedelta(minutes=1), text=f"{local:%m-%d %H:%M}")
        waiting = [UnitPlan(unit, DUE, slot) for unit in self.progress(campaign)
                   if unit.required and unit.missing and unit.emails]
        reminders, overdue = self.slots(campaign)
        report = RemindReport(plans=[CampaignPlan(campaign, reminders, overdue, waiting)])
        for run in unit_runs(report.plans):
            try:
                mails = self._write(run, now)
            except IntegrityError:
                report.lost_race += 1
                continue
            if mails:
                report.mails += mails
                report.queued_units.append(run.unit)
        return report

    def _write(self, run: UnitRun, now: datetime) -> int:
        """The unit's skipped slots, and every due slot's ledger row with the outbox rows of the one mail
        that names them all: one transaction."""
        stamp = now.astimezone(UTC)
        state = t.REMINDER_SENT if run.emails else t.REMINDER_NO_ADDRESS
        with session(self.engine) as s:
            rows: list[t.ReminderRow] = []
            for part in run.parts:
                slug, unit = part.campaign.slug, part.plan.unit
                for missed in part.plan.skip:
                    s.add(t.ReminderRow(campaign=slug, unit=run.unit, kind=missed.kind, slot=missed.key,
                                        state=t.REMINDER_SKIPPED, moment=missed.at.astimezone(UTC),
                                        missing=",".join(unit.missing), at=stamp))
                slot = part.plan.send
                if slot is not None:
                    row = t.ReminderRow(campaign=slug, unit=run.unit, kind=slot.kind, slot=slot.key, state=state,
                                        moment=slot.at.astimezone(UTC), missing=",".join(unit.missing), at=stamp)
                    s.add(row)
                    rows.append(row)
            s.flush()  # the unique slots are taken here, or IntegrityError: another run has one of them
            if not rows or not run.emails:
                s.commit()
                return 0
            mail = NoticeMail(run.unit, run.emails,
                              tuple(Notice(p.plan.send.kind, p.campaign, p.plan.unit.counts, p.plan.unit.missing)
                                    for p in run.sends if p.plan.send is not None), now)
            recipients = [(address, False) for address in run.emails]
            if self.schedule.copy_staff:
                recipients += [(address, True) for address in self.staff]
            outbox = []
            first = run.sends[0].campaign.slug
            for n, (address, staff_copy) in enumerate(recipients, start=1):
                # Unique per mail: the first ledger row's id is this mail's alone, n its address.
                message_id = outgoing_message_id(first, self.identity, mail.kind, rows[0].id, n)
                rendered = render_notice(self.templates, mail, address, self.identity, message_id, now, staff_copy)
                outbox.append(queue_outgoing(s, mail.kind, address, rendered.subject, message_id, rendered.raw,
                                             now))
            outbox_ids = ",".join(str(entry) for entry in outbox)
            for row in rows:
                row.outbox_ids = outbox_ids
                s.add(row)
            s.commit()
        slots = ", ".join(f"{p.campaign.slug} {p.plan.send.kind} {p.plan.send.key}" for p in run.sends
                          if p.plan.send is not None)
        log.info("%s: %s queued to %s", run.unit, slots, ", ".join(a for a, _ in recipients))
        return len(outbox)


def load_ledger(s: Session, campaign: str) -> dict[str, set[str]]:
    ledger: dict[str, set[str]] = {}
    for unit, slot in s.exec(select(t.ReminderRow.unit, t.ReminderRow.slot)
                             .where(t.ReminderRow.campaign == campaign)).all():
        ledger.setdefault(unit, set()).add(slot)
    return ledger

