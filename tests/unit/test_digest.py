"""The staff digest over the real pipeline's output for the demo's sample mail: content, files, the outbox
row, the mail, and how it renders in a real browser; with one campaign, and with two open at once (one
digest, a section each, and the mail filed under neither).

The configs are written here, not read from the demo's (which grows with the project): the demo's first ten
samples, the demo's roster, and the campaigns below."""

from __future__ import annotations

import email
import io
import os
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from PIL import Image
from sqlmodel import select

from bot.adapters.config_file import load_config
from bot.adapters.mailer import FolderMailer
from bot.bootstrap import App, build
from bot.cli.demo import samples_dir
from bot.core.mail.parse import parse_mail
from bot.core.render.digest import progress
from bot.core.render.outgoing import answered_row_ids
from bot.core.settings import CampaignConfig, ScheduleConfig
from bot.core.timetable import digest_moments, office_digest_moments
from bot.office.digest import in_digest, queue_due_digest, write_digest
from bot.office.intake.ledger import Source
from bot.office.outbox import flush_outbox
from storage import tables as t
from storage.db import session
from storage.files import sha256_hex
from tests.fixtures import clients
from tests.fixtures.files import make_docx, make_jpeg

TZ = ZoneInfo("Asia/Shanghai")
DEC20 = datetime(2020, 12, 20, 9, 0, tzinfo=TZ)


VOLUNTEER = """
[[campaigns]]
name = "2020年国际志愿者日主题宣传和实践活动"
slug = "idv-2020"
notice = "并文明办〔2020〕65号"
opens = 2020-12-03T00:00:00+08:00
deadline = 2020-12-31T18:00:00+08:00
timezone = "Asia/Shanghai"
required = ["brief", "photo"]
min_photo_bytes = 1048576
late_policy = "accept"
late_days = 30
keywords = ["志愿", "12.5", "国际志愿者日"]
"""
CIVIC = """
[[campaigns]]
name = "2020年文明城市创建工作总结"
slug = "wmcs-2020"
notice = "并文明办〔2020〕70号"
opens = 2020-12-01T00:00:00+08:00
deadline = 2020-12-25T18:00:00+08:00
timezone = "Asia/Shanghai"
keywords = ["文明城市"]
units = ["区县"]
"""
FIRST_SAMPLES = 10  # 01–10: the demo's samples before it had a second campaign


def office(out: Path, *campaigns: str) -> App:
    """The demo's setup with these campaign tables, its first samples taken in as `intake demo` does."""
    out.mkdir(parents=True)
    (out / "config.toml").write_text(f"""
[storage]
data_dir = "{out}"
database_url = "sqlite:///{out / "intake.db"}"
{"".join(campaigns)}
[units]
file = "{samples_dir() / "units.csv"}"

[staff]
digest_to = ["office@example.cn"]

[smtp]
host = "localhost"
port = 25
security = "none"
from_address = "wmb-collect@163.example"
from_name = "市文明办材料收集"
""", encoding="utf-8")
    app = build(load_config(out / "config.toml"))
    mailer = FolderMailer(out / "outbox")
    for path in sorted(samples_dir().glob("*.eml"))[:FIRST_SAMPLES]:
        raw = path.read_bytes()
        received = parse_mail(raw).date
        assert received is not None
        now = received + timedelta(minutes=1)
        app.intake.process(raw, received, Source(f"import:{sha256_hex(raw)[:32]}", 0, 0), now)
        flush_outbox(app.engine, mailer, app.identity.address, now)
    return app


@pytest.fixture
def demo(tmp_path: Path) -> App:
    return office(tmp_path / "demo", VOLUNTEER)


@pytest.fixture
def two(tmp_path: Path) -> App:
    """A second campaign, opened first and asking the three 区县 units; 活动材料 from a stranger names
    neither notice and is kept unsorted."""
    return office(tmp_path / "two", CIVIC, VOLUNTEER)


def outbox_digests(app: App) -> list[t.OutboxRow]:
    with session(app.engine) as s:
        return list(s.exec(select(t.OutboxRow).where(t.OutboxRow.kind == "digest").order_by(t.OutboxRow.id)).all())


