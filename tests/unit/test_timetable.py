import logging
from dataclasses import replace
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.adapters.config_file import Config, parse_config
from bot.core import timetable
from bot.core.timetable import digest_moments, due, overdue_moment, reminder_moments, why_not_working

TZ = ZoneInfo("Asia/Shanghai")


def at(month: int, day: int, hour: int, minute: int = 0, year: int = 2020, tz: ZoneInfo = TZ) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=tz)


DEADLINE = at(10, 14, 18)
OPENS = at(9, 25, 8)


def config(reminders: list[str], overdue: str = "1d 10:00", deadline: datetime = DEADLINE,
           opens: datetime = OPENS, working_days_only: bool = True, tz: str = "Asia/Shanghai",
           digest_time: str | None = "08:30", late_days: int = 3) -> Config:
    schedule: dict = {"reminders": reminders, "overdue_notice": overdue, "working_days_only": working_days_only}
    if digest_time:
        schedule["digest_time"] = digest_time
    raw = {"campaign": {"name": "国庆活动", "slug": "nd-2020", "opens": opens, "deadline": deadline,
                        "timezone": tz, "late_days": late_days},
           "schedule": schedule}
    return parse_config(raw, Path("/cfg"), {})


def moments(cfg: Config) -> dict[str, timetable.Moment]:
    return {m.key: m for m in reminder_moments(cfg.schedule, cfg.campaigns[0])}


def test_the_calendar_knows_weekends_holidays_and_adjusted_working_days() -> None:
    assert why_not_working(date(2020, 10, 5)) == "National Day"  # Monday inside the National Day holiday
    assert why_not_working(date(2020, 10, 11)) == "weekend"  # an ordinary Sunday
    assert why_not_working(date(2020, 10, 10)) is None  # Saturday, adjusted working day (调休上班)
    assert why_not_working(date(2020, 9, 27)) is None  # Sunday, adjusted working day
    assert why_not_working(date(2020, 10, 13)) is None  # Tuesday


def test_a_reminder_on_a_public_holiday_moves_to_the_last_working_day_before_it() -> None:
    slot = moments(config(["-10d 09:00"]))["-10d 09:00"]
    # 10月4日 is a Sunday in the National Day holiday (10月1日–8日); 9月30日 is the last working day.
    assert slot.nominal == date(2020, 10, 4)
    assert slot.at == at(9, 30, 9)
    assert (slot.moved_from, slot.moved_because) == (date(2020, 10, 4), "National Day")


def test_a_reminder_on_a_weekend_moves_back_and_an_adjusted_working_saturday_counts_as_working() -> None:
    slots = moments(config(["-3d 09:00", "-4d 15:30"]))
    # 10月11日 is an ordinary Sunday: back to Saturday 10月10日, which is a working day that year.
    assert slots["-3d 09:00"].at == at(10, 10, 9)
    assert slots["-3d 09:00"].moved_because == "weekend"
    # A slot on that Saturday stays where it is.
    assert slots["-4d 15:30"].at == at(10, 10, 15, 30)
    assert slots["-4d 15:30"].moved_from is None


def test_without_working_days_only_no_slot_moves() -> None:
    slot = moments(config(["-10d 09:00"], working_days_only=False))["-10d 09:00"]
    assert slot.at == at(10, 4, 9) and slot.moved_from is None


def test_the_overdue_notice_moves_forward_to_the_next_working_day() -> None:
    cfg = config([], overdue="1d 10:00", deadline=at(9, 30, 18), opens=at(9, 1, 8), late_days=30)
    notice = overdue_moment(cfg.schedule, cfg.campaigns[0])
    assert notice is not None
    assert notice.at == at(10, 9, 10)  # 10月1日 is a holiday, 10月9日 (Friday) the next working day
    assert (notice.starts, notice.ends) == (at(10, 9, 10), at(10, 30, 18))


