"""bot.core.mail.parse.parse_mail: raw bytes as real clients write them in, a Mail out."""

import base64
import hashlib
from datetime import UTC, datetime, timedelta, timezone

import mailparser
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.mail.html_text import html_to_text
from bot.core.mail.parse import parse_mail

RARE = "朱镕基 张喆"  # 镕 and 喆 exist in GBK but not in GB2312
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4 + b"\xff\xd9"
DOCX = b"PK\x03\x04" + bytes(range(200))


def crlf(text: bytes) -> bytes:
    return text.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def b64(data: bytes) -> bytes:
    return base64.encodebytes(data)


def word(charset: str, data: bytes) -> bytes:
    return b"=?" + charset.encode() + b"?B?" + base64.b64encode(data) + b"?="


def multipart(headers: bytes, *parts: bytes, boundary: bytes = b"----=_NextPart_000") -> bytes:
    body = b"".join(b"--" + boundary + b"\n" + part + b"\n" for part in parts)
    return crlf(
        headers + b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"" + boundary + b"\"\n\n"
        + b"This is a multi-part message in MIME format.\n\n" + body + b"--" + boundary + b"--\n"
    )


def text_part(text: str, label: str = "utf-8", encoding: str = "") -> bytes:
    return (b"Content-Type: text/plain; charset=\"" + label.encode() + b"\"\n"
            b"Content-Transfer-Encoding: base64\n\n" + b64(text.encode(encoding or label)))


def foxmail(filename: str) -> bytes:
    """Foxmail: gb2312 labels on GBK bytes, long names split into several encoded words."""
    name = filename.encode("gbk")
    split = word("gb2312", name[:5]) + b"\n\t" + word("gb2312", name[5:])  # cuts a character in two
    return multipart(
        b"From: =?gb2312?B?" + base64.b64encode("张喆".encode("gbk")) + b"?= <ZhangZhe@Example.CN>\n"
        b"To: report@city.gov.cn\nSubject: " + word("gb2312", "工作简报".encode("gbk")) + b"\n"
        b"Date: Mon, 3 Jun 2024 09:15:00 +0800\nMessage-ID: <202406030915001234@example.cn>\n"
        b"X-Mailer: Foxmail 7.2.25.228[cn]\n",
        text_part(RARE, "gb2312", "gbk"),
        b"Content-Type: application/octet-stream;\n\tname=\"" + split + b"\"\n"
        b"Content-Transfer-Encoding: base64\n"
        b"Content-Disposition: attachment;\n\tfilename=\"" + split + b"\"\n\n" + b64(DOCX),
    )


def netease_163(disposition_params: bytes) -> bytes:
    """163 webmail: RFC 2231 UTF-8 names."""
    return multipart(
        b"From: \"unit\" <unit@163.com>\nTo: report@city.gov.cn\nSubject: photos\n"
        b"Date: Tue, 4 Jun 2024 10:00:00 +0800 (CST)\n",
        text_part("see attachments"),
        b"Content-Type: image/jpeg\nContent-Transfer-Encoding: base64\n"
        b"Content-Disposition: attachment;" + disposition_params + b"\n\n" + b64(JPEG),
    )


def outlook_raw(filename: bytes) -> bytes:
    """Outlook on Chinese Windows: undeclared raw bytes inside filename="..."."""
    return multipart(
        b"From: Unit <unit@example.cn>\nSubject: brief\n",
        text_part("brief attached"),
        b"Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document;\n"
        b"\tname=\"" + filename + b"\"\nContent-Transfer-Encoding: base64\n"
        b"Content-Disposition: attachment;\n\tfilename=\"" + filename + b"\"\n\n" + b64(DOCX),
    )


def test_gb2312_label_on_gbk_bytes_keeps_rare_characters() -> None:
    mail = parse_mail(foxmail("典型事例.doc"))
    assert mail.text == RARE


