"""Mail that is not a submission, through Dovecot, `poll --once` and the SMTP server: everyday mail that
merely mentions a unit is left alone, a stranger is asked once what to send and never sent a problem list, a
unit's question reaches staff (review, digest) and is answered as a question, and a broken header fold loses
no header."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.harness import Setup, body_text, parse, write_config
from tests.e2e.servers import Dovecot, SmtpSink, append
from tests.e2e.test_poll_e2e import TO, when
from tests.fixtures import clients
from tests.fixtures.files import make_docx, make_jpeg

RECEIVED = when(12, 10)
EXTRA_UNITS = "小店区文明办,小店区宣传部,xd@example.cn,区县,是\n"
QUESTION = "请问活动简报需要加盖公章吗？照片是否需要单独打包？"


def plain(sender: str, name: str, subject: str, body: str, n: int, files: list[tuple[str, bytes]] | None = None
          ) -> bytes:
    return clients.foxmail(from_addr=sender, from_name=name, to=TO, subject=subject, body=body, date=RECEIVED,
                           attachments=files or [], message_id=f"case-{n}@example.cn")


def broken_fold() -> bytes:
    files = [("东城区活动照片.jpg", make_jpeg(1_100_000, seed=9)), ("东城区活动简报.docx", make_docx("东城区活动简报"))]
    raw = plain("dc-wmb@example.cn", "东城区文明办", "东城区文明办报送材料", "请查收。", 9, files)
    head, sep, rest = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    first = next(i for i, line in enumerate(lines) if line.lower().startswith((b"from:", b"subject:")))
    lines.insert(first, b"this header line lost its fold")
    return b"\r\n".join(lines) + sep + rest


def test_mail_that_is_not_a_submission(tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink) -> None:
    setup = Setup(tmp_path, write_config(tmp_path, dovecot, smtp_sink), tmp_path / "data", dovecot, smtp_sink)
    with (tmp_path / "units.csv").open("a", encoding="utf-8") as roster:
        roster.write(EXTRA_UNITS)
    cases = [
        plain("zhangwei@qq.example", "张伟", "周末聚餐", "周六有空吗？\n\n张伟\n小店食品批发 经理", 1),
        plain("hr@jobs.example", "招聘会", "冬季招聘会邀请", "会场在小店区宣传部对面，欢迎参加。\n" * 3, 2),
        plain("friend@qq.example", "李四", "东城区文明办的活动材料", "材料见附件", 3,
              [("活动照片.jpg", make_jpeg(1_100_000, seed=3)), ("活动简报.docx", make_docx("东城区活动简报"))]),
        plain("stranger@163.example", "王五", "西城区文明办报送", "你好", 4),
        plain("stranger@163.example", "王五", "西城区文明办报送（再发一次）", "你好", 5),
        plain("nh-xcb@example.cn", "南湖县委宣传部", "关于报送材料的咨询", QUESTION, 6),
        plain("zyfw@example.cn", "市志愿服务指导中心", "市志愿服务指导中心报送材料", "请查收。", 7),
        broken_fold(),
    ]
    for raw in cases:
        append(dovecot, raw, RECEIVED)
    setup.intake("poll", "--once")

    status = setup.status()
    by_id = {m["message_id"]: m for m in status["messages"]}
    assert status["campaign"]["unrelated_seen"] == 2  # the 小店 signature and the advert
    assert (by_id["case-3@example.cn"]["unit"], by_id["case-3@example.cn"]["reply"]) == ("东城区文明办", "receipt")
    assert [by_id[f"case-{n}@example.cn"]["reply"] for n in (4, 5)] == ["ask_sender", None]  # asked once
    assert by_id["case-4@example.cn"]["problems"] == []
    question = by_id["case-6@example.cn"]
    assert (question["reply"], question["status"], question["problems"]) == ("question", "needs_attention", [])
    assert [p["code"] for p in by_id["case-7@example.cn"]["problems"]] == ["no_attachments"]
    mended = by_id["case-9@example.cn"]
    assert (mended["from"], mended["subject"], mended["unit"], mended["reply"]) == (
        "dc-wmb@example.cn", "东城区文明办报送材料", "东城区文明办", "receipt")

    sent = {tuple(m.rcpt_tos): m for m in smtp_sink.messages}
    assert sorted(sent) == sorted([("friend@qq.example",), ("stranger@163.example",), ("nh-xcb@example.cn",),
                                   ("zyfw@example.cn",), ("dc-wmb@example.cn",)])
    answer = body_text(parse(sent[("nh-xcb@example.cn",)]))
    assert QUESTION in answer and "问题已转给" in answer
    asked = body_text(parse(sent[("stranger@163.example",)]))
    assert "写明单位全称" in asked and "有以下问题" not in asked

    review = setup.intake_json("review", "--json")
    questions = [e for e in review if e["kind"] == "question"]
    assert [(e["ref"], e["unit"], e["kind_label"]) for e in questions] == [
        (f"M{question['id']}", "南湖县委宣传部", "单位提问")]
    assert QUESTION in questions[0]["detail"]
    setup.intake("digest", "--out", str(tmp_path / "digest.html"))
    digest = (tmp_path / "digest.html").read_text("utf-8")
    assert "单位提问" in digest and "请问活动简报需要加盖公章吗？" in digest

    setup.intake("answered", f"M{question['id']}", "--by", "王芳")
    assert [e for e in setup.intake_json("review", "--json") if e["kind"] == "question"] == []