@pytest.mark.parametrize(("now", "days_left", "past", "overdue"), [
    (datetime(2020, 12, 30, 15, 59, tzinfo=UTC), 1, False, 0),  # 23:59 on the 30th in Beijing
    (datetime(2020, 12, 30, 16, 1, tzinfo=UTC), 0, False, 0),  # 00:01 on the 31st: due today
    (datetime(2020, 12, 31, 10, 1, tzinfo=UTC), 0, True, 0),  # 18:01: closed
    (datetime(2021, 1, 2, 1, 0, tzinfo=UTC), -2, True, 2),
])
def test_days_left_are_counted_in_the_campaign_time_zone(demo: App, now: datetime, days_left: int, past: bool,
                                                         overdue: int) -> None:
    report = {"campaign": {"units_required": 7, "units_complete": 3}}
    p = progress(report, demo.config.campaigns[0], now)
    assert (p["days_left"], p["past"], p["overdue_days"], p["percent"], p["deadline"]) == (
        days_left, past, overdue, 43, "12月31日18:00")


def test_the_first_digest_shows_progress_every_unit_all_arrivals_and_the_review_list(demo: App) -> None:
    digest = demo.digests().build(DEC20)
    assert digest.subject == "【报送日报】2020年国际志愿者日主题宣传和实践活动：3/7 个必报单位已报齐（12月20日）"
    lines = digest.text.splitlines()
    assert lines[:6] == [
        "2020年国际志愿者日主题宣传和实践活动 报送日报",
        "截至 12月20日09:00",
        "",
        "进度：3/7 个必报单位已报齐（43%）。",
        "距截止（12月31日18:00）还有 11 天。",
        "尚未报送任何材料的必报单位（2 个）：市志愿服务指导中心、市第一人民医院",
    ]
    assert "  3. 南湖县委宣传部（区县）：简报1 照片0 典型事例0 其他0 — 尚缺：照片；问题 1项：照片过小" in lines
    assert "  7. 红星社区志愿服务站（志愿服务站）：简报0 照片0 典型事例0 其他0 — 不必报" in lines
    # Everything taken in up to now (the demo's 补报 of 3 January is not yet "now").
    assert "二、征集开始以来收到的邮件（6 封）" in lines
    assert ("  12月14日11:26  （未确认）  wxy_2020@126.example  “活动材料”  另有1个文件未计入  需处理") in lines
    assert "三、待处理事项（2 项）" in lines
    assert "  [M7] 未确认单位：单位未确认，wxy_2020@126.example，12月14日11:26" in lines
    assert ("  [M4] 非登记邮箱：滨江街道新时代文明实践站，zhangwei1990@163.example，12月10日20:31"
            " — 滨江街道新时代文明实践站") in lines
    assert "南湖县委宣传部" in digest.html and "尚缺：照片" in digest.html and "M7" in digest.html


