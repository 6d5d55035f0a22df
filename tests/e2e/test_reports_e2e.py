"""Staff reports through the `intake` command against Dovecot and an SMTP sink: review, digest, export."""

from __future__ import annotations

import csv
import email
import hashlib
import io
import json
import zipfile
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from tests.e2e.harness import Setup, write_config
from tests.e2e.servers import Dovecot, SmtpSink, append
from tests.e2e.test_poll_e2e import MAILS, TO

STAFF = ("office@example.cn", "lead@example.cn")


def polled(tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink) -> Setup:
    config = write_config(tmp_path, dovecot, smtp_sink)
    text = config.read_text(encoding="utf-8")
    assert 'digest_to = ["office@example.cn"]' in text
    config.write_text(text.replace('digest_to = ["office@example.cn"]', f"digest_to = {json.dumps(list(STAFF))}"),
                      encoding="utf-8")
    setup = Setup(tmp_path, config, tmp_path / "data", dovecot, smtp_sink)
    for name in ("foxmail", "outlook_small", "iphone_unregistered", "nobody"):
        writer, args, internaldate = MAILS[name]
        append(dovecot, writer(to=TO, **args), internaldate)
    setup.intake("poll", "--once")
    return setup


def table_rows(data: bytes | Path) -> list[tuple[Any, ...]]:
    """The unit rows of 报送情况统计表 (title, headings and the total row left out)."""
    book = load_workbook(io.BytesIO(data) if isinstance(data, bytes) else data)
    rows = list(book["报送情况统计表"].iter_rows(values_only=True))
    assert rows[1][:8] == ("序号", "单位", "分组", "必报", "简报", "照片", "典型事例", "其他")
    assert rows[-1][1] == "合计"
    return rows[2:-1]


def expected_rows(status: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(n, u["name"], u["group"], "是" if u["required"] else "否", u["counts"]["brief"], u["counts"]["photo"],
             u["counts"]["case_study"], u["counts"]["other"])
            for n, u in enumerate(status["units"], start=1)]


def test_review_digest_and_exports_agree_with_status(tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink) -> None:
    setup = polled(tmp_path, dovecot, smtp_sink)
    status = setup.status()
    ids = {m["from"]: m["id"] for m in status["messages"]}
    assert len(ids) == 4

    # The needs-a-decision list: the mail no unit was found for, and the unit found by name only.
    review = json.loads(setup.intake("review", "--json").stdout)
    assert [(r["ref"], r["kind"], r["unit"]) for r in review] == [
        (f"M{ids['someone@163.example']}", "unassigned", None),
        (f"M{ids['zhang.san@icloud.example']}", "unregistered_sender", "市志愿服务指导中心"),
    ]
    table = setup.intake("review").stdout
    assert "待处理事项（共 2 项）" in table and "未确认单位" in table and "非登记邮箱" in table

    # The digest: one mail to both staff addresses, text and HTML alternatives, the unit table attached.
    before = len(smtp_sink.messages)
    out = setup.intake("digest", "--send").stdout
    assert "已加入发送队列，收件人：office@example.cn, lead@example.cn" in out
    assert "发出 1 封" in out
    sink = smtp_sink.wait_for(before + 1)
    assert len(sink) == before + 1
    assert sink[-1].rcpt_tos == STAFF
    digest = email.message_from_bytes(sink[-1].data, policy=policy.default)
    assert isinstance(digest, EmailMessage)
    assert digest["Subject"].startswith("【报送日报】2020年国际志愿者日主题宣传和实践活动：")
    alternative = digest.get_payload()[0]
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    text = digest.get_body(("plain",)).get_content()
    assert f"[M{ids['someone@163.example']}] 未确认单位" in text
    (attachment,) = list(digest.iter_attachments())
    assert attachment.get_filename() == "报送情况统计表.xlsx"
    attached = table_rows(attachment.get_content())
    assert [row[:8] for row in attached] == expected_rows(status)
    assert attached[0][8] == "已齐" and attached[1][1] == "西城区文明办" and attached[1][8] == "尚缺：简报、照片"
    written = sorted((setup.data / "digests").iterdir())
    assert [p.suffix for p in written] == [".html", ".xlsx"]
    # A second run a moment later is a new mail with its own Message-ID.
    setup.intake("digest", "--send")
    again = smtp_sink.wait_for(before + 2)
    second = email.message_from_bytes(again[-1].data, policy=policy.default)
    assert second["Message-ID"] != digest["Message-ID"]
    assert "以来收到的邮件（0 封）" in second.get_body(("plain",)).get_content()

    # A digest written to a file is not sent.
    setup.intake("digest", "--out", "preview.html")
    assert (tmp_path / "preview.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [row[:8] for row in table_rows(tmp_path / "preview.xlsx")] == expected_rows(status)
    assert len(smtp_sink.messages) == before + 2

    # The exports.
    out = setup.intake("export", "--xlsx", "统计表.xlsx", "--zip", "材料.zip").stdout
    assert "统计表已导出" in out and "材料已打包" in out
    rows = table_rows(tmp_path / "统计表.xlsx")
    assert [row[:8] for row in rows] == expected_rows(status)
    assert rows[0][12] == "dc-wmb@example.cn" and rows[0][11] == "2020-12-10 10:00"
    # The same brief was sent by two units: a file is its content and its sender.
    stored = {(f["sha256"], m["from"]): (m, f) for m in status["messages"] for f in m["files"] if f["path"]}
    with zipfile.ZipFile(tmp_path / "材料.zip") as zf:
        manifest = list(csv.reader(io.StringIO(zf.read("manifest.csv").decode("utf-8-sig"))))
        files = [line for line in manifest[1:] if line[4]]
        assert sorted((line[6], line[9]) for line in files) == sorted(stored)
        for line in files:
            data = zf.read(line[4])
            message, file = stored[(line[6], line[9])]
            assert hashlib.sha256(data).hexdigest() == line[6] and len(data) == file["bytes"] == int(line[5])
            assert line[0] == (message["unit"] or "未确认单位") and line[2] == file["name"]
            assert line[9] == message["from"]
        assert "东城区文明办/照片/志愿服务现场照片一.jpg" in zf.namelist()
        missing = {line[0]: line[10] for line in manifest[1:] if not line[4]}
        short = {"brief": "简报", "photo": "照片"}
        assert missing == {
            u["name"]: "尚缺：" + "、".join(short[c] for c in u["missing"]) if u["files"] else "尚未报送任何材料"
            for u in status["units"] if u["required"] and u["missing"]
        }
