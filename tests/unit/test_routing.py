"""Routing one mail to one campaign: thread, then the notice named (most specific evidence wins), then the only
campaign open for the unit, else ask; and what a campaign's window means for the pipeline's answer."""

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.core.model import Unit, UnitState
from bot.core.pipeline import ASK_CAMPAIGN, ASK_UNIT, CLOSED, NO_REPLY, RECEIPT, Context, analyse, in_thread_of, judge
from bot.core.roster import Roster
from bot.core.routing import ONLY_OPEN, SEVERAL_OPEN, THREAD, TIE, asks, route
from bot.core.settings import CampaignConfig
from tests.fixtures.files import make_docx
from tests.unit.test_pipeline import PHOTO, mail

TZ = ZoneInfo("Asia/Shanghai")

IDV = CampaignConfig(
    name="国际志愿者日主题宣传活动", slug="idv-2020", notice="并文明办〔2020〕65号",
    opens=datetime(2020, 12, 3, tzinfo=TZ), deadline=datetime(2020, 12, 31, 18, tzinfo=TZ), timezone=TZ,
    keywords=("国际志愿者日", "志愿"), reference_prefix="IDV2020",
)
CASE = CampaignConfig(
    name="志愿服务典型案例征集", slug="case-2020", notice="并文明办〔2020〕71号",
    opens=datetime(2020, 12, 16, tzinfo=TZ), deadline=datetime(2021, 1, 8, 18, tzinfo=TZ), timezone=TZ,
    keywords=("典型案例",), units=("志愿服务站", "市志愿服务指导中心"), required=("case_study",),
    reference_prefix="CASE2020",
)
ROSTER = Roster((
    Unit("东城区文明办", (), ("dc@example.cn",), "区县", True),
    Unit("滨江街道新时代文明实践站", (), ("bj@example.cn",), "志愿服务站", True),
    Unit("红星社区志愿服务站", (), ("hx@example.cn",), "志愿服务站", False),
))
CTX = Context((IDV, CASE), ROSTER, ("collect@163.example",))
BOTH_OPEN = datetime(2020, 12, 20, 10, tzinfo=TZ)
ONLY_IDV_OPEN = datetime(2020, 12, 10, 10, tzinfo=TZ)


def routed(m, when=BOTH_OPEN, thread=None):
    a = analyse(m, when, CTX)
    r = route(a.mail, a.items, a.match.unit, when, CTX.campaigns, ROSTER, thread)
    return r.slug, r.reason


def test_which_units_a_campaign_asks() -> None:
    assert [u.name for u in ROSTER.units if asks(IDV, u.name, ROSTER)] == ["东城区文明办", "滨江街道新时代文明实践站"]
    assert [u.name for u in ROSTER.units if asks(CASE, u.name, ROSTER)] == [
        "滨江街道新时代文明实践站", "红星社区志愿服务站"]


@pytest.mark.parametrize(("subject", "text", "files", "expected"), [
    ("滨江街道报送典型案例", "", (), ("case-2020", "keyword:subject")),
    ("滨江街道材料", "根据并文明办〔2020〕65号通知要求，报送材料如下。", (), ("idv-2020", "notice:body")),
    ("滨江街道材料", "", (("典型案例/案例一.jpg", PHOTO),), ("case-2020", "keyword:files")),
    # A notice number in the body outweighs a keyword in the subject; the longer keyword outweighs the shorter.
    ("滨江街道典型案例", "并文明办〔2020〕65号", (), ("idv-2020", "notice:body")),
    ("滨江街道志愿服务典型案例", "", (), ("case-2020", "keyword:subject")),
    # The same evidence for both: asked.
    ("并文明办〔2020〕65号 并文明办〔2020〕71号 材料", "", (), (None, TIE)),
    # Nothing named, both open for the unit: asked; only one open for it: that one.
    ("滨江街道材料", "", (("1.jpg", PHOTO),), (None, SEVERAL_OPEN)),
])
def test_the_notice_named_decides(subject, text, files, expected) -> None:
    assert routed(mail("bj@example.cn", subject, files=files, text=text)) == expected


