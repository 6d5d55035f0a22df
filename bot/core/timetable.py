"""When reminders, the overdue notice and the staff digest fall due. Pure: config and a clock value in.

Every slot has a moment and a window [starts, ends). A run at `now` sends a slot only inside its window,
and only if it was not done before; this gives the catch-up rule:

- A worker that was down at a slot's moment catches up ONCE, at its next run, while the window is open.
- When several slots were missed, only the latest one whose window is open is sent; the earlier ones are
  recorded as skipped and are never sent later (a run sends at most one slot of a kind).
- A reminder's window closes at the next reminder's moment or at the deadline, whichever comes first;
  a slot at or after the deadline is never sent. When two reminders land on the same moment (both
  moved off a weekend), only the one closer to the deadline is sent.
- The overdue notice's window opens at its moment (never before the deadline) and closes when the
  campaign closes (deadline + late_days, or earlier when staff closed it: a closed campaign reminds no one).
- Each campaign has its own slots: its `reminders` (else [schedule].reminders), relative to its own
  deadline, and the overdue notice after its own deadline; the ledger keys them by campaign.
- The digest has one slot per local day, at digest_time, from the campaign's opening to its close;
  each day's window closes at the next day's digest time. With several campaigns it is one digest for the
  office: a slot on every day on which any campaign is open (`office_digest_moments`).

With `working_days_only`, a reminder falling on a weekend or a Chinese public holiday moves to the
previous working day (so it still arrives before the deadline); the overdue notice moves to the next
working day (so it still comes after it). An adjusted working Saturday (调休上班) is a working day.
Outside the years chinese_calendar knows, Monday to Friday are the working days (logged once per year).
The digest is sent every day. Times are wall-clock times in the campaign's zone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

from bot.core.settings import CampaignConfig, ScheduleConfig, Slot

log = logging.getLogger(__name__)

REMINDER = "reminder"
OVERDUE = "overdue"
DIGEST = "digest"

WEEKEND = "weekend"  # why a slot moved, when it is no public holiday

_warned_years: set[int] = set()


@dataclass(frozen=True)
class Moment:
    """One slot of one campaign: when it is sent and how long a late run may still send it."""

    kind: str  # reminder | overdue | digest
    key: str  # the ledger key: the slot as written ("-3d 09:00"), or the local date of a digest
    nominal: date  # the day the slot names
    at: datetime  # its moment (aware, campaign zone), after any move to a working day
    starts: datetime  # window: a run at starts <= now < ends sends it
    ends: datetime
    moved_from: date | None = None  # the nominal day, when the slot was moved off it
    moved_because: str | None = None  # "weekend" or the holiday's name (chinese_calendar's English name)
    text: str = ""  # the slot as written in the config, when the key is not

    @property
    def shown(self) -> str:
        return self.text or self.key

    def open_at(self, now: datetime) -> bool:
        return self.starts <= now < self.ends


@dataclass(frozen=True)
class Due:
    """What a run at `now` does with one kind of slot for one recipient."""

    send: Moment | None  # at most one
    skip: tuple[Moment, ...] = ()  # missed and never to be sent: record them as skipped


def why_not_working(day: date) -> str | None:
    """None on a working day; else "weekend" or the public holiday's name."""
    try:
        holiday, name = chinese_calendar.get_holiday_detail(day)
        working = chinese_calendar.is_workday(day)
    except NotImplementedError:
        if day.year not in _warned_years:
            _warned_years.add(day.year)
            log.warning("no Chinese holiday data for %s: counting Monday to Friday as working days", day.year)
        return WEEKEND if day.weekday() >= 5 else None
    if working:
        return None
    return name if holiday and name else WEEKEND


def move_to_working_day(day: date, step: int) -> tuple[date, str | None]:
    """The nearest working day from `day` in direction `step` (-1 back, +1 on) and why it moved."""
    why = why_not_working(day)
    moved = day
    for _ in range(60):  # no stretch of days off is this long; a guard, not a rule
        if why_not_working(moved) is None:
            break
        moved += timedelta(days=step)
    return moved, why


def local(day: date, at: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=tz)


Placed = tuple[date, datetime, date | None, str | None]  # nominal day, moment, moved from, why