def test_queue_digest_writes_the_files_and_queues_one_mail_to_all_staff(demo: App) -> None:
    demo = replace(demo, config=replace(demo.config, digest_to=("office@example.cn", "lead@example.cn")))
    row_id = demo.digests().queue(DEC20)
    (row,) = outbox_digests(demo)
    assert row.id == row_id and row.state == "pending" and row.message_row_id is None
    assert row.to_addr == "office@example.cn, lead@example.cn"
    folder = demo.config.storage.data_dir / "digests"
    assert sorted(p.name for p in folder.iterdir()) == ["2020-12-20-090000.html", "2020-12-20-090000.xlsx"]
    mail = email.message_from_bytes(row.raw, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    assert mail["To"] == "office@example.cn, lead@example.cn"
    assert mail["Message-ID"] == row.header_message_id
    assert mail.get_content_type() == "multipart/mixed"
    alternative = mail.get_payload()[0]
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    assert mail.get_body(("plain",)).get_content().startswith("2020年国际志愿者日主题宣传和实践活动 报送日报")
    (attachment,) = list(mail.iter_attachments())
    assert attachment.get_filename() == "报送情况统计表.xlsx"
    sheet = load_workbook(io.BytesIO(attachment.get_content())).active
    attached = list(sheet.iter_rows(values_only=True))
    written = list(load_workbook(folder / "2020-12-20-090000.xlsx").active.iter_rows(values_only=True))
    assert attached == written
    assert [r[1] for r in attached[2:-1]][:3] == ["东城区文明办", "西城区文明办", "南湖县委宣传部"]
    assert (folder / "2020-12-20-090000.html").read_text(encoding="utf-8") == mail.get_body(("html",)).get_content()


def test_the_next_digest_lists_only_what_arrived_since_the_last_one(demo: App) -> None:
    first = demo.digests().queue(DEC20)
    raw = clients.foxmail(
        from_addr="yiyuan-tw@example.com", from_name="市第一人民医院", to="wmb-collect@163.example",
        subject="市第一人民医院 志愿服务活动材料", body="请查收",
        attachments=[("市一院志愿服务简报.docx", make_docx("志愿服务简报")),
                     ("现场照片.jpg", make_jpeg(1_100_000, seed=11))],
        date=DEC20 + timedelta(hours=1),
    )
    demo.intake.process(raw, DEC20 + timedelta(hours=1), Source("INBOX", 1, 99), DEC20 + timedelta(hours=1))
    second = demo.digests().queue(DEC20 + timedelta(days=1))
    rows = outbox_digests(demo)
    assert [r.id for r in rows] == [first, second]
    assert rows[0].header_message_id != rows[1].header_message_id
    text = email.message_from_bytes(rows[1].raw, policy=policy.default).get_body(("plain",)).get_content()
    assert "二、上次日报（12月20日09:00）以来收到的邮件（1 封）" in text
    assert ("  12月20日10:00  市第一人民医院  yiyuan-tw@example.com  “市第一人民医院 志愿服务活动材料”"
            "  简报1、照片1  已受理") in text
    assert "进度：4/7 个必报单位已报齐（57%）。" in text


def test_without_recipients_the_digest_is_only_written_and_still_marks_the_time(demo: App) -> None:
    demo = replace(demo, config=replace(demo.config, digest_to=()))
    assert demo.digests().queue(DEC20) is None
    assert outbox_digests(demo) == []
    folder = demo.config.storage.data_dir / "digests"
    assert sorted(p.name for p in folder.iterdir()) == ["2020-12-20-090000.html", "2020-12-20-090000.xlsx"]
    later = demo.digests().build(DEC20 + timedelta(days=1))
    assert "二、上次日报（12月20日09:00）以来收到的邮件（0 封）" in later.text
    assert demo.digests().queue(DEC20) is None  # the same moment again: a second file, not an overwrite
    assert "2020-12-20-090000-2.html" in {p.name for p in folder.iterdir()}


def colours(image: Image.Image) -> set[tuple[int, int, int]]:
    return {colour for _count, colour in image.getcolors(maxcolors=image.width * image.height)}


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(chromium() is None and os.geteuid() != 0,
                    reason="chromium is not installed (make install-dovecot installs it as root)")
def test_the_digest_renders_in_headless_chromium(demo: App, tmp_path: Path) -> None:
    binary = chromium()
    assert binary is not None, "running as root: `make install-dovecot` should have installed chromium"
    html, _ = write_digest(demo.digests().build(DEC20), tmp_path / "digest.html")
    png = tmp_path / "out.png"
    proc = subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={png}", "--window-size=1200,2000",
         "--hide-scrollbars", html.as_uri()],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert png.exists(), proc.stderr
    with Image.open(png) as image:
        assert image.size == (1200, 2000)
        rgb = image.convert("RGB")
        assert len(colours(rgb)) > 50  # text, fills and borders: not a blank page
        # The progress banner (dark blue) and the unit table's header fill are where the template puts them.
        banner = rgb.crop((20, 80, 200, 130))
        assert (31, 56, 100) in colours(banner)
        table = rgb.crop((20, 230, 700, 560))
        assert len(colours(table)) > 20


