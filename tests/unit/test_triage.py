from __future__ import annotations

import base64
import email
from dataclasses import replace
from datetime import datetime
from email.message import Message
from zoneinfo import ZoneInfo

import pytest

from bot.core.mail.parse import parse_mail
from bot.core.mail.triage import (
    AUTO_REPLY_SUBJECT_PREFIXES,
    BOUNCE_FORMAT,
    LOOP_HEADER,
    Markers,
    automatic_reason,
    machine_marks,
    returned_message_ids,
)
from bot.core.model import Attachment, Mail
from tests.fixtures import clients

OURS = ("intake@example.cn", "Office@Example.cn")
WHEN = datetime(2024, 6, 20, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))


def mail(
    subject: str = "朝阳区文明办六月简报",
    from_addr: str = "cy@example.cn",
    headers: tuple[tuple[str, str], ...] = (),
    content_type: str = "multipart/mixed",
) -> Mail:
    return Mail(
        message_id="m1@example.cn",
        subject=subject,
        from_addr=from_addr,
        from_name="",
        to=("intake@example.cn",),
        date=None,
        content_type=content_type,
        headers=tuple((name.lower(), value) for name, value in headers),
        text="请查收。",
        html="",
        attachments=(),
    )


def test_plain_human_mail_is_not_automatic() -> None:
    assert automatic_reason(mail(headers=(("Return-Path", "<cy@example.cn>"),)), OURS) is None


def test_auto_submitted_no_is_a_human_mail() -> None:
    assert automatic_reason(mail(headers=(("Auto-Submitted", "no"),)), OURS) is None


def test_x_auto_response_suppress_alone_is_not_an_auto_reply() -> None:
    assert automatic_reason(mail(headers=(("X-Auto-Response-Suppress", "All"),)), OURS) is None


def test_mail_from_one_of_our_addresses_is_own_address() -> None:
    assert automatic_reason(mail(from_addr="office@example.cn"), OURS) == "own-address"


def test_own_address_is_checked_before_the_loop_header() -> None:
    assert (
        automatic_reason(mail(from_addr="intake@example.cn", headers=((LOOP_HEADER, "x"),)), OURS)
        == "own-address"
    )


def test_our_loop_header_coming_back_is_a_loop() -> None:
    assert LOOP_HEADER == "X-Report-Intake"
    assert automatic_reason(mail(headers=(("X-Report-Intake", "2024-june"),)), OURS) == "loop"


def test_multipart_report_is_a_bounce() -> None:
    assert automatic_reason(mail(content_type="multipart/report"), OURS) == "bounce"


@pytest.mark.parametrize("sender", ["MAILER-DAEMON@mx.example.cn", "postmaster@qq.com"])
def test_mail_from_mailer_daemon_or_postmaster_is_a_bounce(sender: str) -> None:
    assert automatic_reason(mail(from_addr=sender.lower()), OURS) == "bounce"


def test_empty_return_path_is_a_bounce() -> None:
    assert automatic_reason(mail(headers=(("Return-Path", " <> "),)), OURS) == "bounce"


def test_bounce_is_checked_before_auto_reply() -> None:
    m = mail(content_type="multipart/report", headers=(("Auto-Submitted", "auto-replied"),))

    assert automatic_reason(m, OURS) == "bounce"


@pytest.mark.parametrize(
    "header",
    [
        ("Auto-Submitted", "auto-replied"),
        ("Auto-Submitted", "Auto-Generated; owner-email=a@b.cn"),
        ("X-Autoreply", "yes"),
        ("X-Autorespond", "Out of office"),
        ("Precedence", "auto_reply"),
    ],
)
def test_auto_reply_headers_mark_an_auto_reply(header: tuple[str, str]) -> None:
    assert automatic_reason(mail(headers=(header,)), OURS) == "auto-reply"


@pytest.mark.parametrize(
    "subject",
    [
        "自动回复：关于报送简报的通知",
        "Auto: 简报",
        "Automatic reply: 简报",
        "OUT OF OFFICE until Monday",
        "自动答复: 简报",
        "休假中",
        "  自动回复 简报",
    ],
)
def test_auto_reply_subject_prefixes_mark_an_auto_reply(subject: str) -> None:
    assert automatic_reason(mail(subject=subject), OURS) == "auto-reply"


def test_a_subject_merely_containing_a_prefix_word_is_human() -> None:
    assert automatic_reason(mail(subject="关于休假期间简报报送的说明"), OURS) is None
    assert automatic_reason(mail(subject="休假期间志愿服务活动简报"), OURS) is None