def test_foxmail_filename_split_into_encoded_words_is_joined() -> None:
    mail = parse_mail(foxmail("典型事例（镕）.doc"))
    assert [(a.filename, a.payload) for a in mail.attachments] == [("典型事例（镕）.doc", DOCX)]


def test_foxmail_headers_are_decoded() -> None:
    mail = parse_mail(foxmail("a.doc"))
    assert (mail.subject, mail.from_addr, mail.from_name, mail.to) == (
        "工作简报", "zhangzhe@example.cn", "张喆", ("report@city.gov.cn",))
    assert mail.message_id == "202406030915001234@example.cn"
    assert mail.date == datetime(2024, 6, 3, 9, 15, tzinfo=timezone(timedelta(hours=8)))
    assert mail.content_type == "multipart/mixed"
    assert mail.header("x-mailer") == "Foxmail 7.2.25.228[cn]"
    assert [name for name, _ in mail.headers] == [
        "from", "to", "subject", "date", "message-id", "x-mailer", "mime-version", "content-type"]


def test_163_rfc2231_utf8_filename() -> None:
    mail = parse_mail(netease_163(b"\n\tfilename*=UTF-8''%E7%85%A7%E7%89%87%201.jpg"))
    assert [(a.filename, a.content_type, a.payload) for a in mail.attachments] == [
        ("照片 1.jpg", "image/jpeg", JPEG)]


def test_rfc2231_continuations_are_joined_before_decoding() -> None:
    params = b"\n\tfilename*0*=UTF-8''%E6%B4%BB%E5%8A%A8%E7;\n\tfilename*1*=%85%A7%E7%89%87;\n\tfilename*2=.jpg"
    assert parse_mail(netease_163(params)).attachments[0].filename == "活动照片.jpg"


def test_rfc2231_name_wins_over_the_plain_fallback_name() -> None:
    params = b" filename=\"__.jpg\";\n\tfilename*=utf-8''%E7%85%A7%E7%89%87.jpg"
    assert parse_mail(netease_163(params)).attachments[0].filename == "照片.jpg"


def test_outlook_raw_gbk_filename() -> None:
    assert parse_mail(outlook_raw("某单位简报（6月）.docx".encode("gbk"))).attachments[0].filename == (
        "某单位简报（6月）.docx")


def test_raw_utf8_filename() -> None:
    assert parse_mail(outlook_raw("活动简报.docx".encode())).attachments[0].filename == "活动简报.docx"


def test_filename_keeps_path_parts_and_drops_surrounding_space() -> None:
    assert parse_mail(outlook_raw(b"  C:\\docs\\brief.docx ")).attachments[0].filename == "C:\\docs\\brief.docx"


def test_undeclared_utf8_and_gbk_subject_bytes() -> None:
    assert parse_mail("Subject: 活动简报 报送\r\n\r\nx".encode()).subject == "活动简报 报送"
    assert parse_mail("Subject: 活动简报\r\n\r\nx".encode("gbk")).subject == "活动简报"


def test_undeclared_gbk_display_name_in_from() -> None:
    mail = parse_mail("From: 张三 <Zhang@QQ.com>\r\n\r\nx".encode("gbk"))
    assert (mail.from_name, mail.from_addr) == ("张三", "zhang@qq.com")


@pytest.mark.parametrize(
    ("label", "body", "text"),
    [
        ("none", "简报已发送".encode(), "简报已发送"),
        ("none", "简报已发送".encode("gbk"), "简报已发送"),
        ("windows-874", "สวัสดี".encode("cp874"), "สวัสดี"),
        ("uft-8", "照片".encode(), "照片"),
        ("unknown-8bit", "照片".encode(), "照片"),
        ("x-unknown", "照片".encode("gbk"), "照片"),
        ("unicode-1-1-utf-7", "你好".encode("utf-7"), "你好"),
    ],
)
def test_odd_charset_labels_keep_text(label: str, body: bytes, text: str) -> None:
    raw = (f"Subject: =?{label}?B?".encode() + base64.b64encode(body) + b"?=\r\n"
           + f"Content-Type: text/plain; charset={label}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n".encode()
           + body)
    mail = parse_mail(raw)
    assert (mail.subject, mail.text) == (text, text)


