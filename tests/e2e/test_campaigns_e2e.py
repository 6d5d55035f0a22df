"""Two notices collected in one mailbox, end to end: mail polled from a real Dovecot with `intake poll --once`
(an injected clock), replies through a real SMTP sink, staff commands as a user types them.

Campaign A (idv-2020, 并文明办〔2020〕65号) asks every unit the roster requires; campaign B (case-2020,
并文明办〔2020〕71号) asks the 志愿服务站 group and 市志愿服务指导中心, so 市志愿服务指导中心 and
河西街道志愿服务站 are asked by both, 东城区文明办 and 西城区文明办 by A only, 滨江 (not required by the roster)
by B only. A opens 12月1日, B 12月3日; every mail arrives while both are open, except the last, after staff
closed A. One scenario runs once for the module (three polls, a staff assignment, a closing); each test reads
what it left behind.
"""

from __future__ import annotations

import email
import hashlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.harness import BOT_ADDRESS, Setup, body_text, parse, storage_section
from tests.e2e.servers import Dovecot, SmtpSink, append, dovecot_missing_reason, fetch_flags, list_uids
from tests.fixtures import clients
from tests.fixtures.files import make_docx, make_jpeg, make_pdf, make_zip

TZ = ZoneInfo("Asia/Shanghai")
TO = BOT_ADDRESS
A, B = "idv-2020", "case-2020"
A_NOTICE, B_NOTICE = "并文明办〔2020〕65号", "并文明办〔2020〕71号"
A_TITLE = f"2020年国际志愿者日主题宣传和实践活动（{A_NOTICE}）"
B_TITLE = f"2020年度志愿服务优秀案例征集（{B_NOTICE}）"
UNSORTED = "未归类"

UNITS = """单位名称,别名,邮箱,分组,是否必报
东城区文明办,东城文明办,dc-wmb@example.cn,区县,是
西城区文明办,西城文明办,xc-wmb@example.cn,区县,是
南湖县委宣传部,南湖县宣传部,nh-xcb@example.cn,区县,是
市志愿服务指导中心,志愿服务指导中心,zyfw@example.cn,部门,是
河西街道志愿服务站,河西志愿服务站,hx-zyz@example.cn,志愿服务站,是
滨江街道新时代文明实践站,滨江实践站,bj-sjz@example.cn,志愿服务站,否
"""

HEXI, CENTRE, DONGCHENG, XICHENG = "河西街道志愿服务站", "市志愿服务指导中心", "东城区文明办", "西城区文明办"
BINJIANG = "滨江街道新时代文明实践站"  # the roster says it need not submit; B names its group, so B asks it
ADDRESS = {HEXI: "hx-zyz@example.cn", CENTRE: "zyfw@example.cn", DONGCHENG: "dc-wmb@example.cn",
           XICHENG: "xc-wmb@example.cn", BINJIANG: "bj-sjz@example.cn"}


def when(day: int, hour: int) -> datetime:
    return datetime(2020, 12, day, hour, tzinfo=TZ)


def now(day: int, hour: int) -> str:
    return when(day, hour).isoformat()


POLL_1, POLL_2, ASSIGN_AT, CLOSE_AT, POLL_3 = now(10, 9), now(10, 11), now(11, 9), now(15, 9), now(16, 11)

PHOTOS = [make_jpeg(1_100_000, seed=40 + n) for n in range(7)]
BRIEF_HEXI = make_docx("河西街道志愿服务站活动简报", ["12月5日，河西街道开展志愿服务活动。"])
BRIEF_DC = make_docx("东城区活动简报", ["12月5日，东城区开展志愿服务活动。"])
BRIEF_XC = make_docx("西城区活动简报", ["12月5日，西城区开展志愿服务活动。"])
CASE_CENTRE = make_pdf("典型案例：社区志愿服务队", "case study")
CASE_HEXI = make_pdf("河西街道志愿服务站先进事迹", "deeds")
CASE_IN_ZIP = make_docx("志愿服务典型案例", ["敬老院志愿服务队的做法。"])
ZIPPED = make_zip({"指导中心志愿服务典型案例.docx": CASE_IN_ZIP})