def test_a_long_review_list_is_cut_in_the_mail_and_says_how_many_more(demo: App) -> None:
    from bot.core.render.digest import MAX_REVIEW, Arrivals, Section, render_digest
    from bot.core.review import ReviewEntry
    from bot.office.status import unit_report

    entries = [ReviewEntry(f"F{n}", "unclassified_file", 1, "东城区文明办", "a@example.cn", "主题",
                           "2020-12-07T10:15:17+08:00", f"{n}.txt", "other") for n in range(1, MAX_REVIEW + 8)]
    campaign = demo.config.campaigns[0]
    report = unit_report(demo.engine, demo.roster, campaign)
    digest = render_digest([Section(campaign, report, Arrivals([], 0), entries)], [], None, DEC20, TZ, demo.templates)
    lines = digest.text.splitlines()
    assert f"三、待处理事项（{MAX_REVIEW + 7} 项）" in lines
    assert sum(1 for line in lines if line.startswith("  [F")) == MAX_REVIEW
    assert "  另有 7 项未列出，可用 intake review 查看。" in lines
    assert "另有 7 项未列出。" in digest.html and f"[F{MAX_REVIEW + 1}]" not in digest.text


def test_a_long_arrival_list_shows_the_first_ones_and_says_how_many_more(demo: App) -> None:
    from bot.core.render.digest import Section, render_digest
    from bot.office.digest import arrivals_since
    from bot.office.status import unit_report

    everything = arrivals_since(demo.engine, None, DEC20)
    first_two = arrivals_since(demo.engine, None, DEC20, limit=2)
    assert (everything.total, len(everything.shown)) == (6, 6)
    assert (first_two.total, first_two.shown) == (6, everything.shown[:2])
    campaign = demo.config.campaigns[0]
    report = unit_report(demo.engine, demo.roster, campaign)
    digest = render_digest([Section(campaign, report, first_two, [])], [], None, DEC20, TZ, demo.templates)
    lines = digest.text.splitlines()
    assert "二、征集开始以来收到的邮件（6 封）" in lines
    assert "  另有 4 封未列出，可用 intake status 查看。" in lines
    assert "另有 4 封未列出" in digest.html


# ---- Several campaigns: one digest for the office ----

def take(app: App, raw: bytes, at: datetime, uid: int) -> int:
    result = app.intake.process(raw, at, Source("INBOX", 1, uid), at)
    return result.row_id


def material(from_addr: str, from_name: str, subject: str, at: datetime, seed: int) -> bytes:
    return clients.foxmail(
        from_addr=from_addr, from_name=from_name, to="wmb-collect@163.example", subject=subject, body="请查收",
        attachments=[("工作简报.docx", make_docx("工作简报")), ("现场照片.jpg", make_jpeg(1_100_000, seed=seed))],
        date=at,
    )


def two_arrivals(app: App) -> tuple[int, int]:
    """东城区文明办's material for the second campaign, and 南湖县委宣传部's naming no notice (a subject with
    markup in it): the first counts for 文明城市, the second is kept unsorted."""
    civic = take(app, material("dongcheng-wmb@163.example", "东城区文明办", "东城区文明办 文明城市创建工作总结",
                               DEC20 - timedelta(hours=2), 21), DEC20 - timedelta(hours=2), 101)
    unsorted = take(app, material("nanhu-xcb@example.cn", "南湖县委宣传部", "<b>补充材料</b> & 说明",
                                  DEC20 - timedelta(hours=1), 22), DEC20 - timedelta(hours=1), 102)
    return civic, unsorted


CIVIC_TITLE = "2020年文明城市创建工作总结（并文明办〔2020〕70号）"
VOLUNTEER_TITLE = "2020年国际志愿者日主题宣传和实践活动（并文明办〔2020〕65号）"


