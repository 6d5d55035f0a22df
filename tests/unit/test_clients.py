"""The mail writers in tests/fixtures/clients.py write what each client writes, and the stdlib can read it."""

from __future__ import annotations

import base64
import csv
import email
import email.policy
import io
import re
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest

from bot.adapters.config_file import load_config
from tests.fixtures import clients

CST = timezone(timedelta(hours=8))
DATE = datetime(2020, 12, 10, 15, 30, 41, tzinfo=CST)
LONG_NAME = "东城区文明办2020年国际志愿者日主题宣传和实践活动工作简报（最终版）.docx"
ATTACHMENTS = [
    (LONG_NAME, b"PK\x03\x04" + bytes(range(256)) * 3),
    ("志愿服务照片1.jpg", b"\xff\xd8\xff\xe0" + bytes(range(200))),
    ("IMG_0001.JPG", b"\xff\xd8\xff\xe1" + b"\x00" * 100),
]
SUBJECT = "东城区文明办报送2020年国际志愿者日主题宣传和实践活动材料（简报、照片）"
BODY = "市文明办：\n\n附件是我单位的简报和照片，请查收。\n\n联系人：王喆\n"  # 喆 is in GBK, not in GB2312
BASE = dict(from_addr="dongcheng-wmb@163.example", from_name="东城区文明办", to="wmb-collect@163.example",
            subject=SUBJECT, body=BODY, date=DATE)
WRITERS = [clients.foxmail, clients.netease_webmail, clients.outlook, clients.iphone, clients.with_signature_logo]
DECODABLE = [w for w in WRITERS if w is not clients.outlook]
SAMPLES = Path(__file__).resolve().parents[2] / "bot" / "samples"


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def named_parts(msg: EmailMessage) -> list[EmailMessage]:
    return [part for part in msg.walk() if part.get_filename() and part.get_content_maintype() != "multipart"]


def header_block(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0]


@pytest.mark.parametrize("writer", DECODABLE, ids=lambda w: w.__name__)
def test_stdlib_reads_back_subject_sender_and_every_attachment(writer) -> None:
    msg = parse(writer(**BASE, attachments=ATTACHMENTS))

    files = [(p.get_filename(), p.get_payload(decode=True)) for p in named_parts(msg)]
    if writer is clients.with_signature_logo:
        assert files[0] == ("image001.png", clients.tiny_png())
        files = files[1:]
    assert files == ATTACHMENTS
    assert msg["Subject"] == SUBJECT
    assert msg["From"].addresses[0].addr_spec == "dongcheng-wmb@163.example"
    assert msg["From"].addresses[0].display_name == "东城区文明办"


@pytest.mark.parametrize("writer", [*WRITERS, clients.plain_mail], ids=lambda w: w.__name__)
def test_same_inputs_give_the_same_bytes_and_another_date_another_message_id(writer) -> None:
    extra = {} if writer is clients.plain_mail else {"attachments": ATTACHMENTS}
    first, again = writer(**BASE, **extra), writer(**BASE, **extra)
    later = writer(**{**BASE, "date": DATE + timedelta(minutes=1)}, **extra)

    assert first == again
    assert parse(first)["Message-ID"] != parse(later)["Message-ID"]


