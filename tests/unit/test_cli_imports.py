"""The report commands staff wait for load no mail pipeline, IMAP or SMTP (a third of their start-up)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