def test_reminder_windows_end_at_the_next_slot_or_at_the_deadline() -> None:
    slots = moments(config(["-10d 09:00", "-3d 09:00", "-1d 09:00", "0d 19:00"]))
    assert (slots["-10d 09:00"].starts, slots["-10d 09:00"].ends) == (at(9, 30, 9), at(10, 10, 9))
    assert (slots["-3d 09:00"].starts, slots["-3d 09:00"].ends) == (at(10, 10, 9), at(10, 13, 9))
    assert (slots["-1d 09:00"].starts, slots["-1d 09:00"].ends) == (at(10, 13, 9), at(10, 14, 18))
    after = slots["0d 19:00"]  # after the deadline: its window is empty, it is never sent
    assert after.starts == after.ends == at(10, 14, 19)


def test_catch_up_sends_only_the_latest_missed_slot_once_and_skips_the_earlier_ones() -> None:
    cfg = config(["-10d 09:00", "-3d 09:00", "-1d 09:00"])
    slots = reminder_moments(cfg.schedule, cfg.campaigns[0])
    # A worker down from before 9月30日 until 10月13日 10:00.
    result = due(slots, at(10, 13, 10), done=set())
    assert result.send is not None and result.send.key == "-1d 09:00"
    assert [m.key for m in result.skip] == ["-10d 09:00", "-3d 09:00"]
    # Once recorded, nothing more is due until the deadline.
    assert due(slots, at(10, 13, 10, 15), done={"-10d 09:00", "-3d 09:00", "-1d 09:00"}).send is None
    # A slot whose window is still open is sent on the minute, not before.
    assert due(slots, at(10, 10, 8, 59), done={"-10d 09:00"}).send is None
    assert due(slots, at(10, 10, 9), done={"-10d 09:00"}).send.key == "-3d 09:00"  # type: ignore[union-attr]


def test_a_run_after_the_deadline_sends_no_reminder_and_records_the_missed_ones() -> None:
    cfg = config(["-3d 09:00", "-1d 09:00"])
    result = due(reminder_moments(cfg.schedule, cfg.campaigns[0]), at(10, 14, 18), done={"-3d 09:00"})
    assert result.send is None
    assert [m.key for m in result.skip] == ["-1d 09:00"]


def test_two_reminders_moved_onto_the_same_moment_send_only_the_one_nearer_the_deadline() -> None:
    # Deadline Monday 10月19日: -2d (Saturday 17日) and -1d (Sunday 18日) both move to Friday 16日 09:00.
    cfg = config(["-2d 09:00", "-1d 09:00"], deadline=at(10, 19, 18))
    result = due(reminder_moments(cfg.schedule, cfg.campaigns[0]), at(10, 16, 9), done=set())
    assert result.send is not None and result.send.key == "-1d 09:00"
    assert [m.key for m in result.skip] == ["-2d 09:00"]


def test_the_digest_has_one_slot_a_day_from_opening_to_close() -> None:
    cfg = config([], opens=at(10, 12, 8), deadline=at(10, 14, 18), late_days=2)
    days = digest_moments(cfg.schedule, cfg.campaigns[0])
    assert [m.key for m in days] == ["2020-10-12", "2020-10-13", "2020-10-14", "2020-10-15", "2020-10-16"]
    assert days[0].at == at(10, 12, 8, 30) and days[0].ends == at(10, 13, 8, 30)
    # down for two days: only today's digest, once
    result = due(days, at(10, 14, 12), done={"2020-10-12"})
    assert result.send is not None and result.send.key == "2020-10-14"
    assert [m.key for m in result.skip] == ["2020-10-13"]


def test_a_digest_time_before_the_opening_hour_starts_the_next_day() -> None:
    cfg = config([], opens=at(10, 12, 10), deadline=at(10, 14, 18), late_days=0)
    assert [m.key for m in digest_moments(cfg.schedule, cfg.campaigns[0])] == ["2020-10-13", "2020-10-14"]


