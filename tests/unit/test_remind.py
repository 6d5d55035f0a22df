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


def give(app: App, unit: str, *categories: str) -> None:
    with session(app.engine) as s:
        row = t.MessageRow(folder="INBOX", uidvalidity=1, uid=len(s.exec(select(t.MessageRow)).all()) + 1,
                           key=f"k-{unit}-{categories}", state=t.STORED, disposition="accepted", unit=unit)
        s.add(row)
        s.flush()
        for n, category in enumerate(categories):
            s.add(t.ItemRow(message_row_id=row.id, unit=unit, category=category, filename=f"{category}{n}",
                            path=f"nd-2020/{unit}/{category}/{n}", size=2_000_000, sha256=f"{unit}{category}",
                            kind="jpeg", reason="test"))
        s.commit()


def outbox(app: App) -> list[tuple[str, EmailMessage]]:
    with session(app.engine) as s:
        rows = s.exec(select(t.OutboxRow).order_by(t.OutboxRow.id)).all()
    return [(r.to_addr, message_from_bytes(r.raw, policy=policy.default)) for r in rows]  # type: ignore[misc]


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
    reminders, overdue = app.reminders().slots()
    lines = describe(app.templates, app.reminders().plan_now(now), (*reminders, overdue), app.config.campaigns[0], now)  # type: ignore[arg-type]
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
    lines = describe(app.templates, app.reminders().plan_now(now), reminders, app.config.campaigns[0], now)
    assert "  东城区文明办：催报 -3d 09:00 已发过" in lines
    lines = describe(app.templates, app.reminders().plan_now(at(10, 11, 12)), reminders, app.config.campaigns[0],
                     at(10, 11, 12))
    assert "  东城区文明办：催报 -3d 09:00 已发过" in lines  # its window is open until the next slot
    lines = describe(app.templates, app.reminders().plan_now(at(10, 14, 19)), reminders, app.config.campaigns[0],
                     at(10, 14, 19))
    assert ("  东城区文明办：当前没有到期的时点（下一个：逾期提醒 1d 10:00，10月15日10:00）"
            "（尚缺：活动简报、典型事例、经验总结）") in lines


def test_a_unit_that_missed_slots_is_listed_with_the_slots_that_will_be_skipped(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    now = at(10, 13, 9, 30)
    reminders, _ = app.reminders().slots()
    lines = describe(app.templates, app.reminders().plan_now(now), reminders, app.config.campaigns[0], now)
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
