"""Staff commands through the `intake` command against Dovecot and an SMTP sink: each one's effect shows
in `status --json`, is recorded in the unit's history, and leaves the files on disk where they belong."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from tests.e2e.harness import BOT_ADDRESS, UNITS_CSV, Setup, body_text, write_config
from tests.e2e.servers import Dovecot, SmtpSink, append
from tests.e2e.test_poll_e2e import BRIEF, PHOTO_A, PHOTO_B, when
from tests.fixtures import clients
from tests.fixtures.files import make_docx, make_jpeg

UNCLEAR = make_docx("东城区情况", ["本单位组织开展了相关工作。"])
STRANGER_PHOTO = make_jpeg(1_100_000, seed=21)


def mails() -> list[tuple[bytes, object]]:
    return [
        (clients.foxmail(from_addr="dc-wmb@example.cn", from_name="东城区文明办", to=BOT_ADDRESS,
                         subject="东城区文明办报送国际志愿者日活动材料", body="请查收。", date=when(12, 10),
                         attachments=[("东城区活动简报.docx", BRIEF), ("现场照片一.jpg", PHOTO_A),
                                      ("附件2.docx", UNCLEAR)]), when(12, 10)),
        (clients.netease_webmail(from_addr="xiaowang@163.example", from_name="小王", to=BOT_ADDRESS,
                                 subject="国际志愿者日活动材料", body="请查收。", date=when(12, 11),
                                 attachments=[("简报.docx", BRIEF), ("照片.jpg", STRANGER_PHOTO)]), when(12, 11)),
        (clients.netease_webmail(from_addr="xc-wmb@example.cn", from_name="西城区文明办", to=BOT_ADDRESS,
                                 subject="西城区报送材料", body="请查收。", date=when(12, 12),
                                 attachments=[("西城区活动简报.docx", BRIEF), ("西城照片.jpg", PHOTO_B)]),
         when(12, 12)),
    ]


def files_on_disk(setup: Setup) -> list[str]:
    return sorted(str(p.relative_to(setup.data)) for p in (setup.data / "idv-2020").rglob("*") if p.is_file())


def to_and_subject(message: EmailMessage) -> tuple[str, str]:
    return str(message["To"]), str(message["Subject"])


def test_every_staff_command_changes_status_and_is_in_the_history(
    tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    setup = Setup(tmp_path, write_config(tmp_path, dovecot, smtp_sink), tmp_path / "data", dovecot, smtp_sink)
    for raw, internaldate in mails():
        append(dovecot, raw, internaldate)
    setup.intake("poll", "--once")
    status = setup.status()
    ids = {m["from"]: m["id"] for m in status["messages"]}
    dc, stranger, xc = ids["dc-wmb@example.cn"], ids["xiaowang@163.example"], ids["xc-wmb@example.cn"]
    assert [m["unit"] for m in status["messages"]] == ["东城区文明办", None, "西城区文明办"]
    assert [m["reply"] for m in status["messages"]] == ["receipt", "ask_unit", "receipt"]
    # Every reply carries the message's reference in its subject and its text.
    subjects = [str(r["Subject"]) for r in setup.replies()]
    assert subjects == [f"Re: {s} [IDV2020-{i:04d}]" for s, i in (
        ("东城区文明办报送国际志愿者日活动材料", dc), ("国际志愿者日活动材料", stranger), ("西城区报送材料", xc))]
    assert f"回执编号 IDV2020-{dc:04d}" in body_text(setup.replies()[0])
    before_files = files_on_disk(setup)
    assert "idv-2020/_unassigned/photo/照片.jpg" in before_files

    # assign: the stranger's mail is 南湖县委宣传部's; the address is learned; a receipt goes out now.
    out = setup.intake("assign", f"M{stranger}", "南湖县宣传部", "--learn-address", "--notify", "--by", "张三")
    assert f"邮件 M{stranger} 已登记到“南湖县委宣传部”" in out.stdout and "已发出 1 封邮件" in out.stdout
    status = setup.status()
    message = next(m for m in status["messages"] if m["id"] == stranger)
    assert (message["unit"], message["match"], message["status"], message["review"]) == (
        "南湖县委宣传部", "staff", "accepted", [])
    nanhu = next(u for u in status["units"] if u["name"] == "南湖县委宣传部")
    assert (nanhu["counts"]["brief"], nanhu["counts"]["photo"], nanhu["complete"]) == (1, 1, True)
    receipt = setup.replies()[-1]
    assert to_and_subject(receipt) == (
        "小王 <xiaowang@163.example>", f"Re: 国际志愿者日活动材料 [IDV2020-{stranger:04d}]")
    assert "贵单位（南湖县委宣传部）目前已报送" in body_text(receipt)
    assert message["replies"] == [{"kind": "ask_unit", "state": "sent"}, {"kind": "receipt", "state": "sent"}]
    on_disk = files_on_disk(setup)
    assert "idv-2020/南湖县委宣传部/photo/照片.jpg" in on_disk
    assert not any(path.startswith("idv-2020/_unassigned/") for path in on_disk)
    units = {u["name"]: u for u in setup.intake_json("units", "list", "--json")}
    assert units["南湖县委宣传部"]["emails"] == ["nh-xcb@example.cn", "xiaowang@163.example"]

    # reclassify: 东城's unclear document is a case study.
    dongcheng = next(u for u in status["units"] if u["name"] == "东城区文明办")
    unclear = next(f for f in dongcheng["files"] if f["name"] == "附件2.docx")
    assert (unclear["category"], dongcheng["counts"]["other"]) == ("other", 1)
    out = setup.intake("reclassify", f"F{unclear['id']}", "case_study", "--by", "李四")
    assert "已由“其他材料”改为“典型事例、经验总结”" in out.stdout
    dongcheng = next(u for u in setup.status()["units"] if u["name"] == "东城区文明办")
    moved = next(f for f in dongcheng["files"] if f["name"] == "附件2.docx")
    assert (moved["id"], moved["category"], moved["path"]) == (
        unclear["id"], "case_study", "idv-2020/东城区文明办/case_study/附件2.docx")
    assert (dongcheng["counts"]["case_study"], dongcheng["counts"]["other"]) == (1, 0)
    assert not (setup.data / unclear["path"]).exists() and (setup.data / moved["path"]).exists()

    # exempt: the volunteer centre need not submit; undo makes it required again.
    setup.intake("exempt", "市志愿服务指导中心", "--by", "张三")
    centre = next(u for u in setup.status()["units"] if u["name"] == "市志愿服务指导中心")
    assert (centre["required"], centre["exempt"], centre["missing"]) == (False, True, [])
    assert setup.status()["campaign"]["units_required"] == 3

    # resend: 西城 gets its receipt again, with the same reference.
    sent_before = len(smtp_sink.messages)
    setup.intake("resend", str(xc))
    assert len(smtp_sink.messages) == sent_before + 1
    assert to_and_subject(setup.replies()[-1]) == (
        "西城区文明办 <xc-wmb@example.cn>", f"Re: 西城区报送材料 [IDV2020-{xc:04d}]")
    xc_message = next(m for m in setup.status()["messages"] if m["id"] == xc)
    assert [r["kind"] for r in xc_message["replies"]] == ["receipt", "receipt"]

    # reprocess --all: nothing doubled, nothing sent, staff decisions kept.
    files_now, status_now = files_on_disk(setup), setup.status()
    setup.intake("reprocess", "--all")
    assert files_on_disk(setup) == files_now and len(smtp_sink.messages) == sent_before + 1
    again = setup.status()
    assert again["units"] == status_now["units"]
    assert [(m["unit"], m["status"], m["files"]) for m in again["messages"]] == [
        (m["unit"], m["status"], m["files"]) for m in status_now["messages"]]

    # units import: a new roster with one more unit; the exemption and the learned address survive.
    new_roster = tmp_path / "新名单.csv"
    new_roster.write_text(UNITS_CSV + "北山区文明办,北山文明办,bs-wmb@example.cn,区县,是\n", encoding="utf-8-sig")
    out = setup.intake("units", "import", str(new_roster))
    assert "共 6 个单位" in out.stdout
    status = setup.status()
    assert [u["name"] for u in status["units"]][-1] == "北山区文明办"
    assert next(u for u in status["units"] if u["name"] == "市志愿服务指导中心")["exempt"] is True
    units = {u["name"]: u for u in setup.intake_json("units", "list", "--json")}
    assert "xiaowang@163.example" in units["南湖县委宣传部"]["emails"]
    setup.intake("exempt", "市志愿服务指导中心", "--undo")
    assert next(u for u in setup.status()["units"] if u["name"] == "市志愿服务指导中心")["required"] is True

    # Every change is in the audit trail, with who made it.
    actions = [(a["command"], a["actor"], a["unit"]) for a in setup.status()["actions"]]
    assert actions[:3] == [("assign", "张三", "南湖县委宣传部"), ("reclassify", "李四", "东城区文明办"),
                           ("exempt", "张三", "市志愿服务指导中心")]
    assert [a[0] for a in actions[3:]] == ["resend", "reprocess", "reprocess", "reprocess", "units-import", "exempt"]

    # status --unit: the unit's files with their ids, and its history.
    text = setup.intake("status", "--unit", "南湖县宣传部").stdout
    assert "南湖县委宣传部" in text and "张三：将邮件 M" in text and "记住邮箱 xiaowang@163.example" in text
    history = setup.intake_json("status", "--unit", "南湖县委宣传部", "--json")["history"]
    assert [(e["what"], e.get("kind") or e.get("command")) for e in history] == [
        ("received", None), ("reply", "ask_unit"), ("action", "assign"), ("reply", "receipt"), ("action", "reprocess")]

    # Later mail from the learned address is the unit's without asking.
    append(dovecot, clients.netease_webmail(
        from_addr="xiaowang@163.example", from_name="小王", to=BOT_ADDRESS, subject="补充照片", body="补充。",
        date=when(12, 20), attachments=[("补充照片.jpg", make_jpeg(1_100_000, seed=22))]), when(12, 20))
    setup.intake("poll", "--once")
    last = setup.status()["messages"][-1]
    assert (last["unit"], last["match"], last["reply"]) == ("南湖县委宣传部", "address", "receipt")


def test_staff_commands_explain_a_wrong_id_or_name(tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink) -> None:
    setup = Setup(tmp_path, write_config(tmp_path, dovecot, smtp_sink), tmp_path / "data", dovecot, smtp_sink)
    cases = [
        (("assign", "M99", "东城区文明办"), "没有编号为 M99 的活动邮件"),
        (("assign", "M1", "火星区"), "名单中没有“火星区”"),
        (("reclassify", "F7", "brief"), "没有编号为 F7 的文件"),
        (("reclassify", "F7", "poem"), "没有“poem”这一类别"),
        (("exempt", "火星区"), "名单中没有“火星区”"),
        (("resend", "5"), "没有编号为 M5 的活动邮件"),
    ]
    for args, words in cases:
        proc = setup.intake(*args, check=False)
        assert (proc.returncode, words in proc.stdout) == (1, True), (args, proc.stdout, proc.stderr)
    assert setup.status()["actions"] == []
