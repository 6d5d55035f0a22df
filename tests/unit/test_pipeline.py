"""The pure steps together: triage → identify → inspect → classify → relevance → check → decide."""

import hashlib
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.model import Attachment, Category, Mail, Unit, UnitState
from bot.core.pipeline import ASK_SENDER, ASK_UNIT, NO_REPLY, PROBLEMS, QUESTION, RECEIPT, Context, analyse, judge
from bot.core.roster import Roster
from bot.core.settings import CampaignConfig
from tests.fixtures.files import make_docx, make_jpeg, make_png

TZ = ZoneInfo("Asia/Shanghai")
CAMPAIGN = CampaignConfig(
    name="2020年国际志愿者日主题宣传和实践活动", slug="idv-2020",
    opens=datetime(2020, 12, 3, tzinfo=TZ), deadline=datetime(2020, 12, 31, 18, tzinfo=TZ), timezone=TZ,
    keywords=("志愿", "国际志愿者日"),
)
ROSTER = Roster((
    Unit("东城区文明办", ("东城文明办",), ("dc@example.cn",), "区县", True),
    Unit("南湖县委宣传部", (), ("nh@example.cn",), "区县", True),
))
CTX = Context((CAMPAIGN,), ROSTER, ("collect@163.example",))
IN_WINDOW = datetime(2020, 12, 10, 9, tzinfo=TZ)
PHOTO = make_jpeg(1_200_000, seed=1)


def mail(from_addr: str = "dc@example.cn", subject: str = "东城区文明办报送材料", *,
         files: tuple[tuple[str, bytes], ...] = (), html: str = "", headers: tuple = (),
         inline: tuple[tuple[str, bytes, str], ...] = (), text: str = "") -> Mail:
    attachments = [Attachment(n, "application/octet-stream", "attachment", None, p) for n, p in files]
    attachments += [Attachment(n, "image/png", "inline", cid, p) for n, p, cid in inline]
    return Mail(message_id="m1@x", subject=subject, from_addr=from_addr, from_name="", to=("collect@163.example",),
                date=None, content_type="multipart/mixed", headers=headers, text=text, html=html,
                attachments=tuple(attachments))


def decide_for(m: Mail, when: datetime = IN_WINDOW, state: UnitState | None = None):
    return judge(analyse(m, when, CTX), state or UnitState())


def test_a_complete_submission_from_a_registered_address_gets_a_receipt() -> None:
    d = decide_for(mail(files=(("活动简报.docx", make_docx("志愿服务活动简报")), ("IMG_1.jpg", PHOTO))))
    assert d.analysis.match.unit == "东城区文明办" and d.analysis.match.how == "address"
    assert [(i.category, i.reason, i.counted) for i in d.items] == [
        (Category.BRIEF, "name:活动简报", True), (Category.PHOTO, "type:jpeg", True)]
    assert d.problems == ()
    assert (d.outcome.reply, d.outcome.disposition, d.outcome.review) == (RECEIPT, "accepted", ())
    assert not d.late


def test_a_too_small_photo_is_a_problem_naming_the_file_and_is_not_counted() -> None:
    small = make_jpeg(200_000, width=640, height=480, seed=2)
    d = decide_for(mail(files=(("小图.jpg", small), ("IMG_1.jpg", PHOTO))))
    assert [(p.code, p.file) for p in d.problems] == [("photo_too_small", "小图.jpg")]
    assert dict(d.problems[0].params)["size"] == len(small)
    assert [i.counted for i in d.items] == [False, True]
    assert d.outcome.reply == PROBLEMS and d.outcome.disposition == "needs_attention"


def test_mail_after_the_deadline_is_late_and_accepted_under_the_accept_policy() -> None:
    d = decide_for(mail(files=(("IMG_1.jpg", PHOTO),)), when=CAMPAIGN.deadline + timedelta(minutes=1))
    assert d.late and d.problems == () and d.outcome.reply == RECEIPT