def test_two_open_campaigns_make_one_digest_with_a_section_each_and_the_unsorted_mail(two: App) -> None:
    assert [c.slug for c in two.campaigns] == ["wmcs-2020", "idv-2020"]
    assert two_arrivals(two) == (11, 12)
    digest = two.digests().build(DEC20)
    assert digest.subject == ("【报送日报】2项通知：2020年文明城市创建工作总结 1/3；"
                              "2020年国际志愿者日主题宣传和实践活动 3/7（12月20日）")
    lines = digest.text.splitlines()
    first = lines.index(f"【1】{CIVIC_TITLE}  通知代号：wmcs-2020")
    second = lines.index(f"【2】{VOLUNTEER_TITLE}  通知代号：idv-2020")
    third = lines.index("【3】未归入通知的邮件（2 封）")
    assert lines[:first] == ["报送日报（2项通知）", "截至 12月20日09:00", ""]
    civic, volunteer, unsorted = lines[first:second], lines[second:third], lines[third:]
    assert civic[1:5] == [
        "进度：1/3 个必报单位已报齐（33%）。",
        "距截止（12月25日18:00）还有 5 天。",
        "尚未报送任何材料的必报单位（2 个）：西城区文明办、南湖县委宣传部",
        "",
    ]
    assert "  1. 东城区文明办（区县）：简报1 照片1 典型事例0 其他0 — 已齐" in civic
    assert "  4. 市志愿服务指导中心（部门）：简报0 照片0 典型事例0 其他0 — 不必报" in civic
    arrived = civic.index("二、征集开始以来收到的邮件（1 封）")
    assert civic[arrived + 1:] == [
        "  12月20日07:00  东城区文明办  dongcheng-wmb@163.example  “东城区文明办 文明城市创建工作总结”"
        "  简报1、照片1  已受理",
        "",
        "三、待处理事项（0 项）",
        "  没有待处理事项。",
        "",
    ]
    assert volunteer[1:4] == ["进度：3/7 个必报单位已报齐（43%）。", "距截止（12月31日18:00）还有 11 天。",
                              "尚未报送任何材料的必报单位（2 个）：市志愿服务指导中心、市第一人民医院"]
    assert "  1. 东城区文明办（区县）：简报1 照片2 典型事例0 其他0 — 已齐" in volunteer
    arrived = volunteer.index("二、征集开始以来收到的邮件（5 封）")
    assert [line.split("  ")[1:3] for line in volunteer[arrived + 1:arrived + 6]] == [
        ["12月7日10:15", "东城区文明办"], ["12月8日16:42", "西城区文明办"], ["12月9日09:03", "南湖县委宣传部"],
        ["12月10日20:31", "滨江街道新时代文明实践站"], ["12月15日14:52", "青年志愿者协会"]]
    assert volunteer[arrived + 6:] == [
        "",
        "三、待处理事项（1 项）",
        "  [M4] 非登记邮箱：滨江街道新时代文明实践站，zhangwei1990@163.example，12月10日20:31"
        " — 滨江街道新时代文明实践站",
        "  编号说明：M＝邮件，F＝文件，L＝超大附件链接，R＝发出的回复；数字为系统内编号。",
        "",
    ]
    assert unsorted == [
        "【3】未归入通知的邮件（2 封）",
        "  [M7] 12月14日11:26  （未确认）  wxy_2020@126.example  “活动材料”  未写明是哪项通知；未确认单位",
        "  [M12] 12月20日08:00  南湖县委宣传部  nanhu-xcb@example.cn  “<b>补充材料</b> & 说明”  未写明是哪项通知",
        "  请核对后用 intake assign M编号 --campaign 通知代号 归入相应通知（通知代号：wmcs-2020、idv-2020）。",
        "",
        "附件“报送情况统计表.xlsx”为各单位报送情况统计表（每项通知一页），可直接打印。",
        "（本邮件由系统自动发送。）",
    ]
    # The HTML: a section per campaign in order, the unsorted table, what a sender wrote escaped.
    html = digest.html
    assert html.index(f"1. {CIVIC_TITLE}") < html.index(f"2. {VOLUNTEER_TITLE}") < html.index(
        "3. 未归入通知的邮件（2 封）")
    assert "<b>1/3</b> 个必报单位已报齐（33%）" in html and "<b>3/7</b> 个必报单位已报齐（43%）" in html
    assert "&lt;b&gt;补充材料&lt;/b&gt; &amp; 说明" in html and "<b>补充材料" not in html
    assert '<td style="border: 1px solid #bfbfbf; font-family: monospace;">M12</td>' in html
    # The workbook: a sheet per campaign, each with its own units and totals.
    book = load_workbook(io.BytesIO(digest.xlsx))
    assert book.sheetnames == ["1.2020年文明城市创建工作总结", "2.2020年国际志愿者日主题宣传和实践活动"]
    totals = [list(sheet.iter_rows(values_only=True))[-1] for sheet in book.worksheets]
    assert [(row[3], row[8]) for row in totals] == [("3", "已齐 1/3"), ("7", "已齐 3/7")]


