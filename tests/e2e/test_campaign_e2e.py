"""A whole campaign driven by an injected clock: mail polled from a real Dovecot, every reminder, overdue
notice, receipt and digest sent through a real SMTP sink, with a restart and a worker outage in between.

Campaign: opens 9月25日 08:00, deadline 10月14日 (Wednesday) 18:00, late_days 3 (closes 10月17日 18:00).
Reminders "-10d 09:00" (10月4日, National Day holiday → 9月30日), "-3d 09:00" (10月11日, an ordinary
Sunday → Saturday 10月10日, an adjusted working day), "-1d 09:00" (10月13日); overdue notice "1d 10:00"
(10月15日); digest at 08:30 every day.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from email import message_from_bytes, policy
from email.utils import parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from sqlmodel import select

from bot.adapters.config_file import load_config
from bot.bootstrap import App, build
from bot.office.decisions import exempt
from bot.worker.jobs import poll_and_flush, run_due
from storage import tables as t
from storage.db import session
from tests.e2e.harness import BOT_ADDRESS, INTAKE, body_text, parse, storage_section
from tests.e2e.servers import Dovecot, SmtpSink, append
from tests.fixtures import clients
from tests.fixtures.files import make_docx, make_jpeg

TZ = ZoneInfo("Asia/Shanghai")

UNITS = """单位名称,别名,邮箱,分组,是否必报
东城区文明办,东城文明办,dc-wmb@example.cn,区县,是
西城区文明办,西城文明办,xc-wmb@example.cn,区县,是
南湖县委宣传部,南湖县宣传部,nh-xcb@example.cn,区县,是
北塘区文明办,北塘文明办,,区县,是
市志愿服务指导中心,志愿服务指导中心,zyfw@example.cn,部门,是
滨江街道新时代文明实践站,滨江实践站,bj-sjz@example.cn,志愿服务站,否
"""

OFFICE = "office@example.cn"


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2020, month, day, hour, minute, tzinfo=TZ)


def write_config(directory: Path, dovecot: Dovecot, sink: SmtpSink) -> Path:
    (directory / "units.csv").write_text(UNITS, encoding="utf-8")
    config = directory / "config.toml"
    config.write_text(f"""
[imap]
host = "{dovecot.host}"
port = {dovecot.port}
security = "none"
username = "{dovecot.user}"
password = "{dovecot.password}"
timeout_seconds = 20

[smtp]
host = "{sink.host}"
port = {sink.port}
security = "none"
username = "bot"
password = "x"
from_address = "{BOT_ADDRESS}"
from_name = "市文明办材料收集"

{storage_section()}
[campaign]
name = "2020年国庆主题宣传活动"
slug = "nd-2020"
opens = 2020-09-25T08:00:00+08:00
deadline = 2020-10-14T18:00:00+08:00
timezone = "Asia/Shanghai"
required = ["brief", "photo"]
late_days = 3
keywords = ["国庆"]

[units]
file = "units.csv"

[staff]
digest_to = ["{OFFICE}"]

