"""The report commands staff wait for load no mail pipeline, IMAP or SMTP (a third of their start-up)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import py7zr
import pytest

from tests.unit.test_roster_store import CONFIG, HEADER

PIPELINE = ("bot.core.pipeline", "bot.office.intake.shell", "bot.core.mail.parse", "bot.core.files.archives",
            "mailparser", "py7zr", "imapclient", "smtplib")
PROBE = """
import json, sys
import bot.cli.main
sys.argv = ["intake", "--config", sys.argv[1], "--now", "2020-12-20T10:00:00+08:00", *sys.argv[2:]]
try:
    bot.cli.main.main()
except SystemExit as exc:
    assert not exc.code, exc.code
print(json.dumps(sorted(name for name in {pipeline!r} if name in sys.modules)), file=sys.stderr)
"""


@pytest.mark.parametrize("command", [["status", "--json"], ["status"], ["review"], ["digest", "--out", "d.html"],
                                     ["export", "--xlsx", "u.xlsx"]])
def test_a_report_command_imports_no_mail_pipeline(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "units.csv").write_text(HEADER + "东城区文明办,dc@example.cn\n", encoding="utf-8")
    probe = PROBE.format(pipeline=PIPELINE)
    done = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "config.toml"), *command], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []


def test_the_probe_sees_the_pipeline_when_a_command_needs_it(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "units.csv").write_text(HEADER + "东城区文明办,dc@example.cn\n", encoding="utf-8")
    mail = tmp_path / "m.eml"
    mail.write_bytes(b"From: dc@example.cn\r\nSubject: hi\r\n\r\nbody\r\n")
    probe = PROBE.format(pipeline=PIPELINE)
    done = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "config.toml"), "inspect", str(mail)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = set(json.loads(done.stderr.strip().splitlines()[-1]))
    assert not (tmp_path / "data" / "intake.db").exists()  # nothing processed yet: inspect writes no database
    assert {"bot.core.pipeline", "bot.core.mail.parse", "mailparser"} <= seen


OPTIONAL = ("py7zr", "openpyxl")  # a 7z's reader; the digest's and exports' workbook


def test_the_mail_pipeline_loads_the_7z_reader_and_the_workbook_only_when_needed(tmp_path: Path) -> None:
    """A poll pays the interpreter's start-up each cycle: what a message rarely needs is loaded when it does."""
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "units.csv").write_text(HEADER + "东城区文明办,dc@example.cn\n", encoding="utf-8")
    plain, packed = tmp_path / "plain.eml", tmp_path / "packed.eml"
    plain.write_bytes(b"From: dc@example.cn\r\nSubject: hi\r\n\r\nbody\r\n")
    archive = io.BytesIO()
    with py7zr.SevenZipFile(archive, "w") as seven:
        seven.writestr(b"brief", "brief.txt")
    message = EmailMessage()
    message["From"], message["Subject"] = "dc@example.cn", "hi"
    message.set_content("body")
    message.add_attachment(archive.getvalue(), maintype="application", subtype="x-7z-compressed",
                           filename="files.7z")
    packed.write_bytes(message.as_bytes())
    loaded = []
    for mail in (plain, packed):
        probe = PROBE.format(pipeline=OPTIONAL + ("bot.core.pipeline",))
        done = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "config.toml"), "inspect", str(mail)],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        loaded.append(json.loads(done.stderr.strip().splitlines()[-1]))
    assert loaded == [["bot.core.pipeline"], ["bot.core.pipeline", "py7zr"]]


def test_the_poll_cycle_loads_neither_the_7z_reader_nor_the_workbook() -> None:
    probe = ("import json, sys, bot.cli.main, bot.worker.jobs, bot.office.poll, bot.office.intake.shell; "
             f"print(json.dumps(sorted(n for n in {OPTIONAL!r} if n in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
