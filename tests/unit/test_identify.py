from __future__ import annotations

from dataclasses import replace

from bot.core.identify import identify, short_forms
from bot.core.model import Attachment, Mail, Unit, UnitMatch
from bot.core.roster import Roster

ROSTER = Roster(
    (
        Unit("朝阳区文明办", ("朝阳文明办",), ("cy@example.cn",)),
        Unit("朝阳区", ("朝阳",), ("cyq@example.cn",)),
        Unit("海淀区文明办", ("海淀文明办",), ("hd@example.cn",)),
        Unit("延庆区团委", ("延庆团委",), ()),
    )
)


def mail(
    subject: str = "",
    from_addr: str = "someone@qq.com",
    text: str = "",
    filenames: tuple[str, ...] = (),
    from_name: str = "",
) -> Mail:
    return Mail(
        message_id="m1@example.cn",
        subject=subject,
        from_addr=from_addr,
        from_name=from_name,
        to=("intake@example.cn",),
        date=None,
        content_type="multipart/mixed",
        headers=(),
        text=text,
        html="",
        attachments=tuple(
            Attachment(name, "application/octet-stream", "attachment", None, b"x") for name in filenames
        ),
    )


def test_a_registered_address_naming_another_unit_sends_for_that_unit_and_needs_review() -> None:
    match = identify(mail(subject="海淀区文明办 简报", from_addr="cy@example.cn"), ROSTER)

    assert match == UnitMatch(unit="海淀区文明办", how="address+name", matched="cy@example.cn → 海淀区文明办",
                              where="subject", needs_review=True)


def test_a_registered_address_naming_itself_is_simply_that_unit() -> None:
    match = identify(mail(subject="朝阳区文明办 简报", from_addr="cy@example.cn"), ROSTER)

    assert match == UnitMatch(unit="朝阳区文明办", how="address", matched="cy@example.cn", where="from")


def test_name_in_subject_from_unregistered_address_needs_review() -> None:
    match = identify(mail(subject="海淀区文明办六月简报"), ROSTER)

    assert match == UnitMatch(
        unit="海淀区文明办", how="name", matched="海淀区文明办", where="subject", needs_review=True, name_kind="full"
    )


def test_longest_match_wins_over_a_shorter_name_it_contains() -> None:
    match = identify(mail(subject="朝阳区文明办简报"), ROSTER)

    assert match.unit == "朝阳区文明办"
    assert match.matched == "朝阳区文明办"


def test_a_full_name_in_the_signature_beats_an_alias_in_the_subject() -> None:
    match = identify(mail(subject="朝阳 简报", text="报送单位：海淀区文明办"), ROSTER)

    assert match == UnitMatch(
        unit="海淀区文明办", how="name", matched="海淀区文明办", where="signature", needs_review=True, name_kind="full"
    )


def test_name_only_in_an_attachment_filename_is_found() -> None:
    match = identify(mail(subject="简报", filenames=("照片1.jpg", "延庆区团委-六月简报.docx")), ROSTER)

    assert match == UnitMatch(
        unit="延庆区团委", how="name", matched="延庆区团委", where="filename", needs_review=True, name_kind="full"
    )


def test_alias_in_the_body_identifies_the_unit() -> None:
    text = "各位领导：\n附件是延庆团委的材料。\n" + "\n".join(f"第{i}段" for i in range(10))
    match = identify(mail(subject="六月简报", text=text), ROSTER)

    assert match == UnitMatch(
        unit="延庆区团委", how="name", matched="延庆团委", where="body", needs_review=True, name_kind="alias"
    )


def test_full_width_and_spaced_text_is_normalised_before_matching() -> None:
    roster = Roster((Unit("第1中学", ("一中",)),))

    match = identify(mail(subject="第１ 中 学 简报"), roster)

    assert (match.unit, match.matched) == ("第1中学", "第1中学")


def test_no_registered_address_and_no_name_leaves_the_mail_unassigned() -> None:
    match = identify(mail(subject="六月简报", text="请查收", filenames=("IMG_0001.jpg",)), ROSTER)

    assert match == UnitMatch(unit=None, how="none")