def test_empty_input_gives_an_empty_mail() -> None:
    mail = parse_mail(b"")
    assert (mail.subject, mail.from_addr, mail.text, mail.attachments, mail.date, mail.message_id) == (
        "", "", "", (), None, None)


def test_garbage_input_gives_a_mail_without_files() -> None:
    garbage = bytes(range(256)) * 20
    mail = parse_mail(garbage)
    assert (mail.subject, mail.from_addr, mail.attachments) == ("", "", ())
    assert not any(d.startswith("unparsable") for d in mail.defects)


def malformed_epilogue_mail() -> bytes:
    """A nested multipart whose boundary never appears and an unclosed outer one: mail-parser raises."""
    return crlf(
        b"From: unit@example.cn\nSubject: report\nMIME-Version: 1.0\n"
        b"Content-Type: multipart/mixed; boundary=\"outer\"\n\n"
        b"--outer\nContent-Type: text/plain; charset=utf-8\n\nbody\n"
        b"--outer\nContent-Type: application/pdf; name=\"report.pdf\"\nContent-Transfer-Encoding: base64\n\n"
        + b64(b"%PDF-1.4\n%%EOF\n")
        + b"--outer\nContent-Type: multipart/alternative; boundary=\"never-used\"\n\norphan text\n"
    )


def test_mail_parser_failure_falls_back_to_stdlib_and_keeps_attachments() -> None:
    raw = malformed_epilogue_mail()
    with pytest.raises(AttributeError):  # the trap this test is about; if fixed upstream, rewrite the test
        mailparser.parse_from_bytes(raw)
    mail = parse_mail(raw)
    assert [(a.filename, a.payload) for a in mail.attachments] == [("report.pdf", b"%PDF-1.4\n%%EOF\n")]
    assert mail.subject == "report"
    assert any(d.startswith("mail-parser failed") for d in mail.defects)


def iphone_mail() -> bytes:
    """iPhone Mail: photos as inline parts with a file name, text around them."""
    return multipart(
        b"From: Unit <unit@icloud.com>\nSubject: photos\n",
        text_part("photos below"),
        b"Content-Type: image/jpeg;\n\tname=IMG_0001.JPG\nContent-Disposition: inline;\n\tfilename=IMG_0001.JPG\n"
        b"Content-Transfer-Encoding: base64\nContent-Id: <A1B2C3@icloud.com>\n\n" + b64(JPEG),
        text_part("sent from my iPhone"),
        boundary=b"Apple-Mail-1",
    )


def test_iphone_inline_photo_is_an_attachment_marked_inline() -> None:
    mail = parse_mail(iphone_mail())
    assert [(a.filename, a.disposition, a.content_id, a.sha256) for a in mail.attachments] == [
        ("IMG_0001.JPG", "inline", "A1B2C3@icloud.com", hashlib.sha256(JPEG).hexdigest())]
    assert mail.text == "photos below\nsent from my iPhone"


def test_html_only_body_with_cid_logo() -> None:
    html = '<html><head><style>p{}</style></head><body><p>您好&nbsp;单位</p><img src="cid:logo@x"><br>谢谢</body>'
    raw = crlf(
        b"From: a@b.cn\nSubject: s\nMIME-Version: 1.0\nContent-Type: multipart/related; boundary=\"rel\"\n\n"
        b"--rel\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
        + html.encode().replace(b"=", b"=3D") + b"\n"
        b"--rel\nContent-Type: image/png; name=\"logo.png\"\nContent-Disposition: inline; filename=\"logo.png\"\n"
        b"Content-ID: <logo@x>\nContent-Transfer-Encoding: base64\n\n" + b64(b"\x89PNG\r\n\x1a\n") + b"--rel--\n"
    )
    mail = parse_mail(raw)
    assert mail.html == html
    assert mail.text == "您好 单位\n\n谢谢"
    assert [(a.filename, a.disposition, a.content_id, a.payload) for a in mail.attachments] == [
        ("logo.png", "inline", "logo@x", b"\x89PNG\r\n\x1a\n")]