def test_mail_after_the_deadline_is_rejected_under_the_reject_policy() -> None:
    strict = replace(CAMPAIGN, late_policy="reject")
    late = CAMPAIGN.deadline + timedelta(hours=1)
    a = analyse(mail(files=(("IMG_1.jpg", PHOTO),)), late, Context((strict,), ROSTER, ()))
    d = judge(a, UnitState())
    assert [p.code for p in d.problems] == ["late_rejected"]
    assert [i.counted for i in d.items] == [False]


def test_an_unregistered_sender_naming_its_unit_is_accepted_and_marked_for_review() -> None:
    d = decide_for(mail("someone@qq.example", "南湖县委宣传部 志愿活动照片", files=(("IMG_1.jpg", PHOTO),)))
    assert (d.analysis.match.unit, d.analysis.match.how) == ("南湖县委宣传部", "name")
    assert d.outcome.reply == RECEIPT and d.outcome.review == ("unregistered-sender",)


def test_nobody_identifiable_is_kept_unassigned_and_asked_which_unit() -> None:
    d = decide_for(mail("someone@qq.example", "活动材料", files=(("IMG_1.jpg", PHOTO),)))
    assert d.analysis.relevant and d.analysis.relevance == "files"
    assert d.analysis.match.unit is None
    assert [p.code for p in d.problems] == ["unit_unknown"]
    assert (d.outcome.reply, d.outcome.review) == (ASK_UNIT, ("unassigned",))


def test_everyday_mail_without_any_campaign_signal_is_not_campaign_mail() -> None:
    a = analyse(mail("friend@example.com", "周末一起吃饭吗"), IN_WINDOW, CTX)
    assert (a.relevant, a.relevance) == (False, "no-signal")


def test_a_keyword_in_the_subject_makes_mail_campaign_mail() -> None:
    a = analyse(mail("friend@example.com", "国际志愿者日有关问题"), IN_WINDOW, CTX)
    assert (a.relevant, a.relevance) == (True, "keyword")


def test_mail_outside_the_window_is_not_campaign_mail_even_from_a_unit() -> None:
    before = analyse(mail(), CAMPAIGN.opens - timedelta(days=1), CTX)
    after = analyse(mail(), CAMPAIGN.closes + timedelta(seconds=1), CTX)
    assert (before.relevant, before.relevance) == (False, "before-opening")
    assert (after.relevant, after.relevance) == (False, "after-closing")


def test_an_auto_reply_from_a_unit_gets_no_reply() -> None:
    m = mail(subject="自动回复: 东城区文明办", headers=(("auto-submitted", "auto-replied"),))
    d = decide_for(m)
    assert d.analysis.automatic == "auto-reply"
    assert (d.outcome.reply, d.outcome.disposition) == (NO_REPLY, "ignored")


def test_files_returned_by_a_bounce_from_a_units_address_are_not_counted_as_its_submission() -> None:
    m = mail(subject="Undeliverable: 东城区文明办报送材料", files=(("IMG_1.jpg", PHOTO),),
             headers=(("x-failed-recipients", "someone@elsewhere.example"),))
    d = decide_for(m)
    assert (d.analysis.automatic, d.analysis.match.unit) == ("bounce", "东城区文明办")
    assert (d.outcome.reply, d.outcome.disposition) == (NO_REPLY, "ignored")
    assert [(i.filename, i.counted) for i in d.items] == [("IMG_1.jpg", False)]


def test_a_cid_referenced_logo_is_not_a_submission_but_a_named_inline_photo_is() -> None:
    logo = make_png()
    m = mail(files=(("IMG_1.jpg", PHOTO),), html='<img src="cid:logo1">', inline=(("image001.png", logo, "logo1"),))
    d = decide_for(m)
    assert [(i.filename, i.skipped, i.counted) for i in d.items] == [
        ("IMG_1.jpg", None, True), ("image001.png", "inline-image", False)]
    assert d.problems == ()