CONFIG = """
[imap]
host = "{host}"
port = {port}
security = "none"
username = "{user}"
password = "{password}"
timeout_seconds = 20
retry_delays = [0.5, 1]

[smtp]
host = "{smtp_host}"
port = {smtp_port}
security = "none"
username = "bot"
password = "x"
from_address = "{bot}"
from_name = "市文明办材料收集"
timeout_seconds = 20

{storage}
[[campaigns]]
name = "2020年国际志愿者日主题宣传和实践活动"
slug = "idv-2020"
notice = "并文明办〔2020〕65号"
opens = 2020-12-01T00:00:00+08:00
deadline = 2020-12-31T18:00:00+08:00
timezone = "Asia/Shanghai"
required = ["brief", "photo"]
late_days = 30
keywords = ["国际志愿者日"]

[[campaigns]]
name = "2020年度志愿服务优秀案例征集"
slug = "case-2020"
notice = "并文明办〔2020〕71号"
opens = 2020-12-03T00:00:00+08:00
deadline = 2020-12-25T18:00:00+08:00
timezone = "Asia/Shanghai"
required = ["case_study"]
late_days = 10
keywords = ["典型案例"]
units = ["志愿服务站", "市志愿服务指导中心"]

[units]
file = "units.csv"

[staff]
digest_to = ["office@example.cn"]
"""


def mail(name: str, unit: str, subject: str, body: str, at: datetime, files: list[tuple[str, bytes]],
         **extra: Any) -> tuple[str, bytes, datetime]:
    raw = clients.foxmail(from_addr=ADDRESS[unit], from_name=unit, to=TO, subject=subject, body=body, date=at,
                          attachments=files, message_id=f"{name}@example.cn", **extra)
    return name, raw, at


# Polled first: each decided by one thing only (the reason status --json records).
FIRST = [
    mail("a-keyword", HEXI, "河西街道志愿服务站报送国际志愿者日活动材料", "您好，附件是我站的活动简报和照片，请查收。",
         when(7, 9), [("河西站活动简报.docx", BRIEF_HEXI), ("河西站现场照片.jpg", PHOTOS[0])]),
    mail("b-keyword", CENTRE, "市志愿服务指导中心报送典型案例", "您好，附件是我中心的案例材料，请查收。",
         when(7, 10), [("社区志愿服务队案例.pdf", CASE_CENTRE)]),
    mail("b-notice-body", HEXI, "河西街道志愿服务站报送材料",
         f"您好：\n根据{B_NOTICE}通知要求，现报送我站材料，请查收。", when(7, 15),
         [("河西站先进事迹.pdf", CASE_HEXI)]),
    mail("b-zip", CENTRE, "市志愿服务指导中心补充材料", "您好，附件是压缩包，请查收。", when(8, 10),
         [("材料.zip", ZIPPED)]),
    mail("a-only-open", DONGCHENG, "东城区文明办报送材料", "您好，附件是我单位的活动简报和照片，请查收。",
         when(8, 11), [("东城区活动简报.docx", BRIEF_DC), ("东城区现场照片.jpg", PHOTOS[1])]),
    mail("tie", HEXI, f"河西街道志愿服务站报送{A_NOTICE}、{B_NOTICE}材料", "您好，请查收。", when(8, 15),
         [("河西站照片.jpg", PHOTOS[2])]),
    mail("several-open", CENTRE, "市志愿服务指导中心报送材料", "您好，请查收。", when(9, 10),
         [("指导中心活动照片.jpg", PHOTOS[3])]),
    mail("b-only-open", BINJIANG, "滨江街道新时代文明实践站报送材料", "您好，请查收。", when(9, 11),
         [("滨江站活动照片.jpg", PHOTOS[6])]),
    mail("b-not-asked", DONGCHENG, "东城区文明办报送典型案例照片", "您好，请查收。", when(9, 14),
         [("东城区活动照片二.jpg", PHOTOS[1])]),
]
UNRELATED = ("unrelated", clients.plain_mail(from_addr="friend@qq.example", from_name="老同学", to=TO,
                                             subject="周末一起吃饭吗", body="周六中午有空吗？", date=when(9, 12),
                                             message_id="unrelated@qq.example"), when(9, 12))