def test_moments_are_wall_clock_times_in_the_campaign_zone() -> None:
    cfg = config(["-20d 09:00", "-1d 09:00"], working_days_only=False)
    for slot in reminder_moments(cfg.schedule, cfg.campaigns[0]):  # Shanghai keeps UTC+8 all year
        assert slot.at.astimezone(UTC).time() == time(1, 0)
    # In a zone with summer time the local hour is kept across the change (Berlin, 28 March 2021).
    berlin = ZoneInfo("Europe/Berlin")
    cfg = config(["-3d 09:00", "0d 09:00"], working_days_only=False, tz="Europe/Berlin",
                 opens=at(3, 1, 8, year=2021, tz=berlin), deadline=at(3, 29, 18, year=2021, tz=berlin))
    before, after = reminder_moments(cfg.schedule, cfg.campaigns[0])
    assert (before.at.astimezone(UTC).hour, after.at.astimezone(UTC).hour) == (8, 7)


def test_outside_the_known_years_monday_to_friday_are_working_days_with_one_warning(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(timetable, "_warned_years", set())
    with caplog.at_level(logging.WARNING, logger="bot.core.timetable"):
        assert why_not_working(date(2099, 10, 3)) == "weekend"  # a Saturday
        assert why_not_working(date(2099, 10, 1)) is None  # a Thursday: National Day unknown that year
        assert why_not_working(date(2099, 10, 4)) == "weekend"
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == ["no Chinese holiday data for 2099: counting Monday to Friday as working days"]


def campaigns_config(own: list[str] | None) -> Config:
    """Two campaigns: 国庆 with the schedule's slots, 志愿 (deadline 10月16日) with `own` slots when given."""
    second: dict = {"name": "志愿活动", "slug": "vol-2020", "opens": OPENS, "deadline": at(10, 16, 18),
                    "timezone": "Asia/Shanghai", "late_days": 3}
    if own is not None:
        second["reminders"] = own
    raw = {"campaigns": [{"name": "国庆活动", "slug": "nd-2020", "opens": OPENS, "deadline": DEADLINE,
                          "timezone": "Asia/Shanghai", "late_days": 3}, second],
           "schedule": {"reminders": ["-1d 09:00"], "overdue_notice": "1d 10:00"}}
    return parse_config(raw, Path("/cfg"), {})


def test_each_campaign_has_its_own_slots_relative_to_its_own_deadline() -> None:
    cfg = campaigns_config(["-3d 09:00", "-1d 15:00"])
    national, volunteers = cfg.campaigns
    assert [(m.key, m.at) for m in reminder_moments(cfg.schedule, national)] == [("-1d 09:00", at(10, 13, 9))]
    assert [(m.key, m.at) for m in reminder_moments(cfg.schedule, volunteers)] == [
        ("-3d 09:00", at(10, 13, 9)), ("-1d 15:00", at(10, 15, 15))]
    # The overdue notice follows each campaign's deadline: 10月17日 is a Saturday, moved to Monday 19日.
    assert overdue_moment(cfg.schedule, national).at == at(10, 15, 10)  # type: ignore[union-attr]
    assert overdue_moment(cfg.schedule, volunteers).at == at(10, 19, 10)  # type: ignore[union-attr]
    # A campaign that names no slots takes [schedule].reminders, relative to its deadline.
    cfg = campaigns_config(None)
    assert [(m.key, m.at) for m in reminder_moments(cfg.schedule, cfg.campaigns[1])] == [
        ("-1d 09:00", at(10, 15, 9))]
    # An empty list is the campaign's own choice: no reminders, only the overdue notice.
    cfg = campaigns_config([])
    assert reminder_moments(cfg.schedule, cfg.campaigns[1]) == ()


def test_a_campaign_closed_early_has_no_slot_open_after_its_closing() -> None:
    cfg = campaigns_config(["-3d 09:00", "-1d 15:00"])
    closed = replace(cfg.campaigns[1], closed_at=at(10, 14, 12))
    early, late = reminder_moments(cfg.schedule, closed)
    assert (early.starts, early.ends) == (at(10, 13, 9), at(10, 14, 12))  # cut at the closing
    assert late.starts == late.ends  # after the closing: never sent
    notice = overdue_moment(cfg.schedule, closed)
    assert notice is not None and notice.starts == notice.ends
    result = due((early, late, notice), at(10, 19, 10), done=set())
    assert result.send is None and [m.key for m in result.skip] == ["-3d 09:00", "-1d 15:00", "overdue"]