def test_attached_message_is_one_attachment_named_from_its_subject() -> None:
    inner = crlf(b"From: x@y.cn\nSubject: =?utf-8?B?" + base64.b64encode("转发：简报".encode()) + b"?=\n\nhi\n")
    raw = multipart(
        b"From: a@b.cn\nSubject: fwd\n",
        text_part("forwarding"),
        b"Content-Type: message/rfc822\nContent-Disposition: attachment\n\n" + inner,
    )
    mail = parse_mail(raw)
    assert [(a.filename, a.content_type, a.payload) for a in mail.attachments] == [
        ("转发：简报.eml", "message/rfc822", inner.rstrip(b"\r\n") + b"\r\n")]


def test_delivery_status_is_not_an_attachment_but_the_returned_headers_are() -> None:
    raw = crlf(
        b"From: MAILER-DAEMON@mx.cn\nSubject: Undelivered\nMIME-Version: 1.0\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\n\n"
        b"--r\nContent-Type: text/plain\n\nCould not deliver.\n"
        b"--r\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.cn\n\n"
        b"Final-Recipient: rfc822; nobody@x.cn\nAction: failed\nStatus: 5.1.1\n"
        b"--r\nContent-Type: text/rfc822-headers\n\nMessage-ID: <r.1@x.cn>\nSubject: original\n--r--\n"
    )
    mail = parse_mail(raw)
    assert (mail.content_type, mail.text) == ("multipart/report", "Could not deliver.")
    assert [(a.filename, a.content_type, a.payload) for a in mail.attachments] == [
        ("part1.txt", "text/rfc822-headers", b"Message-ID: <r.1@x.cn>\r\nSubject: original")]


def test_returned_utf8_headers_of_a_global_bounce_are_an_attachment() -> None:
    raw = crlf(
        b"From: MAILER-DAEMON@mx.cn\nSubject: Undelivered\nMIME-Version: 1.0\n"
        b"Content-Type: multipart/report; report-type=global-delivery-status; boundary=\"r\"\n\n"
        b"--r\nContent-Type: text/plain\n\nCould not deliver.\n"
        b"--r\nContent-Type: message/global-headers\n\nMessage-ID: <r.2@x.cn>\n"
        + "Subject: 东城区简报\n".encode() + b"\n--r--\n"
    )
    (returned,) = parse_mail(raw).attachments
    assert (returned.filename, returned.content_type) == ("part1.txt", "message/global-headers")
    assert returned.payload == "Message-ID: <r.2@x.cn>\r\nSubject: 东城区简报\r\n\r\n".encode()


def test_text_part_with_a_file_name_is_an_attachment_not_body() -> None:
    raw = multipart(
        b"Subject: s\n", text_part("main body"),
        'Content-Type: text/plain; charset=gbk; name="名单.txt"\nContent-Transfer-Encoding: 8bit\n\n单位名单'
        .encode("gbk"),
    )
    mail = parse_mail(raw)
    assert mail.text == "main body"
    assert [(a.filename, a.payload) for a in mail.attachments] == [("名单.txt", "单位名单".encode("gbk"))]


def test_unnamed_file_part_gets_a_generated_name() -> None:
    raw = multipart(b"Subject: s\n", text_part("x"),
                    b"Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n" + b64(b"%PDF-1.7"))
    assert [(a.filename, a.disposition) for a in parse_mail(raw).attachments] == [("part1.pdf", "")]


def test_broken_base64_attachment_decodes_what_it_can() -> None:
    encoded = base64.b64encode(DOCX).decode()
    broken = (encoded[:40] + "!!\n" + encoded[40:]).encode()[:-3]  # stray characters, truncated end
    raw = multipart(b"Subject: s\n", text_part("x"),
                    b"Content-Type: application/zip; name=a.zip\nContent-Transfer-Encoding: BASE64 \n\n" + broken)
    payload = parse_mail(raw).attachments[0].payload
    assert DOCX.startswith(payload) and len(payload) >= len(DOCX) - 3


