"""Reminders: who gets which slot, what the mail says, and what the dry run shows. In-process, SQLite."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot.adapters.config_file import parse_config
from bot.bootstrap import App, build
from bot.core.reminder_plan import UnitPlan
from bot.core.render.reminder_dry_run import describe
from storage import tables as t
from storage.db import session

TZ = ZoneInfo("Asia/Shanghai")

UNITS = """单位名称,别名,邮箱,分组,是否必报
东城区文明办,东城,dc-wmb@example.cn;dc-office@example.cn,区县,是
西城区文明办,西城,xc-wmb@example.cn,区县,是
南湖县委宣传部,南湖,,区县,是
滨江街道新时代文明实践站,滨江,bj@example.cn,街道,否
市志愿服务指导中心,志愿中心,zyfw@example.cn,部门,是
北塘区文明办,北塘,bt@example.cn,区县,是
"""


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2020, month, day, hour, minute, tzinfo=TZ)


def make_app(tmp_path: Path, copy_staff: bool = False) -> App:
    (tmp_path / "units.csv").write_text(UNITS, encoding="utf-8")
    raw = {
        "smtp": {"host": "127.0.0.1", "port": 25, "security": "none", "from_address": "collect@163.example",
                 "from_name": "市文明办材料收集"},
        "storage": {"data_dir": "data"},
        "campaign": {"name": "国庆主题宣传活动", "slug": "nd-2020", "opens": at(9, 25, 8), "deadline": at(10, 14, 18),
                     "timezone": "Asia/Shanghai", "required": ["brief", "photo", "case_study"], "late_days": 3},
        "units": {"file": "units.csv"},
        "staff": {"digest_to": ["office@example.cn"]},
        "schedule": {"reminders": ["-10d 09:00", "-3d 09:00", "-1d 09:00"], "overdue_notice": "1d 10:00",
                     "copy_staff": copy_staff},
    }
    app = build(parse_config(raw, tmp_path, {}))
    with session(app.engine) as s:
        s.add(t.OverrideRow(kind="exempt", key="市志愿服务指导中心", value="1", created_at=at(9, 25, 9)))
        s.commit()
    app.refresh_roster()
    give(app, "西城区文明办", "brief", "photo", "case_study")  # complete
    give(app, "东城区文明办", "photo")  # still lacks the brief and the case study
    give(app, "北塘区文明办", "brief", "case_study")
    return app


def give(app: App, unit: str, *categories: str, campaign: str = "nd-2020") -> None:
    with session(app.engine) as s:
        row = t.MessageRow(folder="INBOX", uidvalidity=1, uid=len(s.exec(select(t.MessageRow)).all()) + 1,
                           key=f"k-{campaign}-{unit}-{categories}", state=t.STORED, disposition="accepted", unit=unit,
                           campaign=campaign)
        s.add(row)
        s.flush()
        for n, category in enumerate(categories):
            s.add(t.ItemRow(message_row_id=row.id, unit=unit, category=category, filename=f"{category}{n}",
                            path=f"{campaign}/{unit}/{category}/{n}", size=2_000_000,
                            sha256=f"{campaign}{unit}{category}", kind="jpeg", reason="test", campaign=campaign))
        s.commit()


def outbox(app: App) -> list[tuple[str, EmailMessage]]:
    with session(app.engine) as s:
        rows = s.exec(select(t.OutboxRow).order_by(t.OutboxRow.id)).all()
    return [(r.to_addr, message_from_bytes(r.raw, policy=policy.default)) for r in rows]  # type: ignore[misc]


def units_plan(app: App, now: datetime) -> list[UnitPlan]:
    """The units' plan of the one campaign."""
    return app.reminders().plan_now(now)[0].units


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def test_a_reminder_lists_exactly_what_the_unit_still_lacks_and_how_to_send_it(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    report = app.reminders().queue(at(10, 13, 9))
    assert report.queued_units == ["东城区文明办", "北塘区文明办"]
    mails = outbox(app)
    assert [to for to, _ in mails] == ["dc-wmb@example.cn", "dc-office@example.cn", "bt@example.cn"]
    _, dongcheng = mails[0]
    body = text_of(dongcheng)
    assert dongcheng["Subject"] == "【催报】国庆主题宣传活动：请于10月14日18:00前补报材料"
    assert ("截至10月13日09:00，贵单位尚缺以下材料：\n  1. 活动简报\n  2. 典型事例、经验总结\n\n"
            "请于10月14日18:00前补报。") in body
    assert "照片" not in body.split("贵单位（东城区文明办）目前已报送")[0]  # photos were sent: no photo advice
    assert "发送至 collect@163.example" in body
    assert "  照片：1 份\n" in body and "  活动简报：0 份\n" in body
    _, beitang = mails[2]
    body = text_of(beitang)
    assert "贵单位尚缺以下材料：\n  1. 照片\n\n请于10月14日18:00前补报。" in body
    assert "照片请发送相机或手机里的原图，每张大于1.0 MB" in body
    html = dongcheng.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert "<li><b>活动简报</b></li><li><b>典型事例、经验总结</b></li>" in html


def test_reminder_mail_is_marked_as_the_bots_own_with_unique_message_ids(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    app.reminders().queue(at(10, 13, 9))
    mails = [m for _, m in outbox(app)]
    assert {m["X-Report-Intake"] for m in mails} == {"nd-2020"}
    assert {m["Auto-Submitted"] for m in mails} == {"auto-generated"}
    ids = [m["Message-ID"] for m in mails]
    assert len(set(ids)) == 3 and all(i.startswith("<intake.nd-2020.reminder.") for i in ids)
    assert mails[0]["From"] == "市文明办材料收集 <collect@163.example>"


def test_each_slot_goes_to_a_unit_once_and_missed_slots_are_recorded_as_skipped(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    assert app.reminders().queue(at(10, 13, 9)).mails == 3
    assert app.reminders().queue(at(10, 13, 9, 15)).mails == 0
    assert build(app.config).reminders().queue(at(10, 13, 17)).mails == 0  # a fresh App: the ledger holds
    with session(app.engine) as s:
        ledger = {(r.unit, r.slot, r.state) for r in s.exec(select(t.ReminderRow)).all()}
    assert ledger == {
        ("东城区文明办", "-1d 09:00", "sent"), ("东城区文明办", "-10d 09:00", "skipped"),
        ("东城区文明办", "-3d 09:00", "skipped"),
        ("北塘区文明办", "-1d 09:00", "sent"), ("北塘区文明办", "-10d 09:00", "skipped"),
        ("北塘区文明办", "-3d 09:00", "skipped"),
        ("南湖县委宣传部", "-1d 09:00", "no_address"), ("南湖县委宣传部", "-10d 09:00", "skipped"),
        ("南湖县委宣传部", "-3d 09:00", "skipped"),
    }


def test_the_overdue_notice_goes_once_after_the_deadline_to_units_still_incomplete(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    assert app.reminders().queue(at(10, 15, 9, 59)).mails == 0
    give(app, "北塘区文明办", "photo")
    report = app.reminders().queue(at(10, 15, 10))
    assert report.queued_units == ["东城区文明办"]
    assert app.reminders().queue(at(10, 16, 10)).mails == 0
    (_, first), (_, second) = outbox(app)
    assert first["Subject"] == "【逾期提醒】国庆主题宣传活动：材料尚未报齐"
    body = text_of(first)
    assert ("报送截止时间（10月14日18:00）已过。截至10月15日10:00，贵单位仍缺以下材料：\n"
            "  1. 活动简报\n  2. 典型事例、经验总结\n") in body
    assert "10月17日18:00前收到的材料仍予登记，并标注为逾期报送。" in body


def test_copy_staff_sends_each_reminder_to_staff_too_marked_as_a_copy(tmp_path: Path) -> None:
    app = make_app(tmp_path, copy_staff=True)
    app.reminders().queue(at(10, 13, 9))
    mails = outbox(app)
    assert [to for to, _ in mails] == ["dc-wmb@example.cn", "dc-office@example.cn", "office@example.cn",
                                       "bt@example.cn", "office@example.cn"]
    copy = mails[2][1]
    assert copy["Subject"] == "[抄送] 【催报】国庆主题宣传活动：请于10月14日18:00前补报材料"
    assert text_of(copy).startswith("（抄送：本邮件已发给东城区文明办，dc-wmb@example.cn、dc-office@example.cn。）")


def test_dry_run_says_who_would_get_what_and_why_the_others_get_nothing(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    app.reminders().queue(at(9, 30, 9))  # the first slot went out on time
    give(app, "北塘区文明办", "photo")  # complete since
    now = at(10, 10, 9, 5)
    reminders, overdue = app.reminders().slots(app.campaigns[0])
    lines = describe(app.templates, units_plan(app, now), (*reminders, overdue), app.config.campaigns[0], now)  # type: ignore[arg-type]
    assert lines == [
        "催报预览（按 10月10日09:05 计算，不发送任何邮件）",
        "时点：",
        "  催报 -10d 09:00 → 9月30日09:00（原定10月4日，国庆节，提前到前一个工作日）",
        "  催报 -3d 09:00 → 10月10日09:00（原定10月11日，周末，提前到前一个工作日）",
        "  催报 -1d 09:00 → 10月13日09:00",
        "  逾期提醒 1d 10:00 → 10月15日10:00",
        "将发送：",
        "  东城区文明办：催报 -3d 09:00（10月10日09:00）→ dc-wmb@example.cn、dc-office@example.cn；"
        "尚缺：活动简报、典型事例、经验总结",
        "不发送：",
        "  西城区文明办：已报齐",
        "  南湖县委宣传部：名单中没有邮箱地址，无法催报（尚缺：活动简报、照片、典型事例、经验总结）",
        "  滨江街道新时代文明实践站：不必报",
        "  市志愿服务指导中心：已免报",
        "  北塘区文明办：已报齐",
    ]
    assert app.reminders().queue(now).queued_units == ["东城区文明办"]
    lines = describe(app.templates, units_plan(app, now), reminders, app.config.campaigns[0], now)
    assert "  东城区文明办：催报 -3d 09:00 已发过" in lines
    lines = describe(app.templates, units_plan(app, at(10, 11, 12)), reminders, app.config.campaigns[0],
                     at(10, 11, 12))
    assert "  东城区文明办：催报 -3d 09:00 已发过" in lines  # its window is open until the next slot
    lines = describe(app.templates, units_plan(app, at(10, 14, 19)), reminders, app.config.campaigns[0],
                     at(10, 14, 19))
    assert ("  东城区文明办：当前没有到期的时点（下一个：逾期提醒 1d 10:00，10月15日10:00）"
            "（尚缺：活动简报、典型事例、经验总结）") in lines


def test_a_unit_that_missed_slots_is_listed_with_the_slots_that_will_be_skipped(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    now = at(10, 13, 9, 30)
    reminders, _ = app.reminders().slots(app.campaigns[0])
    lines = describe(app.templates, units_plan(app, now), reminders, app.config.campaigns[0], now)
    assert lines[-2:] == ["  东城区文明办：错过的时点 -10d 09:00、-3d 09:00 将记为跳过，不再补发",
                          "  北塘区文明办：错过的时点 -10d 09:00、-3d 09:00 将记为跳过，不再补发"]


@pytest.mark.parametrize("now", [at(9, 29, 12), at(10, 14, 18, 1)])
def test_between_slots_nothing_is_sent(tmp_path: Path, now: datetime) -> None:
    app = make_app(tmp_path)
    assert app.reminders().queue(now).mails == 0
    assert outbox(app) == []


def test_moments_are_stored_in_utc(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    app.reminders().queue(at(10, 13, 9))
    with session(app.engine) as s:
        row = s.exec(select(t.ReminderRow).where(t.ReminderRow.state == "sent")).first()
    assert row is not None and row.moment.replace(tzinfo=UTC) == at(10, 13, 9).astimezone(UTC)


def test_the_digest_job_claims_each_day_once_and_a_failed_digest_is_not_retried_in_a_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.office.digest import DigestRun, Digests, queue_due_digest

    app = make_app(tmp_path)
    app.config = replace(app.config, schedule=replace(app.config.schedule, digest_time=time(8, 30)))
    calls: list[datetime] = []

    def fake_digest(_digests: Digests, now: datetime) -> int | None:
        calls.append(now)
        if now.day == 27:
            raise RuntimeError("disk full")
        return 100 + now.day

    monkeypatch.setattr(Digests, "queue", fake_digest)

    def due_digest(application: App, now: datetime) -> DigestRun:
        return queue_due_digest(application.digests(), app.config.schedule, now)

    assert due_digest(app, at(9, 25, 8, 29)).day is None
    assert due_digest(app, at(9, 25, 8, 30)).outbox_row_id == 125
    assert due_digest(app, at(9, 25, 8, 45)).day is None  # once a day
    assert due_digest(build(app.config), at(9, 25, 23, 0)).day is None  # a fresh App: the claim holds
    down = due_digest(app, at(9, 27, 9))  # the 26th was missed: skipped; the 27th fails
    assert (down.skipped, down.day) == (["2020-09-26"], None)
    assert due_digest(app, at(9, 27, 9, 1)).day is None  # not retried every minute
    assert calls == [at(9, 25, 8, 30), at(9, 27, 9)]
    with session(app.engine) as s:
        runs = [(r.key, r.state, r.outbox_row_id) for r in s.exec(select(t.JobRunRow).order_by(t.JobRunRow.key))]
    assert runs == [("2020-09-25", "sent", 125), ("2020-09-26", "skipped", None), ("2020-09-27", "failed", None)]


# Two campaigns asking partly different units. 国庆 asks the 区县 group (东城, 西城, 南湖, 北塘) with the
# schedule's slots; 志愿 asks 东城 and 市志愿服务指导中心 by name, with its own slots relative to its own
# deadline (Friday 10月16日 18:00): "-3d 09:00" is Tuesday 10月13日 09:00, the same moment as 国庆's "-1d 09:00";
# "-1d 10:00" is Thursday 10月15日 10:00, the moment of 国庆's overdue notice.
VOL = "vol-2020"


def make_two(tmp_path: Path, copy_staff: bool = False) -> App:
    (tmp_path / "units.csv").write_text(UNITS, encoding="utf-8")
    raw = {
        "smtp": {"host": "127.0.0.1", "port": 25, "security": "none", "from_address": "collect@163.example",
                 "from_name": "市文明办材料收集"},
        "storage": {"data_dir": "data"},
        "campaigns": [
            {"name": "国庆主题宣传活动", "slug": "nd-2020", "notice": "市文明办〔2020〕30号", "opens": at(9, 25, 8),
             "deadline": at(10, 14, 18), "timezone": "Asia/Shanghai", "required": ["brief", "photo", "case_study"],
             "late_days": 3, "units": ["区县"]},
            {"name": "志愿服务月活动", "slug": VOL, "notice": "市文明办〔2020〕31号", "opens": at(9, 28, 8),
             "deadline": at(10, 16, 18), "timezone": "Asia/Shanghai", "required": ["brief", "photo"],
             "late_days": 3, "units": ["东城区文明办", "市志愿服务指导中心"], "reminders": ["-3d 09:00", "-1d 10:00"]},
        ],
        "units": {"file": "units.csv"},
        "staff": {"digest_to": ["office@example.cn"]},
        "schedule": {"reminders": ["-10d 09:00", "-3d 09:00", "-1d 09:00"], "overdue_notice": "1d 10:00",
                     "copy_staff": copy_staff},
    }
    app = build(parse_config(raw, tmp_path, {}))
    assert [c.slug for c in app.campaigns] == ["nd-2020", VOL]
    give(app, "东城区文明办", "photo")  # 国庆: lacks the brief and the case study
    give(app, "东城区文明办", "brief", campaign=VOL)  # 志愿: lacks the photo
    give(app, "北塘区文明办", "brief", "photo", "case_study")  # 国庆: complete
    give(app, "西城区文明办", "brief", "case_study")  # 国庆: lacks the photo; 志愿 does not ask it
    return app


def ledger_rows(app: App) -> set[tuple[str, str, str, str, str]]:
    with session(app.engine) as s:
        return {(r.campaign, r.unit, r.slot, r.state, r.outbox_ids) for r in s.exec(select(t.ReminderRow)).all()}



def test_a_unit_asked_by_two_campaigns_gets_one_mail_naming_both_at_their_common_slot(tmp_path: Path) -> None:
    app = make_two(tmp_path)
    report = app.reminders().queue(at(10, 13, 9))
    assert report.queued_units == ["东城区文明办", "西城区文明办", "市志愿服务指导中心"]
    assert (report.mails, report.skipped, report.no_address) == (4, 6, ["南湖县委宣传部"])
    mails = outbox(app)
    assert [to for to, _ in mails] == ["dc-wmb@example.cn", "dc-office@example.cn", "xc-wmb@example.cn",
                                       "zyfw@example.cn"]
    (_, first), (_, second) = mails[:2]
    assert first["Subject"] == second["Subject"] == "【催报】2项通知：请按期补报材料"
    assert first["X-Report-Intake"] == "nd-2020,vol-2020"
    body = text_of(first)
    assert body == text_of(second)
    assert ("您好！截至10月13日09:00，贵单位在以下2项通知中尚缺材料：\n\n"
            "一、国庆主题宣传活动（市文明办〔2020〕30号）\n"
            "  报送截止时间：10月14日18:00\n"
            "  尚缺：活动简报、典型事例、经验总结\n"
            "  已报送：活动简报 0 份，照片 1 份，典型事例、经验总结 0 份，其他材料 0 份\n"
            "  请于10月14日18:00前补报。\n\n"
            "二、志愿服务月活动（市文明办〔2020〕31号）\n"
            "  报送截止时间：10月16日18:00\n"
            "  尚缺：照片\n"
            "  已报送：活动简报 1 份，照片 0 份，典型事例、经验总结 0 份，其他材料 0 份\n"
            "  请于10月16日18:00前补报。\n") in body
    assert "在邮件主题中注明通知名称或文号" in body
    assert "照片请发送相机或手机里的原图，每张大于1.0 MB" in body  # 志愿 lacks photos
    html = first.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert "<li><b>国庆主题宣传活动（市文明办〔2020〕30号）</b>（报送截止时间：10月14日18:00）" in html
    assert "<br>尚缺：<b>活动简报、典型事例、经验总结</b>" in html and "<br>尚缺：<b>照片</b>" in html
    ids = [m["Message-ID"] for _, m in mails]
    assert len(set(ids)) == 4
    assert ids[:2] == ["<intake.nd-2020.reminder.3.1@163.example>", "<intake.nd-2020.reminder.3.2@163.example>"]
    # Two ledger rows, one per campaign's slot, both pointing at the one mail's outbox rows.
    rows = {(c, slot, state, ids) for c, unit, slot, state, ids in ledger_rows(app) if unit == "东城区文明办"}
    assert rows == {("nd-2020", "-10d 09:00", "skipped", ""), ("nd-2020", "-3d 09:00", "skipped", ""),
                    ("nd-2020", "-1d 09:00", "sent", "1,2"), (VOL, "-3d 09:00", "sent", "1,2")}


def test_a_unit_asked_by_one_campaign_is_reminded_for_that_one_only(tmp_path: Path) -> None:
    app = make_two(tmp_path)
    app.reminders().queue(at(10, 13, 9))
    mails = dict(outbox(app)[2:])
    xicheng, volunteers = mails["xc-wmb@example.cn"], mails["zyfw@example.cn"]
    # 西城 lacks everything for 志愿 too, but 志愿 does not ask it: its mail is 国庆's alone.
    assert xicheng["Subject"] == "【催报】国庆主题宣传活动：请于10月14日18:00前补报材料"
    assert xicheng["X-Report-Intake"] == "nd-2020"
    assert "贵单位尚缺以下材料：\n  1. 照片\n\n请于10月14日18:00前补报。" in text_of(xicheng)
    assert "志愿服务月活动" not in text_of(xicheng)
    # 市志愿服务指导中心 is in no 区县 group: 国庆 does not ask it, 志愿 names it.
    assert volunteers["Subject"] == "【催报】志愿服务月活动：请于10月16日18:00前补报材料"
    assert volunteers["X-Report-Intake"] == VOL
    assert "贵单位尚缺以下材料：\n  1. 活动简报\n  2. 照片\n\n请于10月16日18:00前补报。" in text_of(volunteers)
    assert "国庆主题宣传活动" not in text_of(volunteers)
    by_unit: dict[str, set[str]] = {}
    for campaign, unit, _slot, _state, _ids in ledger_rows(app):
        by_unit.setdefault(unit, set()).add(campaign)
    assert by_unit == {"东城区文明办": {"nd-2020", VOL}, "西城区文明办": {"nd-2020"}, "南湖县委宣传部": {"nd-2020"},
                       "市志愿服务指导中心": {VOL}}


def test_running_again_queues_nothing_new_for_either_campaign(tmp_path: Path) -> None:
    app = make_two(tmp_path)
    assert app.reminders().queue(at(10, 13, 9)).mails == 4
    before = ledger_rows(app)
    assert app.reminders().queue(at(10, 13, 9)).mails == 0
    assert app.reminders().queue(at(10, 13, 9, 30)).mails == 0
    assert build(app.config).reminders().queue(at(10, 14, 17)).mails == 0  # a fresh App: the ledger holds
    assert ledger_rows(app) == before
    assert len(outbox(app)) == 4


def test_a_run_that_read_the_ledger_before_another_run_wrote_it_queues_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.office.reminders as office

    app = make_two(tmp_path)
    assert app.reminders().queue(at(10, 13, 9)).mails == 4
    before = ledger_rows(app)
    monkeypatch.setattr(office, "load_ledger", lambda _s, _campaign: {})  # a concurrent run's stale read
    report = app.reminders().queue(at(10, 13, 9, 1))
    assert (report.mails, report.lost_race, report.queued_units) == (0, 4, [])
    assert ledger_rows(app) == before and len(outbox(app)) == 4


def test_the_overdue_notice_is_per_campaign_and_joins_another_campaigns_reminder_due_with_it(tmp_path: Path) -> None:
    app = make_two(tmp_path)
    app.reminders().queue(at(10, 13, 9))
    give(app, "市志愿服务指导中心", "brief", "photo", campaign=VOL)  # complete for 志愿
    report = app.reminders().queue(at(10, 15, 10))  # 国庆's overdue notice and 志愿's "-1d 10:00"
    assert report.queued_units == ["东城区文明办", "西城区文明办"]
    mails = outbox(app)[4:]
    assert [to for to, _ in mails] == ["dc-wmb@example.cn", "dc-office@example.cn", "xc-wmb@example.cn"]
    dongcheng, xicheng = mails[0][1], mails[2][1]
    assert dongcheng["Subject"] == "【催报】2项通知：请按期补报材料"
    body = text_of(dongcheng)
    assert ("一、国庆主题宣传活动（市文明办〔2020〕30号）\n"
            "  报送截止时间：10月14日18:00（已过）\n"
            "  尚缺：活动简报、典型事例、经验总结\n") in body
    assert "  截止时间已过，请尽快补报；10月17日18:00前收到的材料仍予登记，并标注为逾期报送。\n" in body
    assert ("二、志愿服务月活动（市文明办〔2020〕31号）\n"
            "  报送截止时间：10月16日18:00\n"
            "  尚缺：照片\n") in body
    assert xicheng["Subject"] == "【逾期提醒】国庆主题宣传活动：材料尚未报齐"
    assert dongcheng["Message-ID"] != xicheng["Message-ID"]
    # 志愿's own overdue notice comes after its own deadline (Saturday 10月17日 → Monday 10月19日 10:00).
    assert app.reminders().queue(at(10, 17, 10)).mails == 0
    assert app.reminders().queue(at(10, 19, 10)).queued_units == ["东城区文明办"]
    (_, late), = outbox(app)[7:8]
    assert late["Subject"] == "【逾期提醒】志愿服务月活动：材料尚未报齐"
    assert ("志愿服务月活动的报送截止时间（10月16日18:00）已过。截至10月19日10:00，贵单位仍缺以下材料：\n"
            "  1. 照片\n") in text_of(late)
    with session(app.engine) as s:
        overdue = {(r.campaign, r.unit, r.state) for r in s.exec(select(t.ReminderRow)
                                                                 .where(t.ReminderRow.kind == "overdue")).all()}
    assert overdue == {("nd-2020", "东城区文明办", "sent"), ("nd-2020", "西城区文明办", "sent"),
                       ("nd-2020", "南湖县委宣传部", "no_address"), (VOL, "东城区文明办", "sent")}


def test_a_closed_campaign_reminds_no_one_after_closing(tmp_path: Path) -> None:
    app = make_two(tmp_path)
    national, volunteers = app.campaigns
    closed = replace(app.reminders(), campaigns=(national, replace(volunteers, closed_at=at(10, 12, 12))))
    report = closed.queue(at(10, 13, 9))
    assert report.queued_units == ["东城区文明办", "西城区文明办"]
    assert outbox(app)[0][1]["Subject"] == "【催报】国庆主题宣传活动：请于10月14日18:00前补报材料"
    assert {c for c, *_ in ledger_rows(app)} == {"nd-2020"}


def test_several_overdue_notices_together_and_html_escapes_what_staff_wrote() -> None:
    from bot.adapters.templates import Templates
    from bot.core.render.notice import Notice, NoticeMail, render_notice
    from bot.core.render.outgoing import Identity
    from bot.core.settings import CampaignConfig

    def campaign(slug: str, name: str) -> CampaignConfig:
        return CampaignConfig(name=name, slug=slug, opens=at(9, 1, 8), deadline=at(10, 14, 18), timezone=TZ)

    notices = (Notice("overdue", campaign("a-1", "甲<b>活动</b>"), {"photo": 1}, ("brief",)),
               Notice("overdue", replace(campaign("b-2", "乙活动"), late_policy="reject"), {}, ("photo",)))
    mail = NoticeMail("东城区文明办", ("dc@example.cn",), notices, at(10, 15, 10))
    rendered = render_notice(Templates(), mail, "dc@example.cn", Identity("collect@163.example", "市文明办"),
                             "<m@x>", at(10, 15, 10))
    message = message_from_bytes(rendered.raw, policy=policy.default)
    assert rendered.subject == "【逾期提醒】2项通知：材料尚未报齐"
    assert message["X-Report-Intake"] == "a-1,b-2"
    text = text_of(message)  # type: ignore[arg-type]
    assert "一、甲<b>活动</b>\n" in text
    assert "  截止时间已过，按通知要求，逾期材料不再受理。如有特殊情况，请直接回复本邮件说明。\n" in text
    html = message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert "<b>甲&lt;b&gt;活动&lt;/b&gt;</b>" in html and "<b>活动</b>" not in html


def test_dry_run_shows_every_campaign_and_the_units_that_get_one_mail_for_several(tmp_path: Path) -> None:
    from bot.core.render.reminder_dry_run import describe_all

    app = make_two(tmp_path)
    app.reminders().queue(at(10, 10, 9))
    now = at(10, 13, 9)
    lines = describe_all(app.templates, app.reminders().plan_now(now), now)
    assert lines == [
        "催报预览（按 10月13日09:00 计算，不发送任何邮件）",
        "== 国庆主题宣传活动（市文明办〔2020〕30号）（nd-2020）：报送截止 10月14日18:00",
        "时点：",
        "  催报 -10d 09:00 → 9月30日09:00（原定10月4日，国庆节，提前到前一个工作日）",
        "  催报 -3d 09:00 → 10月10日09:00（原定10月11日，周末，提前到前一个工作日）",
        "  催报 -1d 09:00 → 10月13日09:00",
        "  逾期提醒 1d 10:00 → 10月15日10:00",
        "将发送：",
        "  东城区文明办：催报 -1d 09:00（10月13日09:00）→ dc-wmb@example.cn、dc-office@example.cn；"
        "尚缺：活动简报、典型事例、经验总结",
        "  西城区文明办：催报 -1d 09:00（10月13日09:00）→ xc-wmb@example.cn；尚缺：照片",
        "不发送：",
        "  南湖县委宣传部：名单中没有邮箱地址，无法催报（尚缺：活动简报、照片、典型事例、经验总结）",
        "  滨江街道新时代文明实践站：不必报",
        "  市志愿服务指导中心：不必报",
        "  北塘区文明办：已报齐",
        "== 志愿服务月活动（市文明办〔2020〕31号）（vol-2020）：报送截止 10月16日18:00",
        "时点：",
        "  催报 -3d 09:00 → 10月13日09:00",
        "  催报 -1d 10:00 → 10月15日10:00",
        "  逾期提醒 1d 10:00 → 10月19日10:00（原定10月17日，周末，顺延到下一个工作日）",
        "将发送：",
        "  东城区文明办：催报 -3d 09:00（10月13日09:00）→ dc-wmb@example.cn、dc-office@example.cn；尚缺：照片",
        "  市志愿服务指导中心：催报 -3d 09:00（10月13日09:00）→ zyfw@example.cn；尚缺：活动简报、照片",
        "不发送：",
        "  西城区文明办：不必报",
        "  南湖县委宣传部：不必报",
        "  滨江街道新时代文明实践站：不必报",
        "  北塘区文明办：不必报",
        "合并发送（同一时点到期的多项通知，每个单位只发一封）：",
        "  东城区文明办：国庆主题宣传活动（市文明办〔2020〕30号）、志愿服务月活动（市文明办〔2020〕31号）"
        " → dc-wmb@example.cn、dc-office@example.cn",
    ]


CONFIG_TOML = """
[storage]
data_dir = "data"

[units]
file = "units.csv"

[schedule]
reminders = ["-10d 09:00", "-3d 09:00", "-1d 09:00"]
overdue_notice = "1d 10:00"

[[campaigns]]
name = "国庆主题宣传活动"
slug = "nd-2020"
opens = 2020-09-25T08:00:00+08:00
deadline = 2020-10-14T18:00:00+08:00
units = ["区县"]

[[campaigns]]
name = "志愿服务月活动"
slug = "vol-2020"
opens = 2020-09-28T08:00:00+08:00
deadline = 2020-10-16T18:00:00+08:00
units = ["东城区文明办"]
reminders = ["-3d 09:00"]
"""


def test_intake_remind_dry_run_shows_one_campaign_with_campaign(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from bot.cli.app import state
    from bot.cli.main import app as cli

    monkeypatch.setattr(state, "now", None)  # restored after the test: the CLI's options are process-wide
    monkeypatch.setattr(state, "config_path", state.config_path)

    (tmp_path / "units.csv").write_text(UNITS, encoding="utf-8")
    config = tmp_path / "config.toml"
    config.write_text(CONFIG_TOML, encoding="utf-8")
    runner = CliRunner()

    def intake(*args: str) -> tuple[int, str]:
        done = runner.invoke(cli, ["--config", str(config), "--now", "2020-10-13T09:00:00+08:00", *args])
        return done.exit_code, done.output

    code, out = intake("remind", "--dry-run", "--campaign", VOL)
    assert code == 0
    assert out.splitlines()[:4] == [
        "催报预览（按 10月13日09:00 计算，不发送任何邮件）",
        "== 志愿服务月活动（vol-2020）：报送截止 10月16日18:00",
        "时点：",
        "  催报 -3d 09:00 → 10月13日09:00",
    ]
    assert "国庆主题宣传活动" not in out
    code, out = intake("remind", "--dry-run")
    assert code == 0 and "== 国庆主题宣传活动（nd-2020）：报送截止 10月14日18:00" in out.splitlines()
    assert "== 志愿服务月活动（vol-2020）：报送截止 10月16日18:00" in out.splitlines()
    code, out = intake("remind", "--dry-run", "--campaign", "nope")
    assert code == 1 and "no campaign 'nope' (campaigns: nd-2020, vol-2020)" in out
    code, out = intake("remind", "--campaign", VOL)
    assert code == 2 and "--campaign 只能与 --dry-run 一起使用" in out