def test_the_same_content_already_stored_for_the_unit_is_not_counted_again() -> None:
    d = decide_for(mail(files=(("IMG_1.jpg", PHOTO), ("copy.jpg", PHOTO))),
                   state=UnitState(frozenset()))
    assert [(i.already_stored, i.counted) for i in d.items] == [(False, True), (True, False)]
    stored = UnitState(frozenset({hashlib.sha256(PHOTO).hexdigest()}))
    d2 = decide_for(mail(files=(("IMG_1.jpg", PHOTO),)), state=stored)
    assert [(i.already_stored, i.counted) for i in d2.items] == [(True, False)]


def test_a_mail_with_no_files_from_a_unit_is_told_nothing_was_attached() -> None:
    d = decide_for(mail())
    assert [p.code for p in d.problems] == ["no_attachments"]
    assert d.outcome.reply == PROBLEMS


def test_a_bounce_of_our_own_mail_is_kept_for_staff_but_not_answered() -> None:
    returned = Attachment("returned.eml", "message/rfc822", "", None,
                          b"From: collect@163.example\r\nX-Report-Intake: idv-2020\r\nSubject: x\r\n\r\nbody")
    bounce = Mail(message_id="b@x", subject="Undelivered Mail Returned to Sender", from_addr="mailer-daemon@mx.example",
                  from_name="", to=(), date=None, content_type="multipart/report", headers=(), text="", html="",
                  attachments=(returned,))
    d = decide_for(bounce)
    assert (d.analysis.relevant, d.analysis.relevance, d.analysis.automatic) == (True, "bounce-of-our-mail", "bounce")
    assert (d.outcome.reply, d.outcome.disposition) == (NO_REPLY, "ignored")


def test_a_brief_with_photos_only_pasted_inside_asks_for_the_originals_but_still_counts() -> None:
    d = decide_for(mail(files=(("活动简报.docx", make_docx("活动简报", pictures=2)),)))
    assert [(p.code, p.file) for p in d.problems] == [("photos_pasted_in_document", "活动简报.docx")]
    assert [i.counted for i in d.items] == [True]


def test_an_apple_mail_photo_shown_by_cid_is_still_a_submission() -> None:
    m = mail(html='<img src="cid:photo1">', inline=(("IMG_0001.JPG", PHOTO, "photo1"),))
    d = decide_for(m)
    assert [(i.filename, i.skipped, i.counted) for i in d.items] == [("IMG_0001.JPG", None, True)]


def test_a_registered_sender_failing_dmarc_gets_no_receipt_and_nothing_counts() -> None:
    m = mail(files=(("IMG_1.jpg", PHOTO),),
             headers=(("authentication-results", "mx.163.com; spf=fail smtp.mailfrom=dc@example.cn; dmarc=fail"),))
    d = decide_for(m)
    assert d.analysis.auth_failure == "spf=fail"
    assert (d.outcome.reply, d.outcome.disposition, d.outcome.review) == (NO_REPLY, "needs_attention",
                                                                     ("sender-auth-failed",))
    assert [i.counted for i in d.items] == [False]


def test_an_oversized_mail_is_judged_by_its_headers_and_the_sender_asked_to_split_it() -> None:
    from bot.core.pipeline import analyse_raw
    from bot.core.settings import Limits
    from tests.fixtures import clients

    raw = clients.foxmail(from_addr="dc@example.cn", from_name="", to="bot@x", subject="东城区照片", body="x",
                          attachments=[("1.jpg", PHOTO)], date=IN_WINDOW)
    small = Context((replace(CAMPAIGN, limits=Limits(max_message_bytes=100_000)),), ROSTER, ())
    analysis = analyse_raw(raw, IN_WINDOW, small)
    d = judge(analysis, UnitState())
    assert (analysis.relevant, analysis.match.unit, d.items) == (True, "东城区文明办", ())
    assert [(p.code, dict(p.params)["size"]) for p in d.problems] == [("message_too_large", len(raw))]
    assert d.outcome.reply == PROBLEMS


# -- A unit's name says which unit, not that a stranger's mail is a submission ----------------------------------

SIGNED = "周末有空一起吃饭吗？\n\n张伟\n东城文明办 宣传科\n电话 010-12345678"


