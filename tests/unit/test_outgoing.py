"""Every mail the bot sends is written by `compose` directly: read back with the standard library, it says
what the standard library's own `EmailMessage` would have said (headers, bodies, attachment)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.policy import SMTP, compat32, default
from email.utils import formataddr

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.mail.triage import LOOP_HEADER
from bot.core.render.outgoing import AUTO_REPLIED, Attached, Identity, compose

BOT = Identity("intake@example.org", "市文明办材料收集")
NOW = datetime(2020, 12, 20, 2, 30, tzinfo=UTC)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def reference(to: list[tuple[str, str]], subject: str, message_id: str, text: str, html: str, in_reply_to: str = "",
              references: str = "", attached: Attached | None = None) -> bytes:
    """The same mail built by the standard library (what `compose` wrote before it wrote bytes itself)."""
    message = EmailMessage()
    message["From"] = formataddr((BOT.name, BOT.address))
    message["To"] = ", ".join(formataddr(pair) for pair in to)
    message["Subject"] = subject
    message["Date"] = "Sun, 20 Dec 2020 02:30:00 +0000"
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = AUTO_REPLIED
    message["X-Auto-Response-Suppress"] = "All"
    message[LOOP_HEADER] = "idv-2020"
    message.set_content(text, cte="base64")
    message.add_alternative(html, subtype="html", cte="base64")
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = references
    if attached is not None:
        maintype, subtype = attached.content_type.split("/")
        message.add_attachment(attached.data, maintype, subtype, filename=attached.filename)
    return message.as_bytes(policy=SMTP)


def read(raw: bytes) -> dict[str, object]:
    """What a mail client shows of a mail: decoded headers, both bodies, the attached files."""
    message = message_from_bytes(raw, policy=default)
    files = [(p.get_content_type(), p.get_filename(), p.get_payload(decode=True))
             for p in message.iter_attachments()]
    names = ["From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted", "X-Auto-Response-Suppress",
             LOOP_HEADER, "In-Reply-To", "References", "MIME-Version"]
    return {
        "headers": {name: str(message[name]) if message[name] is not None else None for name in names},
        "type": message.get_content_type(),
        "text": message.get_body(("plain",)).get_content(),
        "html": message.get_body(("html",)).get_content(),
        "files": files,
        "defects": [type(d).__name__ for part in message.walk() for d in part.defects],
    }


def both(to: list[tuple[str, str]], subject: str, text: str, html: str, **extra: object) -> tuple[bytes, bytes]:
    mine = compose(BOT, to, subject, "<intake.idv-2020.31.1@example.org>", NOW, "idv-2020", AUTO_REPLIED,
                   text, html, **extra)  # type: ignore[arg-type]
    theirs = reference(to, subject, "<intake.idv-2020.31.1@example.org>", text, html, **extra)  # type: ignore
    return mine, theirs


def test_a_reply_reads_as_the_standard_library_writes_it() -> None:
    to = [("第3街道新时代文明实践所", "unit3@example.org")]
    subject = "回复：关于报送2020年国际志愿者日主题宣传和实践活动材料的函 [IDV2020-0031]"
    text = "第3街道新时代文明实践所：\n\n您好！材料已收到。\r\n  1. 简报 1 份\n"
    html = "<p>第3街道新时代文明实践所：</p>\n<p>您好！</p>"
    mine, theirs = both(to, subject, text, html, in_reply_to="<a1@unit3.example.org>",
                        references="<a0@unit3.example.org> <a1@unit3.example.org>")
    assert read(mine) == read(theirs)
    assert read(mine)["text"] == "第3街道新时代文明实践所：\n\n您好！材料已收到。\n  1. 简报 1 份\n"
    assert read(mine)["defects"] == []


def test_the_digest_carries_its_workbook() -> None:
    workbook = Attached(bytes(range(256)) * 300, XLSX, "材料收集日报 2020-12-20.xlsx")
    mine, theirs = both([("", "staff1@example.org"), ("", "staff2@example.org")], "材料收集日报：12/40 个单位已报齐",
                        "今日概况", "<h1>今日概况</h1>", attached=workbook)
    assert read(mine) == read(theirs)
    assert read(mine)["files"] == [(XLSX, "材料收集日报 2020-12-20.xlsx", workbook.data)]
    assert read(mine)["type"] == "multipart/mixed"


def test_the_wire_form_is_crlf_with_folded_headers() -> None:
    mine, _ = both([("", "unit@example.org")], "很长的主题" * 40, "正文", "<p>正文</p>",
                   references=" ".join(f"<intake.idv-2020.{n}.1@example.org>" for n in range(10)))
    lines = mine.split(b"\r\n")
    assert b"\n" not in b"".join(lines) and b"\r" not in b"".join(lines)
    head = mine.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert max(len(line) for line in head) <= 78
    assert mine.endswith(b"--\r\n")


def test_a_line_break_in_a_subject_never_starts_a_header() -> None:
    mine = compose(BOT, [("", "unit@example.org")], "材料\r\nBcc: everyone@example.org\n", "<m@example.org>", NOW,
                   "idv-2020", AUTO_REPLIED, "正文", "<p>正文</p>")
    message = message_from_bytes(mine, policy=default)
    assert message["Bcc"] is None
    assert str(message["Subject"]) == "材料 Bcc: everyone@example.org "
    for name, address in [("", "unit@example.org\r\nBcc: everyone@example.org"),
                          ("Unit\r\nBcc: everyone@example.org", "unit@example.org")]:
        headers = compose(BOT, [(name, address)], "材料", "<m@example.org>", NOW, "idv-2020", AUTO_REPLIED, "正文",
                          "<p>正文</p>").split(b"\r\n\r\n", 1)[0]
        assert b"\r\nBcc:" not in headers and message_from_bytes(headers + b"\r\n\r\n")["Bcc"] is None


text_strategy = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x9FFF, blacklist_categories=("Cs", "Cc"))
                        | st.sampled_from("\n\r\t"), max_size=120)


@settings(max_examples=80, deadline=None)
@given(subject=text_strategy, text=text_strategy, name=text_strategy)
def test_any_subject_name_and_body_read_back_as_written(subject: str, text: str, name: str) -> None:
    """Read back, every header says what was given and the body what the standard library would have
    written. (The standard library's own folding, given such names, puts a space inside them.)"""
    name = " ".join(name.split())
    mine = compose(BOT, [(name, "unit@example.org")], subject, "<m@example.org>", NOW, "idv-2020",
                   AUTO_REPLIED, text, "<p>正文</p>")
    message = message_from_bytes(mine, policy=default)
    expected = re.sub(r"[\r\n]+", " ", subject)  # a line break is a space; ASCII is read without leading spaces
    assert str(message["Subject"]) == (expected if not expected.isascii() else expected.lstrip(" "))
    # RFC 2047's reading of adjacent encoded words (the header registry's address parser puts a space between
    # them, so the raw value is read with email.header)
    to = str(make_header(decode_header(message_from_bytes(mine, policy=compat32)["To"])))
    assert to == (formataddr((name, "unit@example.org")) if name.isascii() else f"{name} <unit@example.org>")
    assert message.get_body(("plain",)).get_content() == read(reference([("", "u@example.org")], "s", "<m@e>",
                                                                        text, ""))["text"]
    assert not [d for part in message.walk() for d in part.defects]