[schedule]
reminders = ["-10d 09:00", "-3d 09:00", "-1d 09:00"]
overdue_notice = "1d 10:00"
digest_time = "08:30"
working_days_only = true
""", encoding="utf-8")
    return config


PHOTO = make_jpeg(1_100_000, seed=31)
PHOTO_2 = make_jpeg(1_120_000, seed=32)
BRIEF = make_docx("东城区国庆主题宣传活动简报", ["9月27日，东城区开展国庆主题宣传活动。"])
BRIEF_2 = make_docx("西城区国庆主题宣传活动简报", ["10月8日，西城区开展国庆主题宣传活动。"])

# (arrives at, client, arguments): what the units send, when it reaches the mailbox.
MAILS = [
    (at(9, 28, 10, 5), clients.foxmail, dict(
        from_addr="dc-wmb@example.cn", from_name="东城区文明办", subject="东城区文明办报送国庆主题宣传活动材料",
        body="您好，附件是我单位的简报和照片。", attachments=[("活动简报.docx", BRIEF), ("现场照片.jpg", PHOTO)])),
    (at(10, 9, 14, 20), clients.netease_webmail, dict(
        from_addr="xc-wmb@example.cn", from_name="西城区文明办", subject="西城区国庆主题宣传活动简报",
        body="您好，先报简报，照片随后补报。", attachments=[("西城区活动简报.docx", BRIEF_2)])),
    (at(10, 15, 9, 10), clients.iphone, dict(
        from_addr="xc-wmb@example.cn", from_name="西城区文明办", subject="西城区国庆活动照片（补报）",
        body="补报照片原图。", attachments=[("IMG_0001.JPG", PHOTO_2)])),
]

DOWN = (at(10, 10, 12), at(10, 13, 10))  # the worker is down in between (three digests and -1d missed)
RESTART_AT = at(10, 10, 9)  # a fresh App right after the -3d reminders went out
END = at(10, 17, 20)


def steps(start: datetime, end: datetime) -> Iterator[datetime]:
    """Every 15 minutes in office hours, every hour at night: every slot and mail here is on that grid."""
    moment = start
    while moment <= end:
        yield moment
        moment += timedelta(minutes=15) if 8 <= moment.hour < 19 else timedelta(hours=1)


def local_minute(raw: bytes) -> str:
    """The Date header (the injected clock when the mail was queued) as local "月-日 时:分"."""
    date_header = str(message_from_bytes(raw, policy=policy.default)["Date"])
    return parsedate_to_datetime(date_header).astimezone(TZ).strftime("%m-%d %H:%M")


def kind_of(subject: str, to: str) -> str:
    if to == OFFICE:
        return "digest"
    if subject.startswith("【催报】"):
        return "reminder"
    if subject.startswith("【逾期提醒】"):
        return "overdue"
    if subject.startswith("Re: "):
        return "receipt"
    return f"? {subject}"


def test_the_calendar_places_the_slots_where_this_test_expects_them() -> None:
    assert not chinese_calendar.is_workday(date(2020, 10, 4))  # National Day holiday
    assert chinese_calendar.is_workday(date(2020, 9, 30))
    assert not chinese_calendar.is_workday(date(2020, 10, 11))  # an ordinary Sunday
    assert chinese_calendar.is_workday(date(2020, 10, 10))  # adjusted working Saturday


def test_a_whole_campaign_reminds_exactly_the_units_that_lack_something_once_per_slot(
    tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_config(write_config(tmp_path, dovecot, smtp_sink))
    now = [at(9, 25, 8)]

    def clock() -> datetime:
        return now[0]

    app: App = build(config)
    exempt(app, "市志愿服务指导中心", "staff", clock())
    pending = list(MAILS)
    with caplog.at_level(logging.WARNING, logger="bot.office.reminders"):
        for moment in steps(at(9, 25, 8), END):
            if DOWN[0] <= moment < DOWN[1]:
                continue
            if moment == DOWN[1]:
                app = build(config)  # the worker comes back: a new process, the same database
            now[0] = moment
            arrived = [m for m in pending if m[0] <= moment]
            for when, client, kwargs in arrived:
                append(dovecot, client(to=BOT_ADDRESS, date=when, **kwargs), when)
                pending.remove((when, client, kwargs))
            if arrived:
                report = poll_and_flush(app, clock)
                assert report.error is None
            run_due(app, clock)
            if moment == RESTART_AT:
                app = build(config)  # restarted on the same minute: nothing goes twice
                run_due(app, clock)
    assert not pending

    got = []
    for message in smtp_sink.messages:
        mail = parse(message)
        to = ", ".join(message.rcpt_tos)
        got.append((to, kind_of(str(mail["Subject"]), to), local_minute(message.data)))
    units_got = sorted(g for g in got if g[0] != OFFICE)
    assert units_got == sorted([
        ("dc-wmb@example.cn", "receipt", "09-28 10:15"),
        ("nh-xcb@example.cn", "reminder", "09-30 09:00"),
        ("nh-xcb@example.cn", "reminder", "10-10 09:00"),
        ("nh-xcb@example.cn", "reminder", "10-13 10:00"),  # -1d 09:00 missed while down: caught up once
        ("nh-xcb@example.cn", "overdue", "10-15 10:00"),
        ("xc-wmb@example.cn", "reminder", "09-30 09:00"),
        ("xc-wmb@example.cn", "receipt", "10-09 14:30"),
        ("xc-wmb@example.cn", "reminder", "10-10 09:00"),
        ("xc-wmb@example.cn", "reminder", "10-13 10:00"),
        ("xc-wmb@example.cn", "receipt", "10-15 09:15"),  # late photo: complete before the overdue notice
    ])
    digests = [g[2] for g in got if g[0] == OFFICE]
    expected_days = [at(9, 25, 8, 30) + timedelta(days=n) for n in range(23)]
    missed = (date(2020, 10, 11), date(2020, 10, 12), date(2020, 10, 13))
    expected = [d.strftime("%m-%d %H:%M") for d in expected_days if d.date() not in missed]
    expected.insert(expected.index("10-14 08:30"), "10-13 10:00")  # three missed, only the latest sent
    assert digests == expected
    assert all(kind == "digest" for to, kind, _ in got if to == OFFICE)

    # What each reminder says: exactly what was still missing at that slot.
    bodies = {(str(m.rcpt_tos[0]), local_minute(m.data)): body_text(parse(m)) for m in smtp_sink.messages}
    both, photo = "  1. 活动简报\n  2. 照片\n", "  1. 照片\n"
    assert f"贵单位尚缺以下材料：\n{both}\n请于10月14日18:00前补报。" in bodies[("xc-wmb@example.cn", "09-30 09:00")]
    assert f"贵单位尚缺以下材料：\n{photo}\n请于10月14日18:00前补报。" in bodies[("xc-wmb@example.cn", "10-10 09:00")]
    assert f"贵单位尚缺以下材料：\n{both}\n" in bodies[("nh-xcb@example.cn", "10-13 10:00")]
    assert f"已过。截至10月15日10:00，贵单位仍缺以下材料：\n{both}" in bodies[("nh-xcb@example.cn", "10-15 10:00")]
    # Every mail of the bot carries its loop marker and a Message-ID of its own.
    ids = [str(parse(m)["Message-ID"]) for m in smtp_sink.messages]
    assert len(ids) == len(set(ids))
    # A unit's mail is marked with its campaign, the office's digest (over every campaign) as the digest.
    assert {(str(parse(m)["Subject"]).startswith("【报送日报】"), str(parse(m)["X-Report-Intake"]))
            for m in smtp_sink.messages} == {(False, "nd-2020"), (True, "digest")}

    # The ledgers say the same; the unit with no address was logged once per slot, not once a minute.
    with session(app.engine) as s:
        ledger = {(r.unit, r.slot, r.state) for r in s.exec(select(t.ReminderRow)).all()}
        runs = {r.key: r.state for r in s.exec(select(t.JobRunRow)).all()}
    assert ledger == {
        ("西城区文明办", "-10d 09:00", "sent"), ("西城区文明办", "-3d 09:00", "sent"),
        ("西城区文明办", "-1d 09:00", "sent"),
        ("南湖县委宣传部", "-10d 09:00", "sent"), ("南湖县委宣传部", "-3d 09:00", "sent"),
        ("南湖县委宣传部", "-1d 09:00", "sent"), ("南湖县委宣传部", "overdue", "sent"),
        ("北塘区文明办", "-10d 09:00", "no_address"), ("北塘区文明办", "-3d 09:00", "no_address"),
        ("北塘区文明办", "-1d 09:00", "no_address"), ("北塘区文明办", "overdue", "no_address"),
    }
    assert (runs["2020-10-11"], runs["2020-10-12"], runs["2020-10-13"]) == ("skipped", "skipped", "sent")
    assert sum(1 for state in runs.values() if state == "sent") == 21
    no_address = [r.getMessage() for r in caplog.records if r.getMessage().startswith("北塘区文明办")]
    assert no_address == [
        "北塘区文明办: reminder -10d 09:00 is due but the roster has no address for it (missing: brief, photo)",
        "北塘区文明办: reminder -3d 09:00 is due but the roster has no address for it (missing: brief, photo)",
        "北塘区文明办: reminder -1d 09:00 is due but the roster has no address for it (missing: brief, photo)",
        "北塘区文明办: overdue overdue is due but the roster has no address for it (missing: brief, photo)",
    ]


def test_intake_remind_dry_run_shows_the_plan_and_remind_sends_it_once(
    tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = write_config(tmp_path, dovecot, smtp_sink)

    def intake(*args: str) -> str:
        proc = subprocess.run([str(INTAKE), "--config", str(config), "--now", "2020-10-10T09:05:00+08:00", *args],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    dry = intake("remind", "--dry-run").splitlines()
    assert dry[:5] == [
        "催报预览（按 10月10日09:05 计算，不发送任何邮件）",
        "时点：",
        "  催报 -10d 09:00 → 9月30日09:00（原定10月4日，国庆节，提前到前一个工作日）",
        "  催报 -3d 09:00 → 10月10日09:00（原定10月11日，周末，提前到前一个工作日）",
        "  催报 -1d 09:00 → 10月13日09:00",
    ]
    assert "  西城区文明办：催报 -3d 09:00（10月10日09:00）→ xc-wmb@example.cn；尚缺：活动简报、照片" in dry
    assert "  北塘区文明办：名单中没有邮箱地址，无法催报（尚缺：活动简报、照片）" in dry
    assert "  滨江街道新时代文明实践站：不必报" in dry
    assert "  西城区文明办：错过的时点 -10d 09:00 将记为跳过，不再补发" in dry
    assert smtp_sink.messages == []

    out = intake("remind")
    # Nothing was received and nobody exempted here: the four required units with an address; the -10d
    # slot each missed is recorded as skipped (北塘's too), never sent later.
    assert out.strip() == ("催报：排入发送队列 4 封（4 个单位），错过的时点记为跳过 5 个，没有邮箱地址的单位 1 个；"
                           "发出 4 封，待重试 0 封，发送失败 0 封。")
    assert sorted(m.rcpt_tos for m in smtp_sink.messages) == [
        ("dc-wmb@example.cn",), ("nh-xcb@example.cn",), ("xc-wmb@example.cn",), ("zyfw@example.cn",)]
    assert "  西城区文明办：催报 -3d 09:00 已发过" in intake("remind", "--dry-run").splitlines()
    assert intake("remind").startswith("催报：排入发送队列 0 封")
    assert len(smtp_sink.messages) == 4