@pytest.mark.parametrize("writer", [*WRITERS, clients.plain_mail], ids=lambda w: w.__name__)
def test_every_line_ends_in_crlf_and_headers_stay_short(writer) -> None:
    extra = {} if writer is clients.plain_mail else {"attachments": ATTACHMENTS}
    raw = writer(**BASE, **extra)

    assert raw.endswith(b"\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    subject = re.search(rb"\r\nSubject: (.*?)\r\n(?![ \t])", raw, re.S)
    assert subject is not None
    assert all(len(line) <= 78 for line in (b"Subject: " + subject.group(1)).split(b"\r\n"))


def test_given_message_id_and_extra_headers_are_written() -> None:
    msg = parse(clients.netease_webmail(**BASE, message_id="abc@163.example", extra_headers={"X-Note": "补报"}))

    assert msg["Message-ID"] == "<abc@163.example>"
    assert msg["X-Note"] == "补报"


def test_date_without_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        clients.foxmail(**{**BASE, "date": datetime(2020, 12, 10, 15, 30)})


def test_foxmail_labels_gb2312_but_writes_gbk_bytes() -> None:
    msg = parse(clients.foxmail(**BASE))
    plain = msg.get_body(("plain",))
    payload = plain.get_payload(decode=True)

    assert plain.get_content_charset() == "gb2312"
    assert payload.decode("gbk") == BODY.replace("\n", "\r\n")
    with pytest.raises(UnicodeDecodeError):
        payload.decode("gb2312")


def test_foxmail_splits_a_long_name_into_several_encoded_words_inside_the_quotes() -> None:
    raw = clients.foxmail(**BASE, attachments=ATTACHMENTS)
    found = re.search(rb'\tfilename="(=\?gb2312\?B\?[^"]*)"', raw)

    assert found is not None
    words = found.group(1).split(b"\r\n\t")
    assert len(words) >= 2
    assert all(re.fullmatch(rb"=\?gb2312\?B\?[A-Za-z0-9+/=]+\?=", w) for w in words)
    decoded = b"".join(base64.b64decode(w[11:-2]) for w in words)
    assert decoded.decode("gbk") == LONG_NAME
    assert b"X-Mailer: Foxmail 7.2.25.228[cn]" in header_block(raw)
    assert b"Content-Type: application/octet-stream;" in raw  # Foxmail does not know .docx


def test_foxmail_nests_alternative_inside_mixed() -> None:
    msg = parse(clients.foxmail(**BASE, attachments=ATTACHMENTS))

    assert msg.get_content_type() == "multipart/mixed"
    assert [p.get_content_type() for p in msg.iter_parts()][0] == "multipart/alternative"


def test_netease_writes_rfc2231_names_with_continuations_for_long_ones() -> None:
    raw = clients.netease_webmail(**BASE, attachments=ATTACHMENTS)

    assert b"filename*0*=UTF-8''%E4%B8%9C" in raw
    assert b"\tfilename*1*=" in raw
    assert b"filename*=UTF-8''%E5%BF%97%E6%84%BF" in raw  # a short name: one piece
    assert b'filename="IMG_0001.JPG"' in raw
    head = header_block(raw)
    for name in (b"X-Mailer: Coremail Webmail Server Version", b"X-Originating-IP: [203.0.113.",
                 b"X-CM-TRANSID:"):
        assert name in head


def test_outlook_puts_raw_gbk_bytes_in_file_names_and_encodes_the_subject() -> None:
    raw = clients.outlook(**BASE, attachments=ATTACHMENTS)
    msg = parse(raw)
    gbk = LONG_NAME.encode("gbk")

    assert b'\tfilename="' + gbk + b'"' in raw
    assert b'\tname="' + gbk + b'"' in raw
    assert b"Subject: =?gb2312?B?" in raw
    assert msg["Subject"] == SUBJECT
    assert [p.get_payload(decode=True) for p in named_parts(msg)] == [data for _, data in ATTACHMENTS]
    assert msg.get_body(("plain",))["Content-Transfer-Encoding"] == "quoted-printable"
    for line in (b"X-Mailer: Microsoft Outlook 16.0", b"Thread-Index: ", b"Content-Language: zh-cn"):
        assert line in header_block(raw)


def test_iphone_sends_photos_inline_with_unquoted_names() -> None:
    raw = clients.iphone(**BASE, attachments=ATTACHMENTS)
    msg = parse(raw)
    photo = [p for p in named_parts(msg) if p.get_filename() == "IMG_0001.JPG"][0]

    assert b"\tname=IMG_0001.JPG;" in raw
    assert b"\tfilename=IMG_0001.JPG" in raw
    assert photo.get_content_disposition() == "inline"
    assert photo["Content-Transfer-Encoding"] == "base64"
    assert msg["Mime-Version"] == "1.0 (1.0)"
    assert msg["X-Mailer"] == "iPhone Mail (20B110)"
    assert msg.get_body(("plain",)).get_content() == BODY.replace("\n", "\r\n")


def test_plain_mail_has_no_attachments_and_reads_back() -> None:
    msg = parse(clients.plain_mail(**{**BASE, "subject": "周末聚餐", "body": "周六晚上六点老地方见。\n"}))

    assert named_parts(msg) == []
    assert msg["Subject"] == "周末聚餐"
    assert msg.get_body(("plain",)).get_content() == "周六晚上六点老地方见。\r\n"


@pytest.mark.parametrize("style", ["163", "qq"])
def test_auto_reply_is_marked_automatic(style: str) -> None:
    msg = parse(clients.auto_reply(**{**BASE, "subject": "请报送材料", "body": "我正在休假。"},
                                   in_reply_to="notice@163.example", style=style))

    assert msg["Subject"] == "自动回复: 请报送材料"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Autoreply"] == "yes"
    assert msg["In-Reply-To"] == "<notice@163.example>"
    assert msg.get_content() == "我正在休假。"


def test_bounce_is_a_delivery_status_report_carrying_the_original() -> None:
    original = clients.outlook(**{**BASE, "to": "gone@example.cn"}, message_id="orig-1@163.example")
    msg = parse(clients.bounce(original, failed_recipient="gone@example.cn", date=DATE))

    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    assert msg["From"].addresses[0].addr_spec == "MAILER-DAEMON@mx.example.cn"
    assert msg["To"] == "dongcheng-wmb@163.example"
    kinds = [p.get_content_type() for p in msg.iter_parts()]
    assert kinds == ["text/plain", "message/delivery-status", "message/rfc822"]
    returned = list(msg.iter_parts())[2].get_content()
    assert returned["Message-ID"] == "<orig-1@163.example>"


def test_signature_logo_is_inline_and_referenced_by_cid() -> None:
    msg = parse(clients.with_signature_logo(**BASE))
    logo = [p for p in msg.walk() if p.get_content_type() == "image/png"][0]
    cid = logo["Content-ID"].strip("<>")

    assert msg.get_content_type() == "multipart/related"
    assert logo.get_content_disposition() == "inline"
    assert logo.get_filename() == "image001.png"
    assert f'src="cid:{cid}"' in msg.get_body(("html",)).get_content()


def test_signature_logo_may_have_no_file_name() -> None:
    msg = parse(clients.with_signature_logo(**BASE, logo_filename=None, logo=b"\x89PNG fake"))
    logo = [p for p in msg.walk() if p.get_content_type() == "image/png"][0]

    assert logo.get_filename() is None
    assert logo.get_content_disposition() == "inline"
    assert logo.get_payload(decode=True) == b"\x89PNG fake"


def test_sample_config_loads_with_the_demo_campaign() -> None:
    config = load_config(SAMPLES / "demo.toml")

    assert config.campaigns[0].slug == "idv-2020"
    assert config.campaigns[0].deadline == datetime(2020, 12, 31, 18, 0, tzinfo=CST)
    assert config.imap is None
    assert config.units_file == SAMPLES / "units.csv"


def test_sample_roster_is_utf8_with_bom_and_chinese_headers() -> None:
    data = (SAMPLES / "units.csv").read_bytes()
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))

    assert data.startswith(b"\xef\xbb\xbf")
    assert rows[0] == ["单位名称", "别名", "邮箱", "分组", "是否必报"]
    assert [row[4] for row in rows[1:]].count("否") == 1


def test_samples_are_crlf_mail_under_ten_megabytes() -> None:
    emls = sorted(SAMPLES.glob("*.eml"))
    total = sum(p.stat().st_size for p in SAMPLES.iterdir() if p.is_file())

    assert len(emls) == 13
    assert total < 10_000_000
    for path in emls:
        raw = path.read_bytes()
        assert b"\n" not in raw.replace(b"\r\n", b""), path.name
        assert parse(raw)["Date"] is not None, path.name