def test_the_office_digest_is_one_mail_and_the_next_lists_each_campaigns_new_mail(two: App) -> None:
    two_arrivals(two)
    first = two.digests().queue(DEC20)
    take(two, material("xicheng-wmb@163.example", "西城区文明办", "西城区文明办 文明城市创建工作总结",
                       DEC20 + timedelta(hours=1), 23), DEC20 + timedelta(hours=1), 103)
    second = two.digests().queue(DEC20 + timedelta(days=1))
    rows = outbox_digests(two)
    assert [r.id for r in rows] == [first, second]
    assert [r.to_addr for r in rows] == ["office@example.cn", "office@example.cn"]
    ids = [r.header_message_id for r in rows]
    assert ids[0] != ids[1] and all(i.startswith("<intake.digest.staff.") for i in ids)
    assert [answered_row_ids(i) for i in ids] == [[], []]  # never taken for an answer to a unit's mail
    mail = email.message_from_bytes(rows[1].raw, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    assert mail["Subject"] == ("【报送日报】2项通知：2020年文明城市创建工作总结 2/3；"
                               "2020年国际志愿者日主题宣传和实践活动 3/7（12月21日）")
    assert mail["X-Report-Intake"] == "digest"
    text = mail.get_body(("plain",)).get_content().splitlines()
    since = "二、上次日报（12月20日09:00）以来收到的邮件（{} 封）"
    civic, volunteer = text.index(f"【1】{CIVIC_TITLE}  通知代号：wmcs-2020"), text.index(
        f"【2】{VOLUNTEER_TITLE}  通知代号：idv-2020")
    assert text[civic:volunteer].count(since.format(1)) == 1
    assert ("  12月20日10:00  西城区文明办  xicheng-wmb@163.example  “西城区文明办 文明城市创建工作总结”"
            "  简报1、照片1  已受理") in text[civic:volunteer]
    assert text[volunteer:].count(since.format(0)) == 1
    (attachment,) = list(mail.iter_attachments())
    assert load_workbook(io.BytesIO(attachment.get_content())).sheetnames == [
        "1.2020年文明城市创建工作总结", "2.2020年国际志愿者日主题宣传和实践活动"]


def at(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2020) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TZ)


def test_the_digest_reports_the_open_campaigns_and_for_a_day_one_that_closed(two: App) -> None:
    civic, volunteer = two.campaigns  # they close 30 days after their deadlines: 1月24日18:00, 1月30日18:00
    assert in_digest(two.campaigns, at(11, 20)) == (civic,)  # before any opened: the first to open
    assert in_digest(two.campaigns, at(12, 2)) == (civic,)
    assert in_digest(two.campaigns, DEC20) == (civic, volunteer)
    assert in_digest(two.campaigns, at(1, 25, 8, 30, year=2021)) == (civic, volunteer)  # civic's last day
    assert in_digest(two.campaigns, at(1, 25, 18, 1, year=2021)) == (volunteer,)
    assert in_digest(two.campaigns, at(2, 5, year=2021)) == (volunteer,)  # none open: the last to close
    # With one campaign left, the digest is that campaign's, as it always was.
    digest = two.digests().build(at(1, 27, 8, 30, year=2021))
    assert digest.subject == "【报送日报】2020年国际志愿者日主题宣传和实践活动：3/7 个必报单位已报齐（1月27日）"
    lines = digest.text.splitlines()
    assert lines[:4] == ["2020年国际志愿者日主题宣传和实践活动 报送日报", "截至 1月27日08:30", "",
                         "进度：3/7 个必报单位已报齐（43%）。"]
    assert "未归入通知的邮件（1 封）" in lines  # M7 is still to be filed
    assert load_workbook(io.BytesIO(digest.xlsx)).sheetnames == ["报送情况统计表"]