def test_a_strangers_mail_naming_a_unit_only_in_its_signature_is_not_campaign_mail() -> None:
    a = analyse(mail("zhangwei@qq.example", "周末聚餐", text=SIGNED), IN_WINDOW, CTX)
    assert (a.match.unit, a.match.where, a.relevant, a.relevance) == ("东城区文明办", "signature", False, "no-signal")


def test_an_advert_naming_a_units_alias_in_its_body_is_not_campaign_mail() -> None:
    advert = "2020年冬季大型招聘会\n地点：市会展中心（东城文明办对面）\n参展企业200家，岗位3000个\n" * 3
    a = analyse(mail("hr@jobs.example", "招聘会邀请函", text=advert), IN_WINDOW, CTX)
    assert (a.match.unit, a.relevant) == ("东城区文明办", False)


def test_a_stranger_naming_a_unit_in_the_subject_with_a_brief_and_photos_is_still_taken() -> None:
    d = decide_for(mail("zhangwei@qq.example", "东城区文明办活动材料",
                        files=(("活动简报.docx", make_docx("活动简报")), ("IMG_1.jpg", PHOTO))))
    assert (d.analysis.match.unit, d.analysis.match.how, d.analysis.relevant) == ("东城区文明办", "name", True)
    assert d.outcome.reply == RECEIPT


def test_a_unit_named_by_its_full_name_or_alias_in_a_strangers_subject_makes_campaign_mail() -> None:
    for subject in ("东城区文明办材料", "东城文明办材料"):
        a = analyse(mail("zhangwei@qq.example", subject), IN_WINDOW, CTX)
        assert (a.match.unit, a.relevant, a.relevance) == ("东城区文明办", True, "unit-name"), subject


def test_a_derived_short_form_in_a_strangers_subject_does_not_make_campaign_mail_but_names_the_unit_of_one() -> None:
    plain = analyse(mail("zhangwei@qq.example", "东城周末活动"), IN_WINDOW, CTX)
    assert (plain.match.unit, plain.match.name_kind, plain.relevant) == ("东城区文明办", "short", False)
    with_files = analyse(mail("zhangwei@qq.example", "东城周末活动", files=(("IMG_1.jpg", PHOTO),)), IN_WINDOW, CTX)
    assert (with_files.match.unit, with_files.relevant, with_files.relevance) == ("东城区文明办", True, "files")


# -- Mail that is not a submission: a stranger is asked, a unit's question is a question ------------------------


def test_a_stranger_naming_a_unit_in_the_subject_with_nothing_attached_is_asked_not_told_what_is_wrong() -> None:
    d = decide_for(mail("zhangwei@qq.example", "东城区文明办活动材料"))
    assert (d.analysis.relevant, d.analysis.match.unit) == (True, "东城区文明办")
    assert (d.outcome.reply, d.problems) == (ASK_SENDER, ())


def test_a_registered_units_question_without_files_is_a_question_not_a_failed_submission() -> None:
    text = "您好！\n请问活动简报需要加盖公章吗？照片是否需要单独打包？\n\n东城区文明办 李明"
    d = decide_for(replace(mail(subject="关于报送材料的咨询"), text=text))
    assert d.analysis.question == "关于报送材料的咨询\n请问活动简报需要加盖公章吗？照片是否需要单独打包？"
    assert (d.outcome.reply, d.outcome.disposition, d.problems) == (QUESTION, "needs_attention", ())
    assert "question" in d.outcome.review


def test_a_registered_units_mail_without_files_that_asks_nothing_is_still_told_nothing_was_attached() -> None:
    d = decide_for(replace(mail(subject="东城区文明办报送材料"), text="请查收。\n东城区文明办"))
    assert (d.analysis.question, d.outcome.reply, [p.code for p in d.problems]) == (None, PROBLEMS, ["no_attachments"])


def test_a_question_with_files_is_judged_as_the_submission_it_is() -> None:
    m = replace(mail(files=(("IMG_1.jpg", PHOTO),)), text="照片这样可以吗？")
    assert decide_for(m).outcome.reply == RECEIPT  # the files are what count