def test_equal_length_names_of_two_units_in_the_subject_leave_it_unassigned_for_review() -> None:
    match = identify(mail(subject="海淀文明办 朝阳文明办 联合简报"), ROSTER)

    assert match == UnitMatch(
        unit=None, how="name", matched="朝阳文明办 / 海淀文明办", where="subject", needs_review=True, name_kind="alias"
    )


def test_equal_length_tie_is_broken_by_subject_over_body() -> None:
    match = identify(mail(subject="海淀文明办简报", text="抄送：朝阳文明办"), ROSTER)

    assert match == UnitMatch(
        unit="海淀区文明办", how="name", matched="海淀文明办", where="subject", needs_review=True, name_kind="alias"
    )


def test_equal_length_tie_is_broken_by_filename_over_body() -> None:
    match = identify(mail(text="抄送：朝阳文明办", filenames=("海淀文明办.docx",)), ROSTER)

    assert (match.unit, match.where) == ("海淀区文明办", "filename")


SHORT_ROSTER = Roster(
    (
        Unit("小店区文明办", (), ("xd@example.cn",)),
        Unit("迎泽区文明办", (), ("yz@example.cn",)),
        Unit("清徐县委宣传部", (), ()),
    )
)


def test_the_display_name_identifies_the_unit() -> None:
    match = identify(mail(subject="材料", from_addr="a@qq.com", from_name="迎泽区文明办 李四"), SHORT_ROSTER)
    assert (match.unit, match.where) == ("迎泽区文明办", "from_name")


def test_a_signature_line_identifies_the_unit() -> None:
    text = "您好，附件是活动材料，请查收。\n\n小店区文明办 张三\n电话：0351-1234567"
    match = identify(mail(subject="材料", text=text), SHORT_ROSTER)
    assert (match.unit, match.matched, match.where) == ("小店区文明办", "小店区文明办", "signature")


def test_common_short_forms_are_derived_from_the_names() -> None:
    assert identify(mail(subject="迎泽活动照片"), SHORT_ROSTER).unit == "迎泽区文明办"
    assert identify(mail(subject="清徐县简报"), SHORT_ROSTER).unit == "清徐县委宣传部"


def test_a_short_form_that_is_an_everyday_word_is_never_derived() -> None:
    assert "小店" in short_forms("小店区文明办")  # it would be: 小店区 → 小店, "a small shop"
    assert identify(mail(subject="小店活动照片"), SHORT_ROSTER) == UnitMatch(unit=None, how="none")
    assert identify(mail(subject="小店区活动照片"), SHORT_ROSTER).unit == "小店区文明办"


def test_staff_block_a_derived_short_form_with_a_minus_in_the_aliases_column() -> None:
    units = SHORT_ROSTER.units
    blocked = Roster(tuple(replace(u, blocked=("迎泽",)) if u.name == "迎泽区文明办" else u for u in units))
    assert identify(mail(subject="迎泽活动照片"), SHORT_ROSTER).unit == "迎泽区文明办"
    assert identify(mail(subject="迎泽活动照片"), blocked) == UnitMatch(unit=None, how="none")


def test_several_units_named_leave_the_mail_unassigned_for_review() -> None:
    match = identify(mail(subject="小店区文明办、迎泽区文明办联合活动简报"), SHORT_ROSTER)
    assert match == UnitMatch(unit=None, how="name", matched="小店区文明办 / 迎泽区文明办", where="subject",
                              needs_review=True, name_kind="full")


def test_quoted_text_of_an_earlier_mail_is_ignored() -> None:
    text = "补充照片\n\n-----原始邮件-----\n发件人：迎泽区文明办\n主题：迎泽区文明办材料"
    match = identify(mail(subject="补充", text=text), SHORT_ROSTER)
    assert match.unit is None