def test_callers_can_replace_the_subject_prefixes() -> None:
    assert "外出" not in AUTO_REPLY_SUBJECT_PREFIXES
    assert automatic_reason(mail(subject="外出：下周回"), OURS, auto_reply_prefixes=("外出",)) == "auto-reply"
    assert automatic_reason(mail(subject="自动回复：简报"), OURS, auto_reply_prefixes=("外出",)) is None


def test_auto_reply_is_checked_before_list() -> None:
    m = mail(headers=(("Precedence", "auto_reply"), ("List-Id", "<staff.example.cn>")))

    assert automatic_reason(m, OURS) == "auto-reply"


@pytest.mark.parametrize(
    "header",
    [
        ("List-Id", "<news.example.cn>"),
        ("List-Unsubscribe", "<mailto:leave@example.cn>"),
        ("Precedence", "bulk"),
        ("Precedence", "List"),
        ("Precedence", "junk"),
    ],
)
def test_list_headers_mark_list_mail(header: tuple[str, str]) -> None:
    assert automatic_reason(mail(headers=(header,)), OURS) == "list"


@pytest.mark.parametrize(
    "subject",
    ["系统退信", "邮件投递失败：东城区材料", "Re: 退信通知", "退信：东城区简报", "回复：来自QQ邮箱的无法投递通知",
     "Undelivered Mail Returned to Sender", "Undeliverable: 东城区简报"],
)
def test_bounce_subjects_mark_a_bounce(subject: str) -> None:
    assert automatic_reason(mail(subject=subject, from_addr="notice@mail.example.cn"), OURS) == "bounce"


def test_bare_tui_xin_inside_a_subject_is_a_person_writing() -> None:
    assert automatic_reason(mail(subject="关于上次退信的说明及六月简报"), OURS) is None


def test_a_system_bounce_sentence_at_the_top_of_the_body_marks_a_bounce() -> None:
    m = text_mail("致歉", "系统退信\n您发送的邮件未能送达以下收件人：wmb@example.cn")
    assert automatic_reason(m, OURS) == "bounce"


@pytest.mark.parametrize("subject", ["回复：自动回复：材料已收到", "Re: 假期自动回复", "答复: 自动回复 简报"])
def test_auto_reply_prefixes_count_after_reply_prefixes(subject: str) -> None:
    assert automatic_reason(mail(subject=subject), OURS) == "auto-reply"


@pytest.mark.parametrize("sentence", ["这是来自QQ邮箱的假期自动回复邮件。", "此邮件为自动回复，请勿直接回复。"])
def test_auto_reply_sentences_at_the_top_of_the_body_mark_an_auto_reply(sentence: str) -> None:
    assert automatic_reason(text_mail("Re: 材料", f"{sentence}\n您好，我最近正在休假中。"), OURS) == "auto-reply"


def test_an_auto_reply_sentence_far_down_a_persons_mail_does_not_count() -> None:
    body = "\n".join(["各位领导：", "附件是六月简报。", "请查收。", "谢谢！", "东城区文明办", "",
                      "另：上次收到的“此邮件为自动回复”是同事设置的。"])
    assert automatic_reason(text_mail("东城区六月简报", body), OURS) is None


@pytest.mark.parametrize("style", ["163", "qq"])
def test_vacation_replies_written_by_163_and_qq_are_auto_replies(style: str) -> None:
    raw = clients.auto_reply(from_addr="dc@163.example", from_name="东城区", to="intake@example.cn",
                             subject="关于报送简报的通知", body="您好，我正在休假，回来后处理。", date=WHEN,
                             in_reply_to="notice.1@example.cn", style=style)
    assert automatic_reason(parse_mail(raw), OURS) == "auto-reply"


def test_callers_can_replace_the_bounce_words() -> None:
    m = mail(subject="邮件投递失败：东城区材料")
    assert automatic_reason(m, OURS, markers=Markers(bounce_subject_markers=())) is None


def test_a_postfix_bounce_names_the_mail_it_returns() -> None:
    original = clients.netease_webmail(from_addr="intake@example.cn", from_name="", to="dc@example.cn", subject="回执",
                                       body="已收到", date=WHEN, message_id="intake.7.receipt@example.cn")
    bounce = parse_mail(clients.bounce(original, failed_recipient="dc@example.cn", date=WHEN))

    assert automatic_reason(bounce, OURS) == "bounce"
    assert returned_message_ids(bounce) == ("intake.7.receipt@example.cn",)