@dataclass
class World:
    setup: Setup
    raw: dict[str, bytes]  # name → the mail as appended
    uid: dict[str, int]  # name → its UID in INBOX
    flags_before: dict[int, tuple[str, ...]]  # INBOX flags before the first poll
    flags_after: dict[int, tuple[str, ...]]  # ... after the last
    inbox_after: list[int]
    before_assign: dict[str, Any]  # status --json after the second poll
    after: dict[str, Any]  # status --json at the end
    only_a: dict[str, Any]  # status --json --campaign idv-2020 at the end
    assign_out: str
    close_out: str
    unsorted_before_assign: list[str]  # files on disk under 未归类/ before the assignment

    def sent(self) -> list[EmailMessage]:
        return [parse(m) for m in self.setup.sink.messages]

    def replies_to(self, name: str) -> list[EmailMessage]:
        return [m for m in self.sent() if str(m["In-Reply-To"]) == f"<{name}@example.cn>"]


def files_under(data: Path, top: str) -> list[str]:
    return sorted(str(p.relative_to(data)) for p in (data / top).rglob("*") if p.is_file())


def messages_by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    every = [m for c in report["campaigns"] for m in c["messages"]] + report["unsorted"]
    return {m["message_id"].split("@")[0]: m for m in every}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    reason = dovecot_missing_reason()
    if reason is not None:
        if os.environ.get("INTAKE_REQUIRE_E2E") == "1":
            pytest.fail(f"INTAKE_REQUIRE_E2E=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    directory = tmp_path_factory.mktemp("campaigns")
    dovecot, sink = Dovecot(), SmtpSink()
    try:
        dovecot.start()
        sink.start()
        yield run_scenario(directory, dovecot, sink)
    finally:
        sink.stop()
        dovecot.stop()
        if dovecot.log_path.exists():
            shutil.copyfile(dovecot.log_path, directory / "dovecot.log")
        dovecot.cleanup()


def run_scenario(directory: Path, dovecot: Dovecot, sink: SmtpSink) -> World:
    (directory / "units.csv").write_text(UNITS, encoding="utf-8")
    config = directory / "config.toml"
    config.write_text(CONFIG.format(storage=storage_section(), host=dovecot.host, port=dovecot.port, user=dovecot.user,
                                    password=dovecot.password, smtp_host=sink.host, smtp_port=sink.port,
                                    bot=BOT_ADDRESS), encoding="utf-8")
    setup = Setup(directory, config, directory / "data", dovecot, sink)
    raw: dict[str, bytes] = {}
    uid: dict[str, int] = {}

    def deliver(name: str, message: bytes, at: datetime) -> None:
        raw[name], uid[name] = message, append(dovecot, message, at)

    for name, message, at in [*FIRST, UNRELATED]:
        deliver(name, message, at)
    flags_before = fetch_flags(dovecot)
    setup.intake("--now", POLL_1, "poll", "--once")

    # A reply to A's receipt of `a-keyword`, with more photos and no campaign words.
    receipt_id = str(next(m for m in setup.replies() if str(m["In-Reply-To"]) == "<a-keyword@example.cn>")
                     ["Message-ID"])
    deliver(*mail("thread", HEXI, "补充两张照片", "您好，再补充两张照片。", when(10, 10),
                  [("补充照片一.jpg", PHOTOS[4]), ("补充照片二.jpg", PHOTOS[5])],
                  extra_headers={"In-Reply-To": receipt_id, "References": receipt_id}))
    setup.intake("--now", POLL_2, "poll", "--once")
    before_assign = setup.intake_json("--now", POLL_2, "status", "--json")
    unsorted_before = files_under(setup.data, UNSORTED)

    several = messages_by_name(before_assign)["several-open"]["id"]
    assign_out = setup.intake("--now", ASSIGN_AT, "assign", f"M{several}", "--campaign", B, "--notify",
                              "--by", "王芳").stdout
    close_out = setup.intake("--now", CLOSE_AT, "campaigns", "close", A, "--by", "王芳").stdout

    deliver(*mail("closed", XICHENG, "西城区文明办报送国际志愿者日活动材料", "您好，附件是我单位的简报和照片。",
                  when(16, 10), [("西城区活动简报.docx", BRIEF_XC), ("西城区现场照片.jpg", PHOTOS[0])]))
    setup.intake("--now", POLL_3, "poll", "--once")
    return World(setup, raw, uid, flags_before, fetch_flags(dovecot), list_uids(dovecot), before_assign,
                 setup.intake_json("--now", POLL_3, "status", "--json"),
                 setup.intake_json("--now", POLL_3, "status", "--json", "--campaign", A),
                 assign_out, close_out, unsorted_before)


# -- helpers for the assertions ----------------------------------------------------------------------------

PREFIX = {A: "IDV2020", B: "CASE2020"}
TITLE = {A: A_TITLE, B: B_TITLE}
DOMAIN = BOT_ADDRESS.rsplit("@", 1)[1]


def subject_of(world: World, name: str) -> str:
    return str(parse_raw(world.raw[name])["Subject"])


def parse_raw(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def files_of(message: dict[str, Any]) -> list[tuple[str, str, bool]]:
    return [(f["path"], f["category"], f["counted"]) for f in message["files"]]


def report_of(report: dict[str, Any], slug: str) -> dict[str, Any]:
    return next(c for c in report["campaigns"] if c["campaign"]["slug"] == slug)


def unit_of(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(u for u in report["units"] if u["name"] == name)


def counts(brief: int = 0, photo: int = 0, case_study: int = 0) -> dict[str, int]:
    return {"brief": brief, "photo": photo, "case_study": case_study, "other": 0}


def archived(world: World, name: str) -> Path:
    digest = hashlib.sha256(world.raw[name]).hexdigest()
    return world.setup.data / "raw" / digest[:2] / f"{digest}.eml"


# -- 1. which campaign a mail is filed under, and why --------------------------------------------------------

ROUTED = {  # name → (campaign, reason, unit, files (path, category, counted))
    "a-keyword": (A, "keyword:subject", HEXI, [
        (f"{A}/{HEXI}/brief/河西站活动简报.docx", "brief", True),
        (f"{A}/{HEXI}/photo/河西站现场照片.jpg", "photo", True)]),
    "b-keyword": (B, "keyword:subject", CENTRE, [
        (f"{B}/{CENTRE}/case_study/社区志愿服务队案例.pdf", "case_study", True)]),
    "b-notice-body": (B, "notice:body", HEXI, [
        (f"{B}/{HEXI}/case_study/河西站先进事迹.pdf", "case_study", True)]),
    "b-zip": (B, "keyword:files", CENTRE, [
        (f"{B}/{CENTRE}/case_study/指导中心志愿服务典型案例.docx", "case_study", True)]),
    "a-only-open": (A, "only-open", DONGCHENG, [
        (f"{A}/{DONGCHENG}/brief/东城区活动简报.docx", "brief", True),
        (f"{A}/{DONGCHENG}/photo/东城区现场照片.jpg", "photo", True)]),
    "b-only-open": (B, "only-open", BINJIANG, [
        (f"{B}/{BINJIANG}/photo/滨江站活动照片.jpg", "photo", True)]),
    "b-not-asked": (B, "keyword:subject", DONGCHENG, [
        (f"{B}/{DONGCHENG}/photo/东城区活动照片二.jpg", "photo", True)]),
    "thread": (A, "thread", HEXI, [
        (f"{A}/{HEXI}/photo/补充照片一.jpg", "photo", True),
        (f"{A}/{HEXI}/photo/补充照片二.jpg", "photo", True)]),
}


def test_each_mail_is_filed_under_the_campaign_it_names_answers_or_alone_asks(world: World) -> None:
    by_name = messages_by_name(world.after)
    for name, (slug, reason, unit, files) in ROUTED.items():
        m = by_name[name]
        assert (m["campaign"], m["campaign_reason"], m["unit"], m["status"], m["reply"], m["review"],
                m["problems"]) == (slug, reason, unit, "accepted", "receipt", [], []), name
        assert files_of(m) == files, name
        assert m["reference"] == f"{PREFIX[slug]}-{m['id']:04d}", name
        assert m in report_of(world.after, slug)["messages"], name
        for path, _category, _counted in files:
            assert (world.setup.data / path).is_file(), path
        # One receipt, about this campaign's notice, quoting this campaign's reference.
        replies = world.replies_to(name)
        assert [(str(r["To"]), str(r["Subject"]), str(r["Message-ID"])) for r in replies] == [(
            f"{unit} <{ADDRESS[unit]}>", f"Re: {subject_of(world, name)} [{PREFIX[slug]}-{m['id']:04d}]",
            f"<intake.{slug}.{m['id']}.receipt@{DOMAIN}>")], name
        text = body_text(replies[0])
        assert f"您好！{TITLE[slug]}的报送材料已收到，请查收本回执。" in text, name
        assert f"回执编号 {PREFIX[slug]}-{m['id']:04d}" in text, name
        other = B if slug == A else A
        assert TITLE[other] not in text, name
    assert (world.setup.data / f"{B}/{CENTRE}/case_study/指导中心志愿服务典型案例.docx").read_bytes() == CASE_IN_ZIP
    assert (world.setup.data / f"{A}/{HEXI}/photo/补充照片二.jpg").read_bytes() == PHOTOS[5]

    # The thread: the follow-up answered A's receipt of `a-keyword` (its Message-ID, from the sink).
    receipt = world.replies_to("a-keyword")[0]
    follow_up = parse_raw(world.raw["thread"])
    assert str(follow_up["In-Reply-To"]) == str(receipt["Message-ID"]) == \
        f"<intake.{A}.{by_name['a-keyword']['id']}.receipt@{DOMAIN}>"
    thread_receipt = body_text(world.replies_to("thread")[0])
    assert "  1. 补充照片一.jpg（照片，" in thread_receipt and "  2. 补充照片二.jpg（照片，" in thread_receipt
    assert "  活动简报：1 份\n  照片：3 份\n" in thread_receipt

    # What each campaign counts for the units both ask: only what was filed under it.
    a, b = report_of(world.after, A), report_of(world.after, B)
    assert unit_of(a, HEXI)["counts"] == counts(brief=1, photo=3)
    assert unit_of(b, HEXI)["counts"] == counts(case_study=1)
    assert unit_of(a, CENTRE)["counts"] == counts()
    assert unit_of(b, CENTRE)["counts"] == counts(photo=1, case_study=2)  # the photo: assigned by staff
    assert unit_of(a, DONGCHENG)["counts"] == counts(brief=1, photo=1)
    assert (unit_of(a, DONGCHENG)["required"], unit_of(b, DONGCHENG)["required"]) == (True, False)
    assert (unit_of(a, BINJIANG)["required"], unit_of(b, BINJIANG)["required"]) == (False, True)
    assert (a["campaign"]["units_required"], b["campaign"]["units_required"]) == (5, 3)


def test_a_receipt_tells_the_unit_what_its_own_campaign_still_asks_of_it(world: World) -> None:
    """The state a receipt reports is the campaign's view of the unit, as status --json gives it: B asks 滨江 (by
    its group) though the roster says it need not submit, and does not ask 东城区文明办, which the roster does."""
    b = report_of(world.after, B)
    binjiang, dongcheng = unit_of(b, BINJIANG), unit_of(b, DONGCHENG)
    assert (binjiang["required"], binjiang["counts"], binjiang["missing"]) == (True, counts(photo=1), ["case_study"])
    assert (dongcheng["required"], dongcheng["counts"], dongcheng["missing"]) == (False, counts(photo=1), [])

    told = body_text(world.replies_to("b-only-open")[0])
    assert f"贵单位（{BINJIANG}）目前已报送：\n" in told
    assert "尚缺：典型事例、经验总结。请于12月25日18:00前补报。" in told
    assert "通知要求的材料均已收齐" not in told

    told = body_text(world.replies_to("b-not-asked")[0])
    assert f"贵单位（{DONGCHENG}）目前已报送：\n" in told
    assert "尚缺" not in told


# -- 2. mail that could answer either campaign; staff file it --------------------------------------------------

ASKED_LINES = (
    f"  1. {A_TITLE}（报送截止时间：12月31日18:00）\n"
    f"  2. {B_TITLE}（报送截止时间：12月25日18:00）\n"
)


def test_mail_naming_both_campaigns_or_neither_is_kept_unsorted_and_the_unit_asked(world: World) -> None:
    before = world.before_assign
    unsorted = {m["message_id"].split("@")[0]: m for m in before["unsorted"]}
    assert list(unsorted) == ["tie", "several-open"]
    expected = {
        "tie": (HEXI, "ask:tie", [(f"{UNSORTED}/{HEXI}/photo/河西站照片.jpg", "photo", False)]),
        "several-open": (CENTRE, "ask:several-open",
                         [(f"{UNSORTED}/{CENTRE}/photo/指导中心活动照片.jpg", "photo", False)]),
    }
    for name, (unit, reason, files) in expected.items():
        m = unsorted[name]
        assert (m["campaign"], m["campaign_reason"], m["unit"], m["status"], m["reply"], m["review"],
                m["replies"]) == (None, reason, unit, "needs_attention", "ask_campaign", ["unsorted"],
                                  [{"kind": "ask_campaign", "state": "sent"}]), name
        assert files_of(m) == files, name
        assert archived(world, name).read_bytes() == world.raw[name], name
        # Asked once which notice it answers, both notices listed; no reference (no campaign yet). (The
        # receipt `several-open` gets once staff filed it is the next test's.)
        replies = [r for r in world.replies_to(name) if ".ask_campaign" in str(r["Message-ID"])]
        assert [(str(r["To"]), str(r["Subject"]), str(r["Message-ID"])) for r in replies] == [(
            f"{unit} <{ADDRESS[unit]}>", f"Re: {subject_of(world, name)}",
            f"<intake.unsorted.{m['id']}.ask_campaign@{DOMAIN}>")], name
        text = body_text(replies[0])
        assert "系统无法确定这封邮件报送的是哪一项：\n" + ASKED_LINES in text, name
        assert f"本次收到的文件：\n  1. {files[0][0].rsplit('/', 1)[1]}（照片，" in text, name
    assert world.unsorted_before_assign == [f"{UNSORTED}/{CENTRE}/photo/指导中心活动照片.jpg",
                                            f"{UNSORTED}/{HEXI}/photo/河西站照片.jpg"]
    # Counted nowhere while unsorted.
    for slug in (A, B):
        report = report_of(before, slug)
        assert not {"tie", "several-open"} & {m["message_id"].split("@")[0] for m in report["messages"]}
    assert unit_of(report_of(before, A), HEXI)["counts"] == counts(brief=1, photo=3)
    assert unit_of(report_of(before, B), CENTRE)["counts"] == counts(case_study=2)


def test_staff_assign_moves_unsorted_mail_under_the_campaign_and_the_unit_gets_a_receipt(world: World) -> None:
    several = messages_by_name(world.after)["several-open"]
    n = several["id"]
    assert f"邮件 M{n} 已归入通知 {B}（原为：-），文件已移到该通知下。" in world.assign_out
    assert "已发出 1 封邮件。" in world.assign_out
    assert several in report_of(world.after, B)["messages"]
    assert (several["campaign"], several["campaign_reason"], several["unit"], several["status"], several["reply"],
            several["review"]) == (B, "staff", CENTRE, "accepted", "receipt", [])
    assert several["replies"] == [{"kind": "ask_campaign", "state": "sent"}, {"kind": "receipt", "state": "sent"}]
    new_path = f"{B}/{CENTRE}/photo/指导中心活动照片.jpg"
    assert files_of(several) == [(new_path, "photo", True)]
    assert (world.setup.data / new_path).read_bytes() == PHOTOS[3]
    assert not (world.setup.data / f"{UNSORTED}/{CENTRE}/photo/指导中心活动照片.jpg").exists()
    assert files_under(world.setup.data, UNSORTED) == [f"{UNSORTED}/{HEXI}/photo/河西站照片.jpg"]
    assert [m["message_id"] for m in world.after["unsorted"]] == ["tie@example.cn"]

    receipt = world.replies_to("several-open")[-1]
    assert (str(receipt["To"]), str(receipt["Subject"]), str(receipt["Message-ID"])) == (
        f"{CENTRE} <{ADDRESS[CENTRE]}>", f"Re: {subject_of(world, 'several-open')} [CASE2020-{n:04d}]",
        f"<intake.{B}.{n}.receipt.2@{DOMAIN}>")
    text = body_text(receipt)
    assert f"您好！{B_TITLE}的报送材料已收到，请查收本回执。" in text
    assert B_NOTICE in text and A_NOTICE not in text
    assert "  1. 指导中心活动照片.jpg（照片，" in text
    assert "  照片：1 份\n  典型事例、经验总结：2 份\n" in text
    assigned = [a for a in report_of(world.after, B)["actions"] if a["command"] == "assign"]
    assert [(a["message"], a["actor"], a["detail"]["campaign"], a["detail"]["before_campaign"]) for a in assigned] == [
        (n, "王芳", B, None)]


# -- 3. a closed campaign -------------------------------------------------------------------------------------

def test_mail_for_a_closed_campaign_is_kept_uncounted_and_the_unit_told(world: World) -> None:
    assert f"通知 {A} 已于 2020-12-15 09:00 停止收取材料" in world.close_out
    a = report_of(world.after, A)
    assert a["campaign"]["closed"] is True
    assert datetime.fromisoformat(a["campaign"]["closes"]) == datetime.fromisoformat(CLOSE_AT)
    assert report_of(world.before_assign, A)["campaign"]["closed"] is False
    assert report_of(world.after, B)["campaign"]["closed"] is False

    closed = messages_by_name(world.after)["closed"]
    files = [(f"{A}/{XICHENG}/brief/西城区活动简报.docx", "brief", False),
             (f"{A}/{XICHENG}/photo/西城区现场照片.jpg", "photo", False)]
    assert closed in a["messages"]
    assert (closed["campaign"], closed["campaign_reason"], closed["unit"], closed["status"], closed["reply"],
            closed["review"], closed["problems"]) == (
        A, "keyword:subject", XICHENG, "needs_attention", "campaign_closed", ["campaign-closed"], [])
    assert files_of(closed) == files
    assert (world.setup.data / files[0][0]).read_bytes() == BRIEF_XC
    assert (world.setup.data / files[1][0]).read_bytes() == PHOTOS[0]
    xicheng = unit_of(a, XICHENG)
    assert (xicheng["counts"], xicheng["missing"], xicheng["complete"]) == (counts(), ["brief", "photo"], False)
    assert (a["campaign"]["messages"], a["campaign"]["needs_attention"]) == (4, 1)

    replies = world.replies_to("closed")
    assert [(str(r["To"]), str(r["Subject"]), str(r["Message-ID"])) for r in replies] == [(
        f"{XICHENG} <{ADDRESS[XICHENG]}>", f"Re: {subject_of(world, 'closed')} [IDV2020-{closed['id']:04d}]",
        f"<intake.{A}.{closed['id']}.campaign_closed@{DOMAIN}>")]
    text = body_text(replies[0])
    assert f"您好！您的邮件已收到。{A_TITLE}的材料报送已于12月15日09:00结束，系统不再自动登记新的材料。" in text
    assert "本次收到的文件：\n  1. 西城区活动简报.docx（活动简报，" in text
    assert "  2. 西城区现场照片.jpg（照片，" in text


# -- 4. status --json, both shapes ----------------------------------------------------------------------------

def test_status_json_gives_every_campaign_and_the_unsorted_or_one_campaign_as_before(world: World) -> None:
    after = world.after
    assert set(after) == {"campaigns", "unsorted"}
    assert [c["campaign"]["slug"] for c in after["campaigns"]] == [A, B]
    names = {c["campaign"]["slug"]: [m["message_id"].split("@")[0] for m in c["messages"]] for c in after["campaigns"]}
    assert names == {A: ["a-keyword", "a-only-open", "thread", "closed"],
                     B: ["b-keyword", "b-notice-body", "b-zip", "several-open", "b-only-open", "b-not-asked"]}
    for report in after["campaigns"]:
        slug = report["campaign"]["slug"]
        assert set(report) == {"campaign", "units", "messages", "actions"}
        assert {m["campaign"] for m in report["messages"]} == {slug}
        assert report["campaign"]["messages"] == len(report["messages"]) == {A: 4, B: 6}[slug]
        assert report["campaign"]["unrelated_seen"] == 1
        for unit in report["units"]:  # a unit's files in a campaign are those of its messages there
            for f in unit["files"]:
                assert f["path"].startswith(f"{slug}/{unit['name']}/"), f
    assert [(m["message_id"], m["campaign"], m["campaign_reason"]) for m in after["unsorted"]] == [
        ("tie@example.cn", None, "ask:tie")]
    every = sorted(m["id"] for m in [*after["unsorted"], *(m for c in after["campaigns"] for m in c["messages"])])
    assert len(every) == len(set(every)) == 11  # every campaign mail in exactly one place; not the unrelated one

    one = world.only_a
    assert set(one) == {"campaign", "units", "messages", "actions"}
    assert one["campaign"]["slug"] == A
    assert {m["campaign"] for m in one["messages"]} == {A}
    assert one["messages"] == report_of(after, A)["messages"]
    assert one["units"] == report_of(after, A)["units"]
    assert [a["command"] for a in one["actions"]] == ["campaign-close"]  # the assignment was B's


# -- 5. everyday mail ------------------------------------------------------------------------------------------

def test_unrelated_mail_is_left_on_the_server_exactly_as_it_was(world: World) -> None:
    uid = world.uid["unrelated"]
    assert world.flags_before[uid] == world.flags_after[uid] == ()
    assert uid in world.inbox_after
    assert {u: f for u, f in world.flags_after.items() if u != uid} == {
        world.uid[name]: ("$IntakeDone",) for name in world.uid if name != "unrelated"}
    assert not archived(world, "unrelated").exists()
    for report in (world.before_assign, world.after):
        assert "unrelated@qq.example" not in {m["message_id"] for m in report["unsorted"]}
        assert all(m["from"] != "friend@qq.example" for c in report["campaigns"] for m in c["messages"])
    # Every reply the bot sent, in order: none to the everyday mail's sender.
    assert [(m.rcpt_tos, str(parse(m)["In-Reply-To"])) for m in world.setup.sink.messages] == [
        (("hx-zyz@example.cn",), "<a-keyword@example.cn>"), (("zyfw@example.cn",), "<b-keyword@example.cn>"),
        (("hx-zyz@example.cn",), "<b-notice-body@example.cn>"), (("zyfw@example.cn",), "<b-zip@example.cn>"),
        (("dc-wmb@example.cn",), "<a-only-open@example.cn>"), (("hx-zyz@example.cn",), "<tie@example.cn>"),
        (("zyfw@example.cn",), "<several-open@example.cn>"), (("bj-sjz@example.cn",), "<b-only-open@example.cn>"),
        (("dc-wmb@example.cn",), "<b-not-asked@example.cn>"), (("hx-zyz@example.cn",), "<thread@example.cn>"),
        (("zyfw@example.cn",), "<several-open@example.cn>"), (("xc-wmb@example.cn",), "<closed@example.cn>"),
    ]