def test_a_registered_address_whose_signature_names_another_unit_sends_for_it() -> None:
    text = "您好，代为报送材料，请查收。\n--\n迎泽区文明办 李四\n电话：0351-7654321"
    match = identify(mail(subject="活动照片", from_addr="xd@example.cn", text=text), SHORT_ROSTER)

    assert match == UnitMatch(unit="迎泽区文明办", how="address+name", matched="xd@example.cn → 迎泽区文明办",
                              where="signature", needs_review=True)


def test_a_derived_short_form_of_another_unit_does_not_move_a_registered_address() -> None:
    match = identify(mail(subject="迎泽活动照片", from_addr="xd@example.cn"), SHORT_ROSTER)

    assert match == UnitMatch(unit="小店区文明办", how="address", matched="xd@example.cn", where="from")


def test_a_full_name_beside_another_units_alias_in_the_subject_is_ambiguous() -> None:
    match = identify(mail(subject="海淀区文明办、延庆团委联合活动简报"), ROSTER)

    assert match == UnitMatch(unit=None, how="name", matched="延庆团委 / 海淀区文明办", where="subject",
                              needs_review=True, name_kind="full")


def test_a_full_name_in_the_body_beats_a_derived_short_form_in_the_subject() -> None:
    text = "\n".join(["各位领导：", "附件是迎泽区文明办的活动照片。", *(f"第{i}张" for i in range(10))])
    match = identify(mail(subject="小店活动照片", text=text), SHORT_ROSTER)

    assert (match.unit, match.matched, match.where) == ("迎泽区文明办", "迎泽区文明办", "body")


def test_the_lines_after_a_signature_rule_are_the_signature_however_long() -> None:
    contact = [f"联系方式{i}：0351-000000{i}" for i in range(9)]
    text = "\n".join(["附件是照片。", "--", "迎泽区文明办 王五", *contact])
    match = identify(mail(subject="照片", text=text), SHORT_ROSTER)

    assert (match.unit, match.where) == ("迎泽区文明办", "signature")


def test_a_short_form_read_inside_another_units_name_is_not_derived() -> None:
    roster = Roster((Unit("小店区文明办"), Unit("小店街道办事处")))

    assert identify(mail(subject="小店街道照片"), roster).unit is None
    assert identify(mail(subject="小店区照片"), roster).unit == "小店区文明办"


def test_a_short_form_shared_by_two_units_is_not_derived() -> None:
    roster = Roster((Unit("小店区文明办"), Unit("小店区委宣传部")))

    assert identify(mail(subject="小店照片"), roster) == UnitMatch(unit=None, how="none")


def test_callers_can_give_their_own_suffixes() -> None:
    roster = Roster((Unit("晋源区志愿者协会"), Unit("迎泽区文明办")))

    assert identify(mail(subject="晋源活动照片"), roster).unit is None
    match = identify(mail(subject="晋源活动照片"), roster, org_suffixes=("志愿者协会", "文明办"))
    assert (match.unit, match.matched) == ("晋源区志愿者协会", "晋源")


def test_qq_english_original_rule_and_quoted_lines_are_ignored() -> None:
    text = ("收到，补充照片见附件\n> 迎泽区文明办：请补充照片\n\n------------------ Original ------------------\n"
            "From: \"迎泽区文明办\"<yz@example.cn>;\n主题: 迎泽区文明办材料")
    assert identify(mail(subject="补充", text=text), SHORT_ROSTER) == UnitMatch(unit=None, how="none")


def test_an_outlook_reply_header_block_starts_the_quoted_text() -> None:
    text = "好的\n\n________________________________\n发件人: 迎泽区文明办 <yz@example.cn>\n发送时间: 2024年6月1日 9:00"
    assert identify(mail(subject="回复: 材料", text=text), SHORT_ROSTER).unit is None


def test_a_forward_with_nothing_typed_above_it_is_quoted_text_too() -> None:
    text = "-------- 转发邮件信息 --------\n发件人：迎泽区文明办\n主题：迎泽区文明办材料"
    assert identify(mail(subject="Fw: 材料", text=text), SHORT_ROSTER).unit is None