def test_a_postfix_bounce_returning_only_the_headers_names_the_mail_it_returns() -> None:
    original = clients.netease_webmail(from_addr="intake@example.cn", from_name="", to="dc@example.cn", subject="回执",
                                       body="已收到", date=WHEN, message_id="intake.8.receipt@example.cn")
    bounce = parse_mail(clients.bounce(original, failed_recipient="dc@example.cn", date=WHEN, headers_only=True))

    assert automatic_reason(bounce, OURS) == "bounce"
    assert [a.content_type for a in bounce.attachments] == ["text/rfc822-headers"]
    assert returned_message_ids(bounce) == ("intake.8.receipt@example.cn",)


def test_returned_headers_name_the_message_even_when_the_id_is_folded() -> None:
    head = b"From: bot@163.example\r\nMessage-ID:\r\n <intake.idv.7.receipt@163.example>\r\nSubject: x\r\n\r\n"
    m = bounce_mail(attachments=(Attachment("details.txt", "text/rfc822-headers", "", None, head),),
                    headers=(("in-reply-to", "<other@x>"),))
    assert returned_message_ids(m) == ("intake.idv.7.receipt@163.example",)


def test_without_a_returned_message_the_bounce_threading_headers_are_used() -> None:
    m = bounce_mail(headers=(("in-reply-to", "<a@x>"), ("references", "<root@x> <a@x>")))
    assert returned_message_ids(m) == ("a@x", "root@x")


def test_a_message_id_line_quoted_in_the_bounce_text_is_used_before_threading_headers() -> None:
    m = bounce_mail(text="原邮件信息：\nMessage-ID: <intake.9@example.cn>\n主题：回执",
                    headers=(("in-reply-to", "<a@x>"),))
    assert returned_message_ids(m) == ("intake.9@example.cn",)


def test_a_bounce_with_nothing_returned_names_nothing() -> None:
    assert returned_message_ids(bounce_mail()) == ()


def text_mail(subject: str, text: str) -> Mail:
    return Mail(message_id="m@x", subject=subject, from_addr="a@qq.com", from_name="", to=(), date=None,
                content_type="text/plain", headers=(), text=text, html="", attachments=())


def bounce_mail(attachments: tuple[Attachment, ...] = (), headers: tuple[tuple[str, str], ...] = (),
                text: str = "") -> Mail:
    return Mail(message_id="b@x", subject="Undelivered", from_addr="mailer-daemon@mx", from_name="", to=(), date=None,
                content_type="multipart/report", headers=headers, text=text, html="", attachments=attachments)


# ---------------------------------------------------------------- what the mail is by its structure

def marked(*marks: str, subject: str = "东城区文明办六月简报", content_type: str = "multipart/mixed",
           headers: tuple[tuple[str, str], ...] = ()) -> Mail:
    return replace(mail(subject=subject, from_addr="dc@example.cn", headers=headers, content_type=content_type),
                   machine_marks=marks)


@pytest.mark.parametrize(
    ("marks", "expected"),
    [
        (("message/delivery-status",), "bounce"),
        (("message/global-delivery-status",), "bounce"),
        (("message/feedback-report",), "complaint"),
        (("message/feedback-report", "text/rfc822-headers"), "complaint"),
        (("message/disposition-notification",), "auto-reply"),
        (("message/global-disposition-notification",), "auto-reply"),
        ((BOUNCE_FORMAT,), "bounce"),
        (("text/rfc822-headers",), "bounce"),
    ],
)
def test_the_report_parts_say_what_a_mail_from_a_registered_address_is(marks: tuple[str, ...], expected: str) -> None:
    assert automatic_reason(marked(*marks), OURS) == expected


def test_a_read_receipt_with_an_auto_submitted_header_is_an_auto_reply_not_a_bounce() -> None:
    m = marked("message/disposition-notification", content_type="multipart/report",
               headers=(("Auto-Submitted", "auto-replied"),))
    assert automatic_reason(m, OURS) == "auto-reply"


def test_an_exim_delay_warning_is_a_bounce_though_it_says_auto_replied() -> None:
    assert automatic_reason(marked(BOUNCE_FORMAT, headers=(("Auto-Submitted", "auto-replied"),)), OURS) == "bounce"


@pytest.mark.parametrize("header", [("X-Failed-Recipients", "wmb-old@example.org"), ("X-MDDSN-Message", "Yes")])
def test_bounce_headers_mark_a_bounce(header: tuple[str, str]) -> None:
    assert automatic_reason(mail(headers=(header,)), OURS) == "bounce"


