"""The `intake` command as a user runs it: demo, inspect, import, status, run."""

from __future__ import annotations

import json
import mailbox
import os
import signal
import subprocess
import time
from pathlib import Path

from bot.cli.demo import samples_dir
from tests.e2e import harness
from tests.e2e.harness import BOT_ADDRESS, INTAKE, Setup, write_config
from tests.e2e.servers import Dovecot, SmtpSink, append, fetch_flags
from tests.e2e.test_poll_e2e import MAILS, TO, when
from tests.fixtures import clients
from tests.fixtures.files import make_docx, make_jpeg


def run_intake(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(INTAKE), *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_demo_runs_the_pipeline_over_the_shipped_samples_without_a_server(tmp_path: Path) -> None:
    proc = run_intake("demo", "--out", "demo", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "demo"
    replies = sorted(p.name for p in (out / "outbox").glob("*.eml") if ".digest." not in p.name)
    # 01, 02, 03, 04, 07, 08, 09, 11, 12, 13 are answered; the everyday mail, the auto-reply and the bounce are
    # not. <intake.<campaign>.<ledger id>.<kind>@…>: 13 named neither notice and is asked which one it answers.
    assert sorted((name.split("@")[0].split(".")[1:4] for name in replies), key=lambda p: int(p[1])) == [
        ["idv-2020", "1", "receipt"],
        ["idv-2020", "2", "receipt"],
        ["idv-2020", "3", "problems"],
        ["idv-2020", "4", "receipt"],
        ["idv-2020", "7", "ask_unit"],
        ["idv-2020", "8", "receipt"],
        ["idv-2020", "9", "receipt"],
        ["case-2020", "11", "receipt"],
        ["case-2020", "12", "problems"],
        ["unsorted", "13", "ask_campaign"],
    ]
    assert "演示完成" in proc.stdout and "东城区文明办" in proc.stdout
    # The staff's view: what needs a decision, and the next morning's digest with its workbook.
    assert "待处理事项（共 3 项）" in proc.stdout and "M7" in proc.stdout and "M13" in proc.stdout
    assert [p.suffix for p in sorted((out / "digests").iterdir())] == [".html", ".xlsx"]
    assert len(list((out / "outbox").glob("*.digest.*.eml"))) == 1
    raw_archived = list((out / "raw").rglob("*.eml"))
    assert len(raw_archived) == 12  # every campaign message (the bounce of our mail too), the everyday one not
    hostile = list((out / "idv-2020").rglob("x.jpg"))
    assert len(hostile) == 1 and out in hostile[0].parents
    # Running it again starts afresh with the same result.
    again = run_intake("demo", "--out", "demo", cwd=tmp_path)
    assert again.returncode == 0
    assert sorted(p.name for p in (out / "outbox").glob("*.eml") if ".digest." not in p.name) == replies


def test_inspect_json_gives_one_object_per_file_in_order_and_never_a_traceback(tmp_path: Path) -> None:
    config = samples_dir() / "demo.toml"
    garbage = tmp_path / "garbage.eml"
    garbage.write_bytes(b"\x00\xff\xfe not a mail \x00" * 50)
    files = sorted(samples_dir().glob("*.eml"))
    proc = run_intake("--config", str(config), "inspect", "--json", *map(str, files), str(garbage), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert [Path(r["file"]).name for r in result] == [f.name for f in files] + ["garbage.eml"]
    by_name = {Path(r["file"]).name: r for r in result}
    assert [by_name[f.name]["would_reply"] for f in files] == [
        True,
        True,
        True,
        True,
        False,
        False,
        True,
        True,
        True,
        False,
        True,
        True,
        True,
    ]
    fox = by_name["01-foxmail-complete.eml"]
    assert fox["unit"] == "东城区文明办"
    assert [a["category"] for a in fox["attachments"]] == ["brief", "photo", "photo"]
    assert all(a["reason"] for a in fox["attachments"])
    small = by_name["03-outlook-small-photo-raw-gbk.eml"]
    assert [p["code"] for p in small["problems"]] == ["photo_too_small"]
    assert by_name["05-everyday-unrelated.eml"]["campaign_mail"] is False
    assert by_name["garbage.eml"]["would_reply"] is False
    assert not (tmp_path / "demo-output").exists()  # inspect stores nothing


def test_import_takes_eml_and_mbox_files_through_the_same_pipeline(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    dovecot_stub = type("Stub", (), {"host": "127.0.0.1", "port": 1, "user": "u", "password": "p"})()
    config = write_config(tmp_path, dovecot_stub, smtp_sink)  # type: ignore[arg-type]
    fox_writer, fox_args, _ = MAILS["foxmail"]
    eml = tmp_path / "one.eml"
    eml.write_bytes(fox_writer(to=TO, **fox_args))
    box = mailbox.mbox(str(tmp_path / "old.mbox"))
    for name in ("outlook_small", "unrelated"):
        writer, args, _ = MAILS[name]
        box.add(writer(to=TO, **args))
    box.flush()
    box.close()
    proc = run_intake("--config", str(config), "import", str(eml), str(tmp_path / "old.mbox"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "导入 3 封邮件：入库 2 封，重复 0 封，无关 1 封，失败 0 封" in proc.stdout
    assert len(smtp_sink.messages) == 2
    # Importing the same files again changes nothing.
    again = run_intake("--config", str(config), "import", str(eml), str(tmp_path / "old.mbox"), cwd=tmp_path)
    assert "入库 2 封" in again.stdout and len(smtp_sink.messages) == 2
    status = json.loads(run_intake("--config", str(config), "status", "--json", cwd=tmp_path).stdout)
    assert [(m["unit"], m["received_at"]) for m in status["messages"]] == [
        ("东城区文明办", "2020-12-10T10:00:00+08:00"),
        ("南湖县委宣传部", "2020-12-11T10:00:00+08:00"),
    ]


def test_status_prints_a_table_per_unit(tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink) -> None:
    setup = Setup(tmp_path, write_config(tmp_path, dovecot, smtp_sink), tmp_path / "data", dovecot, smtp_sink)
    writer, args, internaldate = MAILS["foxmail"]
    append(dovecot, writer(to=TO, **args), internaldate)
    setup.intake("poll", "--once")
    table = setup.intake("status").stdout
    assert "1/4 个必报单位已报齐" in table
    row = next(line for line in table.splitlines() if "东城区文明办" in line)
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells == ["东城区文明办", "区县", "是", "1", "2", "0", "0", "已齐", ""]


def test_a_bad_config_is_reported_with_its_key_and_exit_code_2(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[campaign]\nname = "x"\nslug = "x"\n', encoding="utf-8")
    proc = run_intake("status", cwd=tmp_path)
    assert proc.returncode == 2
    assert "配置有误：campaign.opens is required" in proc.stdout


def test_run_polls_on_schedule_and_stops_cleanly_on_sigterm(
    tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = write_config(tmp_path, dovecot, smtp_sink)
    proc = subprocess.Popen(
        [str(INTAKE), "--config", str(config), "run"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        raw = clients.netease_webmail(
            from_addr="dc-wmb@example.cn",
            from_name="东城区文明办",
            subject="东城区简报",
            body="请查收",
            attachments=[("简报.docx", make_docx("简报")), ("1.jpg", make_jpeg(1_100_000, seed=3))],
            date=when(12, 20),
            to=BOT_ADDRESS,
        )
        uid = append(dovecot, raw, when(12, 20))
        smtp_sink.wait_for(1, timeout=30)
        assert fetch_flags(dovecot)[uid] == ("$IntakeDone",)
        # While it runs: staff commands work; a second worker is refused on SQLite, and on PostgreSQL works
        # beside it (here it finds nothing left to do).
        status = run_intake("--config", str(config), "status", "--json", cwd=tmp_path)
        assert json.loads(status.stdout)["messages"][0]["unit"] == "东城区文明办"
        second = run_intake("--config", str(config), "poll", "--once", cwd=tmp_path)
        if harness.DATABASES is None:
            assert second.returncode == 3 and "另一个收取程序正在运行" in second.stdout
        else:
            assert second.returncode == 0 and "本轮收取 0 封" in second.stdout
        time.sleep(0.5)
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "已停止" in out
    assert len(smtp_sink.messages) == 1


def test_a_file_no_row_refers_to_is_swept_at_start(tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink) -> None:
    setup = Setup(tmp_path, write_config(tmp_path, dovecot, smtp_sink), tmp_path / "data", dovecot, smtp_sink)
    writer, args, internaldate = MAILS["foxmail"]
    append(dovecot, writer(to=TO, **args), internaldate)
    setup.intake("poll", "--once")
    orphan = setup.data / "idv-2020" / "东城区文明办" / "photo" / "left-by-a-killed-run.jpg"
    partial = setup.data / "idv-2020" / "东城区文明办" / "photo" / ".tmp-123-x.jpg"
    orphan.write_bytes(b"x")
    partial.write_bytes(b"y")
    an_hour_ago = time.time() - 3600  # left by a run killed long ago (beside other workers a young one is spared)
    for path in (orphan, partial):
        os.utime(path, (an_hour_ago, an_hour_ago))
    setup.intake("poll", "--once")
    assert not orphan.exists() and not partial.exists()
    stored = sorted(p.name for p in (setup.data / "idv-2020").rglob("*") if p.is_file())
    assert len(stored) == 3