def test_quoted_printable_attachment_is_decoded() -> None:
    raw = multipart(b"Subject: s\n", text_part("x"),
                    b"Content-Type: text/csv; name=a.csv\nContent-Transfer-Encoding: quoted-printable\n\n"
                    b"a,b=3D1=\n,c\n")
    assert parse_mail(raw).attachments[0].payload == b"a,b=1,c\r\n"


@pytest.mark.parametrize("value", ["not a date", "Mon, 32 Jun 2024 25:00:00 +0800", "Thu, 1 Jan 99999 00:00 +0000"])
def test_bad_dates_become_none(value: str) -> None:
    assert parse_mail(f"Date: {value}\r\n\r\nx".encode()).date is None


def test_date_without_zone_is_utc() -> None:
    assert parse_mail(b"Date: 4 Jun 2024 10:00:00 -0000\r\n\r\nx").date == datetime(2024, 6, 4, 10, tzinfo=UTC)


def test_deep_nesting_stops_without_losing_the_headers() -> None:
    nesting = b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i) for i in range(300))
    mail = parse_mail(b"Subject: deep\r\n" + nesting + b"Content-Type: text/plain\r\n\r\nhi\r\n")
    assert mail.subject == "deep"
    assert any(d.startswith("MIME nesting deeper") for d in mail.defects)


def test_html_to_text_drops_scripts_and_keeps_blocks_on_lines() -> None:
    html = "<div>一<script>alert(1)</script></div><table><tr><td>a</td><td>b</td></tr></table>&lt;ok&gt;"
    assert html_to_text(html) == "一\n\nab\n\n<ok>"


@given(st.text(alphabet="\r\nab", max_size=12))
def test_the_line_end_search_the_parser_uses_matches_the_standard_regex(text: str) -> None:
    import re

    from bot.core.mail.parse import _feedparser

    standard = re.compile(r"(\r\n|\r|\n)\Z")
    ours = _feedparser().NLCRE_eol
    assert not isinstance(ours, re.Pattern)  # the private copy of the feed parser has its own search
    found, expected = ours.search(text), standard.search(text)
    assert (found.group(0) if found else None) == (expected.group(0) if expected else None)


def test_parsing_leaves_the_standard_feed_parser_as_it_is() -> None:
    import email.feedparser
    import re

    mail = parse_mail(b"Subject: s\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
                      b"Content-Type: text/plain\r\n\r\nhi\r\n--b--\r\n")
    assert mail.text.strip() == "hi"
    assert isinstance(email.feedparser.NLCRE_eol, re.Pattern)
    assert email.feedparser.NLCRE_eol.pattern == r"(\r\n|\r|\n)\Z"
    assert email.message_from_string("Subject: x\n\nbody\n").get_payload() == "body\n"


def test_report_parts_are_recorded_as_machine_marks_though_not_kept_as_files() -> None:
    status = (b"Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.cn\n\n"
              b"Final-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n")
    headers = b"Content-Type: text/rfc822-headers\n\nMessage-ID: <m1@example.cn>\nSubject: x\n"
    mail = parse_mail(multipart(b"Subject: s\n", text_part("notice"), status, headers))
    assert mail.machine_marks == ("message/delivery-status", "text/rfc822-headers")
    assert [a.content_type for a in mail.attachments] == ["text/rfc822-headers"]


def test_an_ordinary_mail_with_a_photo_has_no_machine_marks() -> None:
    photo = b"Content-Type: image/jpeg; name=a.jpg\nContent-Transfer-Encoding: base64\n\n" + b64(JPEG * 50)
    assert parse_mail(multipart(b"Subject: s\n", text_part("请查收"), photo)).machine_marks == ()