@pytest.mark.parametrize(
    "header",
    [
        ("X-AutoReply-From", "dc@example.cn"),
        ("X-Mail-Autoreply", "dtc-autoreply"),
        ("X-Autogenerated", "Reply"),
        ("X-FC-MachineGenerated", "true"),
        ("X-POST-MessageClass", "9;  Autoresponder"),
        ("Delivered-To", "Autoresponder"),
        ("X-Precedence", "auto_reply"),
    ],
)
def test_the_headers_other_auto_responders_set_mark_an_auto_reply(header: tuple[str, str]) -> None:
    assert automatic_reason(mail(headers=(header,)), OURS) == "auto-reply"


@pytest.mark.parametrize("value", ["Forward", "Redirect", "Mirror"])
def test_a_person_s_mail_passed_on_by_communigate_is_not_an_auto_reply(value: str) -> None:
    assert automatic_reason(mail(headers=(("X-Autogenerated", value),)), OURS) is None


def test_a_delivered_to_mailbox_is_not_an_autoresponder() -> None:
    assert automatic_reason(mail(headers=(("Delivered-To", "intake@example.cn"),)), OURS) is None


@pytest.mark.parametrize("header", [("X-MLServer", "fml [fml 4.0.3 release]"), ("X-ML-Name", "wmb-ml")])
def test_fml_list_server_headers_mark_list_mail(header: tuple[str, str]) -> None:
    assert automatic_reason(mail(headers=(header,)), OURS) == "list"


@pytest.mark.parametrize(
    "subject",
    [
        "failure notice", "Failure Notice",
        "DELIVERY FAILURE: User wmb (wmb@example.org) not listed in Domino Directory",
        "Delivery Status Notification (Delay)", "Undeliverable Mail", "Undeliverable message",
        "Returned mail: see transcript for details", "Mail delivery failed: returning message to sender",
        "Delivery Notification: Delivery has failed", "Warning: could not send message for past 4 hours",
        "Mail System Error - Returned Mail", "Mail could not be delivered", "Permanent Delivery Failure",
        "Delayed Mail (still being retried)", "NOTICE: mail delivery status.", "Non-Delivery report",
        "Delivery status notification: error", "[退信] 收件人不存在:user not exist", "【退信】邮件无法送达", "退信",
        "Fw: failure notice",
    ],
)
def test_mail_server_phrases_at_the_start_of_the_subject_mark_a_bounce(subject: str) -> None:
    assert automatic_reason(mail(subject=subject, from_addr="dc@example.cn"), OURS) == "bounce"


@pytest.mark.parametrize(
    "subject",
    [
        "关于failure notice的通知", "东城区文明办 Returned mail 说明", "Re: 退信说明", "退信说明及六月简报",
        "关于Undeliverable Mail的说明", "报送材料（上次delivery failure）", "退信后重新报送的简报",
    ],
)
def test_the_same_words_inside_a_persons_subject_do_not_count(subject: str) -> None:
    assert automatic_reason(mail(subject=subject, from_addr="dc@example.cn"), OURS) is None


@pytest.mark.parametrize("subject", ["Auto Response", "Auto-Reply: 简报", "Out of the Office: back Monday"])
def test_more_auto_reply_subject_prefixes(subject: str) -> None:
    assert automatic_reason(mail(subject=subject), OURS) == "auto-reply"


@pytest.mark.parametrize(
    "first_line",
    ["This is the mail system at host mx.example.cn.", "Hi. This is the qmail-send program at mx.example.cn.",
     "This message was created automatically by mail delivery software.",
     "Delivery has failed to these recipients or groups:"],
)
def test_a_mail_servers_first_sentence_marks_a_bounce(first_line: str) -> None:
    m = text_mail("东城区六月简报", f"{first_line}\n\n<wmb@example.org>: unknown")
    assert automatic_reason(m, OURS) == "bounce"


# ---------------------------------------------------------------- machine_marks, from the parsed tree

def report(report_type: str, part_type: str, fields: str) -> bytes:
    return (b"Content-Type: multipart/report; report-type=" + report_type.encode() + b'; boundary="r"\r\n\r\n'
            b"--r\r\nContent-Type: text/plain\r\n\r\nnotice\r\n"
            b"--r\r\nContent-Type: " + part_type.encode() + b"\r\n\r\n" + fields.encode() + b"\r\n"
            b"--r\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <intake.1@example.cn>\r\nSubject: x\r\n\r\n"
            b"--r--\r\n")