def test_a_digest_is_due_on_every_day_any_campaign_is_open() -> None:
    schedule = ScheduleConfig(digest_time=time(8, 30))
    first = CampaignConfig("甲", "a", at(10, 12, 8), at(10, 13, 18), TZ, late_days=0)
    second = CampaignConfig("乙", "b", at(10, 15), at(10, 16, 18), TZ, late_days=0)
    assert [m.key for m in office_digest_moments(schedule, (first, second))] == [
        "2020-10-12", "2020-10-13", "2020-10-15", "2020-10-16"]
    overlapping = CampaignConfig("丙", "c", at(10, 13), at(10, 15, 18), TZ, late_days=0)
    days = office_digest_moments(schedule, (first, overlapping, second))
    assert [m.key for m in days] == ["2020-10-12", "2020-10-13", "2020-10-14", "2020-10-15", "2020-10-16"]
    assert (days[2].at, days[2].starts, days[2].ends) == (at(10, 14, 8, 30), at(10, 14, 8, 30), at(10, 15, 8, 30))
    assert office_digest_moments(schedule, (first,)) == digest_moments(schedule, first)
    assert office_digest_moments(ScheduleConfig(), (first, second)) == ()


def test_the_worker_queues_one_digest_a_day_while_any_campaign_is_open(two: App) -> None:
    schedule = ScheduleConfig(digest_time=time(8, 30))
    digests = two.digests()
    run = queue_due_digest(digests, schedule, at(12, 20, 8, 31))
    assert run.day == "2020-12-20" and len(run.skipped) == 19  # 1–19 December, missed
    assert queue_due_digest(digests, schedule, at(12, 20, 12)).day is None  # once a day
    # 27 January: only the volunteer campaign is still open; 31 January: none is.
    later = queue_due_digest(digests, schedule, at(1, 27, 8, 31, year=2021))
    assert later.day == "2021-01-27" and len(later.skipped) == 37  # 21 December – 26 January
    assert queue_due_digest(digests, schedule, at(1, 31, 8, 31, year=2021)).day is None
    subjects = [r.subject for r in outbox_digests(two)]
    assert subjects == [
        "【报送日报】2项通知：2020年文明城市创建工作总结 0/3；2020年国际志愿者日主题宣传和实践活动 3/7（12月20日）",
        "【报送日报】2020年国际志愿者日主题宣传和实践活动：3/7 个必报单位已报齐（1月27日）",
    ]


def test_what_needs_a_decision_outside_every_campaign_is_listed_after_them(two: App) -> None:
    from bot.core.render.digest import Arrivals, Section, render_digest
    from bot.core.review import ReviewEntry
    from bot.office.status import unit_report

    failed = ReviewEntry("R3", "send_failed", None, None, "<x@example.cn>", "", None, "", "550 <no such user>")
    sections = [Section(c, unit_report(two.engine, two.roster, c), Arrivals([], 0), []) for c in two.campaigns]
    digest = render_digest(sections, [], None, DEC20, TZ, two.templates, [failed])
    lines = digest.text.splitlines()
    tail = lines.index("【3】未归入通知的邮件（0 封）")
    assert lines[tail:] == [
        "【3】未归入通知的邮件（0 封）",
        "  无。",
        "",
        "其他待处理事项（1 项）",
        "  [R3] 回复发送失败：单位未确认，<x@example.cn> — 550 <no such user>",
        "",
        "附件“报送情况统计表.xlsx”为各单位报送情况统计表（每项通知一页），可直接打印。",
        "（本邮件由系统自动发送。）",
    ]
    assert "其他待处理事项（1 项）" in digest.html and "550 &lt;no such user&gt;" in digest.html
    # One campaign with no unsorted mail: neither part is shown (its entries are in the campaign's list).
    single = render_digest(sections[1:], [], None, DEC20, TZ, two.templates, [])
    assert "其他待处理事项" not in single.text and "未归入通知的邮件" not in single.text


def test_with_the_consoles_address_the_digest_links_to_its_pages(demo: App) -> None:
    from dataclasses import replace

    plain = demo.digests().build(DEC20)
    assert "/mail/" not in plain.html and "工作台" not in plain.text
    linked = replace(demo.digests(), console="https://intake.example.org").build(DEC20)
    assert '<a href="https://intake.example.org/mail/7">M7</a>' in linked.html
    assert '<a href="https://intake.example.org/campaigns/idv-2020">在工作台查看各单位报送情况</a>' in linked.html
    assert '<a href="https://intake.example.org/review">工作台</a>' in linked.html
    assert "  工作台：https://intake.example.org/campaigns/idv-2020" in linked.text.splitlines()
