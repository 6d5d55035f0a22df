"""One campaign's mailbox in a real Dovecot, `intake poll --once` as a subprocess, replies in a real SMTP sink."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.core.render.formats import filesize
from tests.e2e.harness import BOT_ADDRESS, Setup, body_text, write_config
from tests.e2e.servers import Dovecot, SmtpSink, append, create_folder, fetch_flags
from tests.fixtures import clients
from tests.fixtures.files import make_docx, make_jpeg, make_pdf

TZ = ZoneInfo("Asia/Shanghai")
TO = BOT_ADDRESS
PHOTO_A = make_jpeg(1_100_000, seed=11)
PHOTO_B = make_jpeg(1_150_000, seed=12)
PHOTO_C = make_jpeg(1_120_000, seed=13)
SMALL = make_jpeg(300_000, width=800, height=600, seed=14)
BRIEF = make_docx("东城区国际志愿者日活动简报", ["12月5日，东城区开展志愿服务活动。"])
CASE = make_pdf("典型事例：社区志愿服务队", "case study")


def when(month: int, day: int, hour: int = 10, year: int = 2020) -> datetime:
    return datetime(year, month, day, hour, tzinfo=TZ)


@pytest.fixture
def setup(tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink) -> Setup:
    config = write_config(tmp_path, dovecot, smtp_sink)
    return Setup(tmp_path, config, tmp_path / "data", dovecot, smtp_sink)


MAILS = {
    "unrelated": (
        clients.plain_mail,
        dict(
            from_addr="friend@qq.example",
            from_name="老同学",
            subject="周末一起吃饭吗",
            body="周六中午有空吗？",
            date=when(12, 8),
        ),
        when(12, 8),
    ),
    "foxmail": (
        clients.foxmail,
        dict(
            from_addr="dc-wmb@example.cn",
            from_name="东城区文明办",
            subject="东城区文明办报送国际志愿者日活动材料",
            body="您好，附件是我单位的活动简报和照片，请查收。",
            attachments=[
                ("东城区国际志愿者日志愿服务活动简报（12月5日）.docx", BRIEF),
                ("志愿服务现场照片一.jpg", PHOTO_A),
                ("志愿服务现场照片二.jpg", PHOTO_B),
            ],
            date=when(12, 10),
        ),
        when(12, 10),
    ),
    "outlook_small": (
        clients.outlook,
        dict(
            from_addr="nh-xcb@example.cn",
            from_name="南湖县委宣传部",
            subject="南湖县报送材料",
            body="附件为照片。",
            attachments=[("南湖县活动照片.jpg", SMALL), ("南湖县志愿服务简报.docx", BRIEF)],
            date=when(12, 11),
        ),
        when(12, 11),
    ),
    "iphone_unregistered": (
        clients.iphone,
        dict(
            from_addr="zhang.san@icloud.example",
            from_name="张三",
            subject="市志愿服务指导中心 照片",
            body="照片见附件",
            attachments=[("IMG_0001.JPG", PHOTO_C)],
            date=when(12, 12),
        ),
        when(12, 12),
    ),
    "nobody": (
        clients.netease_webmail,
        dict(
            from_addr="someone@163.example",
            from_name="",
            subject="活动材料",
            body="请查收。",
            attachments=[("现场.jpg", make_jpeg(1_100_000, seed=15))],
            date=when(12, 13),
        ),
        when(12, 13),
    ),
    "hostile": (
        clients.netease_webmail,
        dict(
            from_addr="xc-wmb@example.cn",
            from_name="西城区文明办",
            subject="西城区典型事例",
            body="请查收。",
            attachments=[("../../x.jpg", make_jpeg(1_100_000, seed=16)), ("典型事例.pdf", CASE)],
            date=when(12, 14),
        ),
        when(12, 14),
    ),
    "auto_reply": (
        clients.auto_reply,
        dict(
            from_addr="zyfw@example.cn",
            from_name="市志愿服务指导中心",
            subject="Re: 市志愿服务指导中心 照片",
            body="您好，我正在休假，1月4日返回。",
            date=when(12, 15),
        ),
        when(12, 15),
    ),
    "late": (
        clients.netease_webmail,
        dict(
            from_addr="xc-wmb@example.cn",
            from_name="西城区文明办",
            subject="西城区补报简报",
            body="补报。",
            attachments=[("西城区活动简报.docx", make_docx("西城区活动简报"))],
            date=when(12, 30),  # the Date header claims December; INTERNALDATE says January
        ),
        when(1, 2, year=2021),
    ),
}


def load(setup: Setup, names: list[str]) -> dict[str, tuple[int, bytes]]:
    loaded = {}
    for name in names:
        writer, args, internaldate = MAILS[name]
        raw = writer(to=TO, **args)
        loaded[name] = (append(setup.dovecot, raw, internaldate), raw)
    return loaded


def message_id_of(raw: bytes) -> str:
    import email

    return str(email.message_from_bytes(raw)["Message-ID"]).strip().strip("<>")


def test_a_campaign_mailbox_is_stored_by_unit_and_answered(setup: Setup) -> None:
    loaded = load(setup, list(MAILS))
    flags_before = fetch_flags(setup.dovecot)

    out = setup.intake("poll", "--once")
    assert "本轮收取 8 封" in out.stdout

    status = setup.status()
    by_mid = {m["message_id"]: m for m in status["messages"]}
    mid = {name: message_id_of(raw) for name, (_uid, raw) in loaded.items()}
    units = {u["name"]: u for u in status["units"]}

    # Unrelated everyday mail: untouched on the server, unanswered, nothing of it kept.
    assert mid["unrelated"] not in by_mid
    assert status["campaign"]["unrelated_seen"] == 1
    flags_after = fetch_flags(setup.dovecot)
    assert flags_after[loaded["unrelated"][0]] == flags_before[loaded["unrelated"][0]] == ()
    # Campaign mail: our private keyword, and still unread for the person who owns the mailbox.
    for name in ("foxmail", "outlook_small", "iphone_unregistered", "nobody", "hostile", "auto_reply", "late"):
        assert flags_after[loaded[name][0]] == ("$IntakeDone",), name

    # Every campaign message archived raw, byte for byte; the unrelated one not at all.
    for name, (_uid, raw) in loaded.items():
        digest = hashlib.sha256(raw).hexdigest()
        archived = setup.data / "raw" / digest[:2] / f"{digest}.eml"
        if name == "unrelated":
            assert not archived.exists()
        else:
            assert archived.read_bytes() == raw, name

    # Foxmail, GBK with RFC 2047 names: complete, stored by unit and category.
    fox = by_mid[mid["foxmail"]]
    assert (fox["unit"], fox["status"], fox["late"], fox["replied"]) == ("东城区文明办", "accepted", False, True)
    assert [(f["name"], f["category"]) for f in fox["files"]] == [
        ("东城区国际志愿者日志愿服务活动简报（12月5日）.docx", "brief"),
        ("志愿服务现场照片一.jpg", "photo"),
        ("志愿服务现场照片二.jpg", "photo"),
    ]
    assert fox["files"][1]["path"] == "idv-2020/东城区文明办/photo/志愿服务现场照片一.jpg"
    assert (setup.data / fox["files"][1]["path"]).read_bytes() == PHOTO_A
    assert units["东城区文明办"]["counts"] == {"brief": 1, "photo": 2, "case_study": 0, "other": 0}
    assert units["东城区文明办"]["missing"] == []

    # Too-small photo: named in the problem list, not counted.
    small = by_mid[mid["outlook_small"]]
    assert small["status"] == "needs_attention"
    assert [(p["code"], p["file"]) for p in small["problems"]] == [("photo_too_small", "南湖县活动照片.jpg")]
    assert units["南湖县委宣传部"]["counts"]["photo"] == 0 and units["南湖县委宣传部"]["missing"] == ["photo"]

    # Unregistered sender naming its unit: accepted, marked for review.
    iphone = by_mid[mid["iphone_unregistered"]]
    assert (iphone["unit"], iphone["status"], iphone["review"]) == (
        "市志愿服务指导中心",
        "accepted",
        ["unregistered-sender"],
    )
    assert iphone["files"][0]["category"] == "photo"

    # Nobody identifiable: kept unassigned, files kept, sender asked.
    nobody = by_mid[mid["nobody"]]
    assert (nobody["unit"], nobody["status"], nobody["replied"]) == (None, "needs_attention", True)
    assert nobody["files"][0]["path"] == "idv-2020/_unassigned/photo/现场.jpg"

    # Hostile file name: stored inside the data folder under a safe name.
    hostile = by_mid[mid["hostile"]]
    assert [f["path"] for f in hostile["files"]] == [
        "idv-2020/西城区文明办/photo/x.jpg",
        "idv-2020/西城区文明办/case_study/典型事例.pdf",
    ]
    assert not (setup.dir / "x.jpg").exists() and not (setup.data.parent.parent / "x.jpg").exists()

    # Auto-reply: recorded, never answered.
    auto = by_mid[mid["auto_reply"]]
    assert (auto["status"], auto["replied"], auto["automatic"]) == ("ignored", False, "auto-reply")

    # Late mail: stored and marked late.
    late = by_mid[mid["late"]]
    assert (late["late"], late["status"], late["replied"]) == (True, "accepted", True)
    assert units["西城区文明办"]["late"] is True

    # Replies: one per answered message, threaded, marked as automatic, in Chinese.
    replies = {r["In-Reply-To"]: r for r in setup.replies()}
    assert sorted(replies) == sorted(
        f"<{mid[n]}>" for n in ("foxmail", "outlook_small", "iphone_unregistered", "nobody", "hostile", "late")
    )
    for reply in replies.values():
        assert reply["Auto-Submitted"] == "auto-replied"
        assert reply["X-Report-Intake"] == "idv-2020"
        assert reply["Subject"].startswith("Re: ")
    receipt = body_text(replies[f"<{mid['foxmail']}>"])
    assert f"2. 志愿服务现场照片一.jpg（照片，{filesize(len(PHOTO_A))}）" in receipt
    assert "通知要求的材料均已收齐" in receipt
    assert replies[f"<{mid['foxmail']}>"]["To"] == "东城区文明办 <dc-wmb@example.cn>"
    problems = body_text(replies[f"<{mid['outlook_small']}>"])
    assert f"照片“南湖县活动照片.jpg”大小为{filesize(len(SMALL))}，小于要求的1.0 MB" in problems
    assert "以下文件已正常登记：\n  - 南湖县志愿服务简报.docx" in problems
    assert "尚缺：照片" in problems
    ask = body_text(replies[f"<{mid['nobody']}>"])
    assert "请直接回复本邮件，写明单位全称" in ask
    assert "晚于报送截止时间（12月31日18:00）" in body_text(replies[f"<{mid['late']}>"])
    assert all(m.rcpt_tos != ("friend@qq.example",) for m in setup.sink.messages)

    # A second cycle finds nothing new and sends nothing again.
    out = setup.intake("poll", "--once")
    assert "本轮收取 0 封" in out.stdout
    assert len(setup.sink.messages) == 6


def test_the_same_message_delivered_twice_is_stored_and_answered_once(setup: Setup) -> None:
    writer, args, internaldate = MAILS["foxmail"]
    raw = writer(to=TO, **args)
    append(setup.dovecot, raw, internaldate)
    setup.intake("poll", "--once")
    append(setup.dovecot, raw, internaldate)  # delivered again, a new UID
    setup.intake("poll", "--once")
    status = setup.status()
    assert [m["status"] for m in status["messages"]] == ["accepted", "duplicate"]
    unit = next(u for u in status["units"] if u["name"] == "东城区文明办")
    assert unit["counts"]["photo"] == 2 and len(unit["files"]) == 3
    assert len(setup.sink.messages) == 1
    stored = sorted(p.name for p in (setup.data / "idv-2020" / "东城区文明办").rglob("*") if p.is_file())
    assert len(stored) == 3


def test_after_a_uidvalidity_change_nothing_is_processed_twice(setup: Setup) -> None:
    load(setup, ["foxmail", "unrelated"])
    setup.intake("poll", "--once")
    setup.dovecot.reset_uidvalidity()
    load(setup, ["outlook_small"])
    out = setup.intake("poll", "--once")
    assert "本轮收取 1 封" in out.stdout
    status = setup.status()
    assert sorted(m["status"] for m in status["messages"]) == ["accepted", "needs_attention"]
    assert len(setup.sink.messages) == 2


def test_a_reply_the_smtp_server_refuses_for_now_is_kept_and_sent_on_the_next_run(setup: Setup) -> None:
    load(setup, ["foxmail"])
    setup.sink.refuse_with(451)
    out = setup.intake("poll", "--once")
    assert "待重试 1 封" in out.stdout
    assert setup.status()["messages"][0]["replied"] is False
    setup.sink.refuse_with(None)
    # Backoff: the retry is due a minute later.
    setup.intake("--now", "2030-01-01T00:00:00+08:00", "poll", "--once")
    assert len(setup.sink.messages) == 1
    assert setup.status()["messages"][0]["replied"] is True


def test_processed_mail_is_moved_when_a_processed_folder_is_configured(
    tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = write_config(tmp_path, dovecot, smtp_sink)
    text = config.read_text(encoding="utf-8")
    text = text.replace('folder = "INBOX"', 'folder = "INBOX"\nprocessed_folder = "已处理"')
    config.write_text(text, encoding="utf-8")
    setup = Setup(tmp_path, config, tmp_path / "data", dovecot, smtp_sink)
    loaded = load(setup, ["unrelated", "foxmail"])
    setup.intake("poll", "--once")
    assert list(fetch_flags(dovecot)) == [loaded["unrelated"][0]]
    assert len(fetch_flags(dovecot, folder="已处理")) == 1


def test_the_bot_identifies_itself_with_the_imap_id_command(setup: Setup) -> None:
    # NetEase 163/126 refuse SELECT ("Unsafe Login") from clients that do not send ID.
    setup.intake("poll", "--once")
    assert "ID sent: name=report-intake, version=0.1.0" in setup.dovecot.log_text()


def test_mail_filed_under_chinese_folders_is_polled_from_each_configured_folder(
    tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    # 163 files some incoming mail under 垃圾邮件 or 订阅邮件 (modified UTF-7 on the wire: &V4NXPpCuTvY-).
    create_folder(dovecot, "垃圾邮件")
    config = write_config(tmp_path, dovecot, smtp_sink)
    text = config.read_text(encoding="utf-8").replace(
        'folder = "INBOX"', 'folders = ["INBOX", "垃圾邮件", "不存在的文件夹"]')
    config.write_text(text, encoding="utf-8")
    setup = Setup(tmp_path, config, tmp_path / "data", dovecot, smtp_sink)
    writer, args, internaldate = MAILS["foxmail"]
    uid = append(dovecot, writer(to=TO, **args), internaldate, folder="垃圾邮件")
    out = setup.intake("poll", "--once", check=False)
    assert out.returncode == 1  # the missing folder is reported, the others are still read
    assert "不存在的文件夹" in out.stdout
    assert "本轮收取 1 封：入库 1 封" in out.stdout
    assert fetch_flags(dovecot, folder="垃圾邮件")[uid] == ("$IntakeDone",)
    assert [m["unit"] for m in setup.status()["messages"]] == ["东城区文明办"]


def test_a_reply_refused_for_good_is_marked_failed_and_not_retried(setup: Setup) -> None:
    load(setup, ["foxmail"])
    setup.sink.refuse_with(550, stage="RCPT")
    out = setup.intake("poll", "--once")
    assert "发送失败 1 封" in out.stdout
    setup.sink.refuse_with(None)
    setup.intake("--now", "2030-01-01T00:00:00+08:00", "poll", "--once")
    assert setup.sink.messages == [] and setup.status()["messages"][0]["replied"] is False


def test_a_mail_server_that_is_down_gives_a_clear_error_and_loses_nothing(setup: Setup) -> None:
    load(setup, ["foxmail"])
    setup.dovecot.stop()
    out = setup.intake("poll", "--once", check=False)
    assert out.returncode == 1
    assert "邮箱连接失败" in out.stdout and "Traceback" not in out.stdout + out.stderr
    setup.dovecot.start()
    assert "本轮收取 1 封：入库 1 封" in setup.intake("poll", "--once").stdout


def test_a_mail_server_restarting_mid_run_is_reconnected_and_nothing_is_lost(setup: Setup) -> None:
    import subprocess
    import time

    from tests.e2e.harness import INTAKE

    with setup.config.open("a", encoding="utf-8") as handle:  # 30 mails from one address: not a loop here
        handle.write("\n[replies]\nmax_per_sender = 100\n")
    for i in range(30):
        raw = clients.netease_webmail(
            from_addr="dc-wmb@example.cn", from_name="东城区文明办", to=TO, subject=f"东城区第{i}批", body="x",
            attachments=[(f"{i}.jpg", make_jpeg(1_100_000, seed=500 + i))], date=when(12, 10))
        append(setup.dovecot, raw, when(12, 10))
    proc = subprocess.Popen([str(INTAKE), "--config", str(setup.config), "-v", "poll", "--once"], cwd=setup.dir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The restart lands while messages are being fetched: once the first one is archived, whatever the time
    # start-up took (the schema, the database server).
    deadline = time.monotonic() + 60
    while not any((setup.data / "raw").rglob("*.eml")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    setup.dovecot.restart()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert "reconnecting in" in err
    status = setup.status()
    assert len(status["messages"]) == 30 and all(m["replied"] for m in status["messages"])
    assert sum(len(m["files"]) for m in status["messages"]) == 30