def test_the_only_campaign_open_for_the_unit() -> None:
    assert routed(mail("dc@example.cn", "东城区材料", files=(("1.jpg", PHOTO),))) == ("idv-2020", ONLY_OPEN)
    assert routed(mail("hx@example.cn", "红星社区材料", files=(("1.jpg", PHOTO),))) == ("case-2020", ONLY_OPEN)
    assert routed(mail("bj@example.cn", "滨江材料", files=(("1.jpg", PHOTO),)), ONLY_IDV_OPEN) == (
        "idv-2020", ONLY_OPEN)


def test_a_thread_wins_over_every_word() -> None:
    assert routed(mail("bj@example.cn", "Re: 典型案例"), thread="idv-2020") == ("idv-2020", THREAD)


def test_unsorted_mail_is_kept_and_the_unit_asked_a_stranger_asked_which_unit() -> None:
    unit_mail = judge(analyse(mail("bj@example.cn", "滨江材料", files=(("1.jpg", PHOTO),)), BOTH_OPEN, CTX),
                      UnitState())
    assert unit_mail.outcome.reply == ASK_CAMPAIGN and unit_mail.outcome.review == ("unsorted",)
    assert unit_mail.problems == () and [i.counted for i in unit_mail.items] == [False]
    stranger = judge(analyse(mail("x@qq.example", "材料", files=(("1.jpg", PHOTO),)), BOTH_OPEN, CTX), UnitState())
    assert stranger.outcome.reply == ASK_UNIT and "unsorted" in stranger.outcome.review


def test_mail_for_a_closed_campaign_is_kept_uncounted_and_the_unit_told() -> None:
    closed = Context((replace(IDV, closed_at=datetime(2020, 12, 15, tzinfo=TZ)), CASE), ROSTER, ())
    decision = judge(analyse(mail("dc@example.cn", "国际志愿者日材料", files=(("1.jpg", PHOTO),)), BOTH_OPEN,
                             closed), UnitState())
    assert (decision.analysis.relevant, decision.outcome.reply, decision.late) == (True, CLOSED, True)
    assert [i.counted for i in decision.items] == [False] and decision.outcome.review == ("campaign-closed",)
    # A stranger's mail naming the closed campaign is not campaign mail: left alone.
    stranger = analyse(mail("x@qq.example", "国际志愿者日", files=(("1.jpg", PHOTO),)), BOTH_OPEN, closed)
    assert (stranger.relevant, stranger.relevance) == (False, "after-closing")


def test_no_campaign_open_at_all_leaves_a_unit_s_everyday_mail_alone() -> None:
    before = analyse(mail("dc@example.cn", "周末聚餐"), datetime(2020, 11, 1, tzinfo=TZ), CTX)
    after = analyse(mail("dc@example.cn", "周末聚餐"), datetime(2021, 6, 1, tzinfo=TZ), CTX)
    assert (before.relevant, before.relevance, after.relevant, after.relevance) == (
        False, "before-opening", False, "after-closing")


def test_the_answer_to_which_notice_reaches_staff_without_a_problem_list() -> None:
    answer = analyse(mail("bj@example.cn", "Re: 滨江材料", text="是典型案例征集的材料。"), BOTH_OPEN, CTX)
    decision = judge(in_thread_of(answer, "滨江街道新时代文明实践站", 7, None, CTX, ASK_CAMPAIGN), UnitState())
    assert (decision.outcome.reply, decision.outcome.review, decision.problems) == (
        NO_REPLY, ("campaign-answer",), ())
    assert decision.analysis.route.slug == "case-2020"


def test_a_receipt_for_routed_mail() -> None:
    files = (("活动简报.docx", make_docx("简报")), ("1.jpg", PHOTO))
    decision = judge(analyse(mail("bj@example.cn", "滨江街道国际志愿者日材料", files=files), BOTH_OPEN, CTX),
                     UnitState())
    assert (decision.analysis.route.slug, decision.analysis.route.reason) == ("idv-2020", "keyword:subject")
    assert (decision.outcome.reply, decision.problems) == (RECEIPT, ())