def forwarded(inner: bytes, subject: bytes = b"=?UTF-8?B?5Lic5Z+O5Yy65paH5piO5Yqe5oql6YCB5p2Q5paZ?=") -> bytes:
    """A unit's mail client forwarding `inner` as an attachment, under a subject of its own."""
    return (b"From: dc@example.cn\r\nTo: intake@example.cn\r\nSubject: " + subject + b"\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="f"\r\n\r\n'
            b"--f\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n\r\n"
            b"--f\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--f--\r\n")


@pytest.mark.parametrize(
    ("report_type", "part_type", "expected"),
    [
        ("delivery-status", "message/delivery-status", "bounce"),
        ("feedback-report", "message/feedback-report", "complaint"),
        ("disposition-notification", "message/disposition-notification", "auto-reply"),
    ],
)
def test_a_report_forwarded_inside_a_persons_looking_mail_is_still_known(report_type: str, part_type: str,
                                                                         expected: str) -> None:
    inner = b"From: MAILER-DAEMON@mx.example.cn\r\nSubject: report\r\n" + report(report_type, part_type, "Action: x")
    m = parse_mail(forwarded(inner))
    assert m.content_type == "multipart/mixed" and m.subject == "东城区文明办报送材料"
    assert m.machine_marks == (part_type, "text/rfc822-headers")
    assert automatic_reason(m, OURS) == expected


def test_a_forwarded_submission_has_no_marks_and_is_a_persons_mail() -> None:
    inner = clients.foxmail(from_addr="wang@example.cn", from_name="王科长", to="dc@example.cn", subject="报送材料",
                            body="请查收", date=WHEN, attachments=[("简报.docx", b"PK\x03\x04" + bytes(100))])
    m = parse_mail(forwarded(inner))
    assert m.machine_marks == ()
    assert automatic_reason(m, OURS) is None


def test_a_qmail_bounce_text_under_a_persons_subject_is_recognised_by_the_detectors() -> None:
    text = (b"Hi. This is the qmail-send program at mx.example.cn.\r\n"
            b"I'm afraid I wasn't able to deliver your message to the following addresses.\r\n"
            b"This is a permanent error; I've given up. Sorry it didn't work out.\r\n\r\n"
            b"<wmb-old@example.org>:\r\nSorry, no mailbox here by that name. (#5.1.1)\r\n\r\n"
            b"--- Below this line is a copy of the message.\r\n")
    raw = forwarded(b"Subject: x\r\n\r\n" + text).replace(b"Content-Type: message/rfc822\r\n\r\nSubject: x\r\n\r\n",
                                                          b"Content-Type: text/plain\r\n\r\n")
    m = parse_mail(raw)
    assert m.machine_marks == (BOUNCE_FORMAT,)
    assert automatic_reason(m, OURS) == "bounce"


def test_addresses_between_commas_in_a_persons_mail_or_a_photo_are_no_bounce() -> None:
    """flufl.bounce's LLNL detector would take ", a@b," anywhere for a bounce: it is not run."""
    photo = base64.encodebytes(b"\xff\xd8" + b", wmb@example.org, " * 20)
    raw = (b"From: dc@example.cn\r\nSubject: =?UTF-8?B?566A5oql?=\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"
           + "收件人: wmb@example.cn, wmb-old@example.org, office@example.cn,\r\n".encode() +
           b"--b\r\nContent-Type: text/plain; name=list.txt\r\n\r\n, a@example.org, b@example.org,\r\n"
           b"--b\r\nContent-Type: image/jpeg; name=a.jpg\r\nContent-Transfer-Encoding: base64\r\n\r\n" + photo +
           b"--b--\r\n")
    m = parse_mail(raw)
    assert m.machine_marks == ()
    assert automatic_reason(m, OURS) is None


def test_the_detectors_never_see_file_data() -> None:
    """A bounce text inside an image part (or any file) is data, not a notice."""
    qmail = (b"Hi. This is the qmail-send program at mx.example.cn.\r\nI'm afraid I wasn't able to deliver.\r\n\r\n"
             b"<wmb-old@example.org>:\r\nSorry.\r\n\r\n--- Below this line is a copy of the message.\r\n")
    raw = (b"From: dc@example.cn\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: application/octet-stream; name=notes.bin\r\n\r\n" + qmail + b"--b--\r\n")
    assert parse_mail(raw).machine_marks == ()


def test_machine_marks_never_raises() -> None:
    broken = Message()
    broken.set_payload([Message(), "not a message"])  # type: ignore[list-item]
    broken["From"] = "\udcff\udcfe@x"
    assert machine_marks(broken) == ()
    odd = email.message_from_bytes(b"From: =?x?q?\xff?=\r\nX-Failed-Recipients: \xff\r\n\r\nbody")
    assert isinstance(machine_marks(odd), tuple)
