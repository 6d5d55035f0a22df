"""`intake inspect` decides as `intake poll` does: the same context (the roster in force with staff decisions,
the mailbox's own addresses, sender authentication), built in one place. Every decision `inspect` prints for a
set of mails is compared with what `poll --once` then records for the same mails in the real mailbox."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.harness import Setup, write_config
from tests.e2e.servers import Dovecot, SmtpSink, append
from tests.e2e.test_poll_e2e import TO, when
from tests.fixtures import clients
from tests.fixtures.files import make_docx, make_jpeg

RECEIVED = when(12, 10)


def mail(address: str, name: str, subject: str, files: list[tuple[str, bytes]], seed: int,
         headers: dict[str, str] | None = None, body: str = "请查收。") -> bytes:
    return clients.foxmail(from_addr=address, from_name=name, to=TO, subject=subject, body=body, attachments=files,
                           date=RECEIVED, extra_headers=headers, message_id=f"case-{seed}@example.cn")


def photo(seed: int, size: int = 1_100_000) -> tuple[str, bytes]:
    width, height = (640, 480) if size < 1_000_000 else (1600, 1200)  # a small picture, else a camera photo
    return f"活动照片{seed}.jpg", make_jpeg(size, width=width, height=height, seed=seed)


def brief(title: str) -> tuple[str, bytes]:
    return f"{title}.docx", make_docx(title)


def test_inspect_decides_every_mail_as_poll_then_does(tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink) -> None:
    setup = Setup(tmp_path, write_config(tmp_path, dovecot, smtp_sink), tmp_path / "data", dovecot, smtp_sink)
    # A staff decision first: a new address of 南湖县委宣传部, taught from its first mail.
    append(dovecot, mail("nh-new@163.example", "小王", "南湖县委宣传部报送材料", [photo(1)], 1), RECEIVED)
    setup.intake("poll", "--once")
    (first,) = setup.status()["messages"]
    setup.intake("assign", f"M{first['id']}", "南湖县委宣传部", "--learn-address")

    cases = {
        "taught-address": mail("nh-new@163.example", "小王", "补充材料", [photo(2), brief("南湖活动简报")], 2),
        "own-address": mail(dovecot.user, "收集邮箱", "东城区文明办测试", [photo(3)], 3),
        "small-photo": mail("dc-wmb@example.cn", "东城区文明办", "东城区文明办报送材料",
                            [photo(4, 200_000), brief("东城活动简报")], 4),
        "named-in-subject": mail("friend@qq.example", "张三", "西城区文明办活动简报", [brief("西城活动简报")], 5),
        "unrelated": mail("friend2@qq.example", "李四", "周末聚餐", [], 6, body="有空吗"),
        "auto-reply": mail("zyfw@example.cn", "市志愿服务指导中心", "自动回复：报送材料", [], 7,
                           {"Auto-Submitted": "auto-replied"}),
        "dmarc-fail": mail("xc-wmb@example.cn", "西城区文明办", "西城区文明办报送材料", [photo(8)], 8,
                           {"Authentication-Results": "mx.163.example; dmarc=fail header.from=example.cn"}),
    }
    files = []
    for name, raw in cases.items():
        path = tmp_path / f"{name}.eml"
        path.write_bytes(raw)
        files.append(str(path))
    inspected = {Path(e["file"]).stem: e for e in setup.intake_json("inspect", "--json", "--received-at",
                                                                    RECEIVED.isoformat(), *files)}

    for raw in cases.values():
        append(dovecot, raw, RECEIVED)
    setup.intake("poll", "--once")
    status = setup.status()
    polled = {m["message_id"]: m for m in status["messages"]}

    seen = {}
    for name, entry in inspected.items():
        m = polled.get(entry["message_id"])
        decided = {"campaign_mail": m is not None}
        if m is not None:
            decided.update(unit=m["unit"], status=m["status"], automatic=m["automatic"], match=m["match"],
                           problems=sorted(p["code"] for p in m["problems"]), reply=m["reply"] or "none",
                           review=m["review"], files=sorted((f["name"], f["category"]) for f in m["files"]))
        expected = {"campaign_mail": entry["campaign_mail"]}
        if entry["campaign_mail"]:
            expected.update(unit=entry["unit"], status=entry["status"], automatic=entry["automatic"],
                            match=entry["match"]["how"], problems=sorted(p["code"] for p in entry["problems"]),
                            reply=entry["reply"], review=entry["review"],
                            files=sorted((a["name"], a["category"]) for a in entry["attachments"]
                                         if a["skipped"] is None))
        assert decided == expected, name
        seen[name] = (entry["campaign_mail"], entry["unit"], entry["reply"])
    # The cases are what they say (so the comparison covers each kind of decision).
    assert seen == {
        "taught-address": (True, "南湖县委宣传部", "receipt"),
        "own-address": (True, "东城区文明办", "none"),
        "small-photo": (True, "东城区文明办", "problems"),
        "named-in-subject": (True, "西城区文明办", "receipt"),
        "unrelated": (False, None, "none"),
        "auto-reply": (True, "市志愿服务指导中心", "none"),
        "dmarc-fail": (True, "西城区文明办", "none"),
    }
    assert status["campaign"]["unrelated_seen"] == 1
