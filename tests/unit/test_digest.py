"""The staff digest over the demo's real pipeline output: content, files, the outbox row, the mail, and
how it renders in a real browser."""

from __future__ import annotations

import email
import io
import os
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from PIL import Image
from sqlmodel import select

from bot.bootstrap import App
from bot.cli.demo import run_demo
from bot.core.render.digest import progress
from bot.office.digest import write_digest
from bot.office.intake.ledger import Source
from storage import tables as t
from storage.db import session
from tests.fixtures import clients
from tests.fixtures.files import make_docx, make_jpeg

TZ = ZoneInfo("Asia/Shanghai")
DEC20 = datetime(2020, 12, 20, 9, 0, tzinfo=TZ)


@pytest.fixture
def demo(tmp_path: Path) -> App:
    application, _ = run_demo(tmp_path / "demo")
    return application


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
    from bot.core.render.digest import MAX_REVIEW, Arrivals, render_digest
    from bot.core.review import ReviewEntry
    from bot.office.status import unit_report

    entries = [ReviewEntry(f"F{n}", "unclassified_file", 1, "东城区文明办", "a@example.cn", "主题",
                           "2020-12-07T10:15:17+08:00", f"{n}.txt", "other") for n in range(1, MAX_REVIEW + 8)]
    report = unit_report(demo.engine, demo.roster, demo.config.campaigns[0])
    digest = render_digest(report, entries, Arrivals([], 0), None, DEC20, demo.config.campaigns[0], demo.templates)
    lines = digest.text.splitlines()
    assert f"三、待处理事项（{MAX_REVIEW + 7} 项）" in lines
    assert sum(1 for line in lines if line.startswith("  [F")) == MAX_REVIEW
    assert "  另有 7 项未列出，可用 intake review 查看。" in lines
    assert "另有 7 项未列出。" in digest.html and f"[F{MAX_REVIEW + 1}]" not in digest.text


def test_a_long_arrival_list_shows_the_first_ones_and_says_how_many_more(demo: App) -> None:
    from bot.core.render.digest import render_digest
    from bot.office.digest import arrivals_since
    from bot.office.status import unit_report

    everything = arrivals_since(demo.engine, None, DEC20)
    first_two = arrivals_since(demo.engine, None, DEC20, limit=2)
    assert (everything.total, len(everything.shown)) == (6, 6)
    assert (first_two.total, first_two.shown) == (6, everything.shown[:2])
    report = unit_report(demo.engine, demo.roster, demo.config.campaigns[0])
    digest = render_digest(report, [], first_two, None, DEC20, demo.config.campaigns[0], demo.templates)
    lines = digest.text.splitlines()
    assert "二、征集开始以来收到的邮件（6 封）" in lines
    assert "  另有 4 封未列出，可用 intake status 查看。" in lines
    assert "另有 4 封未列出" in digest.html
