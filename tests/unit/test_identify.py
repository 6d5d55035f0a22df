from __future__ import annotations

from bot.identify import identify
from bot.model import Attachment, Mail, Unit, UnitMatch
from bot.roster import Roster

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
) -> Mail:
    return Mail(
        message_id="m1@example.cn",
        subject=subject,
        from_addr=from_addr,
        from_name="",
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


def test_registered_address_wins_over_another_units_name_in_the_subject() -> None:
    match = identify(mail(subject="海淀区文明办 简报", from_addr="cy@example.cn"), ROSTER)

    assert match == UnitMatch(unit="朝阳区文明办", how="address", matched="cy@example.cn", where="from")


def test_name_in_subject_from_unregistered_address_needs_review() -> None:
    match = identify(mail(subject="海淀区文明办六月简报"), ROSTER)

    assert match == UnitMatch(
        unit="海淀区文明办", how="name", matched="海淀区文明办", where="subject", needs_review=True
    )


def test_longest_match_wins_over_a_shorter_name_it_contains() -> None:
    match = identify(mail(subject="朝阳区文明办简报"), ROSTER)

    assert match.unit == "朝阳区文明办"
    assert match.matched == "朝阳区文明办"


def test_longer_name_in_the_body_beats_a_shorter_one_in_the_subject() -> None:
    match = identify(mail(subject="朝阳 简报", text="报送单位：海淀区文明办"), ROSTER)

    assert match == UnitMatch(
        unit="海淀区文明办", how="name", matched="海淀区文明办", where="body", needs_review=True
    )


def test_name_only_in_an_attachment_filename_is_found() -> None:
    match = identify(mail(subject="简报", filenames=("照片1.jpg", "延庆区团委-六月简报.docx")), ROSTER)

    assert match == UnitMatch(
        unit="延庆区团委", how="name", matched="延庆区团委", where="filename", needs_review=True
    )


def test_alias_in_the_body_identifies_the_unit() -> None:
    match = identify(mail(subject="六月简报", text="各位领导：\n附件是延庆团委的材料。"), ROSTER)

    assert match == UnitMatch(
        unit="延庆区团委", how="name", matched="延庆团委", where="body", needs_review=True
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
        unit=None, how="name", matched="朝阳文明办 / 海淀文明办", where="subject", needs_review=True
    )


def test_equal_length_tie_is_broken_by_subject_over_body() -> None:
    match = identify(mail(subject="海淀文明办简报", text="抄送：朝阳文明办"), ROSTER)

    assert match == UnitMatch(
        unit="海淀区文明办", how="name", matched="海淀文明办", where="subject", needs_review=True
    )


def test_equal_length_tie_is_broken_by_filename_over_body() -> None:
    match = identify(mail(text="抄送：朝阳文明办", filenames=("海淀文明办.docx",)), ROSTER)

    assert (match.unit, match.where) == ("海淀区文明办", "filename")