def _placed(slot: Slot, base: date, working_days_only: bool, step: int, tz: ZoneInfo) -> Placed:
    nominal = slot.on(base)
    day, why = move_to_working_day(nominal, step) if working_days_only else (nominal, None)
    moved = day != nominal
    return nominal, local(day, slot.at, tz), nominal if moved else None, why if moved else None


def reminder_slots(schedule: ScheduleConfig, campaign: CampaignConfig) -> tuple[Slot, ...]:
    """The campaign's own reminder slots, or [schedule].reminders when it names none."""
    return campaign.reminders if campaign.reminders is not None else schedule.reminders


def reminder_moments(schedule: ScheduleConfig, campaign: CampaignConfig) -> tuple[Moment, ...]:
    """The campaign's reminder slots (its own, else [schedule].reminders; relative to its deadline) in time
    order, each with its window (see the module's rule). A campaign closed early sends none after closing."""
    tz = campaign.timezone
    base = campaign.deadline.astimezone(tz).date()
    placed = []
    for slot in reminder_slots(schedule, campaign):
        nominal, at, moved_from, why = _placed(slot, base, schedule.working_days_only, -1, tz)
        placed.append((at, slot.days, slot.text, nominal, moved_from, why))
    placed.sort(key=lambda p: (p[0], p[1]))
    moments = []
    for index, (at, _days, text, nominal, moved_from, why) in enumerate(placed):
        following = placed[index + 1][0] if index + 1 < len(placed) else campaign.deadline
        ends = min(following, campaign.deadline, campaign.closes)
        starts = max(at, campaign.opens)
        moments.append(Moment(REMINDER, text, nominal, at, starts, max(ends, starts), moved_from, why))
    return tuple(moments)


def overdue_moment(schedule: ScheduleConfig, campaign: CampaignConfig) -> Moment | None:
    slot = schedule.overdue_notice
    if slot is None:
        return None
    tz = campaign.timezone
    nominal, at, moved_from, why = _placed(slot, campaign.deadline.astimezone(tz).date(),
                                           schedule.working_days_only, +1, tz)
    starts = max(at, campaign.deadline)
    return Moment(OVERDUE, OVERDUE, nominal, at, starts, max(campaign.closes, starts), moved_from, why, slot.text)


def digest_moments(schedule: ScheduleConfig, campaign: CampaignConfig) -> tuple[Moment, ...]:
    """One slot a day at digest_time, from the opening to the close of the campaign."""
    return office_digest_moments(schedule, (campaign,), campaign.timezone)


def office_digest_moments(schedule: ScheduleConfig, campaigns: Iterable[CampaignConfig],
                          tz: ZoneInfo | None = None) -> tuple[Moment, ...]:
    """The office's one digest a day: a slot at digest_time (wall-clock time in `tz`, by default the first
    campaign's zone) on every local day on which that moment falls while any of the campaigns is open."""
    listed = tuple(campaigns)
    if schedule.digest_time is None or not listed:
        return ()
    zone = tz or listed[0].timezone
    days: set[date] = set()
    for campaign in listed:
        day, last = campaign.opens.astimezone(zone).date(), campaign.closes.astimezone(zone).date()
        while day <= last:
            if campaign.opens <= local(day, schedule.digest_time, zone) <= campaign.closes:
                days.add(day)
            day += timedelta(days=1)
    moments = []
    for day in sorted(days):
        at = local(day, schedule.digest_time, zone)
        moments.append(Moment(DIGEST, day.isoformat(), day, at, at, local(day + timedelta(days=1),
                                                                          schedule.digest_time, zone)))
    return tuple(moments)


def due(moments: Iterable[Moment], now: datetime, done: Iterable[str]) -> Due:
    """Of `moments` (time order), the one to send at `now` and the missed ones to record as skipped.

    `done` holds the keys already sent or skipped for this recipient."""
    finished = set(done)
    started = [m for m in moments if m.key not in finished and m.starts <= now]
    if not started:
        return Due(None)
    latest = started[-1]
    if latest.open_at(now):
        return Due(latest, tuple(started[:-1]))
    return Due(None, tuple(started))


def pending(moments: Iterable[Moment], now: datetime) -> Moment | None:
    """The next slot whose window has not closed yet (for the dry run's "next" line)."""
    return next((m for m in moments if now < m.ends and m.starts < m.ends), None)
