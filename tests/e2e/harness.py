"""Run the `intake` command against the test servers, as a user would."""

from __future__ import annotations

import email
import json
import subprocess
import sys
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

from tests.e2e.servers import Dovecot, SinkMessage, SmtpSink

INTAKE = Path(sys.executable).with_name("intake")

UNITS_CSV = """单位名称,别名,邮箱,分组,是否必报
东城区文明办,东城文明办,dc-wmb@example.cn,区县,是
西城区文明办,西城文明办,xc-wmb@example.cn,区县,是
南湖县委宣传部,南湖县宣传部,nh-xcb@example.cn,区县,是
市志愿服务指导中心,志愿服务指导中心,zyfw@example.cn,部门,是
滨江街道新时代文明实践站,滨江实践站,bj-sjz@example.cn,志愿服务站,否
"""

BOT_ADDRESS = "wmb-collect@163.example"



class Databases(Protocol):
    def create_database(self, prefix: str = "t") -> str: ...


# Where the e2e tests keep their data: None for the data folder's SQLite file; with INTAKE_TEST_DATABASE=postgresql
# tests/e2e/conftest.py sets the session's PostgreSQL cluster, and every config written gets a fresh database.
DATABASES: Databases | None = None


def storage_section(data_dir: str = "data") -> str:
    """The config's [storage] table: the data folder, and with PostgreSQL a new, empty database."""
    url = f'database_url = "{DATABASES.create_database()}"\n' if DATABASES is not None else ""
    return f'[storage]\ndata_dir = "{data_dir}"\n{url}'


@dataclass
class Setup:
    dir: Path
    config: Path
    data: Path
    dovecot: Dovecot
    sink: SmtpSink

    def intake(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(INTAKE), "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.dir,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"intake {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def status(self) -> dict[str, Any]:
        return self.intake_json("status", "--json")

    def intake_json(self, *args: str) -> Any:
        return json.loads(self.intake(*args).stdout)

    def replies(self) -> list[EmailMessage]:
        return [parse(m) for m in self.sink.messages]

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of a plain SQL query on this setup's database, whichever it is."""
        from sqlalchemy import create_engine, text

        from bot.adapters.config_file import load_config

        engine = create_engine(load_config(self.config).storage.database_url)
        try:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.execute(text(sql))]
        finally:
            engine.dispose()


# Runs `intake` in a process of its own after `observer` (Python code) has patched what it watches; the observer
# appends what it saw to `seen`, written as JSON to the log however the command ends. The observer reads its own
# arguments from `observer_args`.
OBSERVED = """
import json, sys
log, observer_args = sys.argv[1], json.loads(sys.argv[2])
seen = []
OBSERVER
from bot.cli.main import main
sys.argv = ["intake", *sys.argv[3:]]
try:
    main()
finally:
    with open(log, "w") as out:
        json.dump(seen, out)
"""


def intake_observed(observer: str, observer_args: list[str], config: Path, *args: str, cwd: Path,
                    timeout: float = 120) -> tuple[subprocess.CompletedProcess[str], Any]:
    """The finished command, and what the observer saw (None when it wrote nothing)."""
    log = cwd / "observed.json"
    run = subprocess.run([sys.executable, "-c", OBSERVED.replace("OBSERVER", observer), str(log),
                          json.dumps(observer_args), "--config", str(config), *args],
                         capture_output=True, text=True, timeout=timeout, cwd=cwd)
    return run, json.loads(log.read_text()) if log.exists() else None


def parse(message: SinkMessage) -> EmailMessage:
    return email.message_from_bytes(message.data, policy=policy.default)  # type: ignore[return-value]


def body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def write_config(directory: Path, dovecot: Dovecot, sink: SmtpSink, **campaign: str) -> Path:
    (directory / "units.csv").write_text(UNITS_CSV, encoding="utf-8-sig")
    extra = "".join(f"{k} = {v}\n" for k, v in campaign.items())
    config = directory / "config.toml"
    config.write_text(
        f"""
[imap]
host = "{dovecot.host}"
port = {dovecot.port}
security = "none"
username = "{dovecot.user}"
password = "{dovecot.password}"
folder = "INBOX"
timeout_seconds = 20
retry_delays = [0.5, 1]

[smtp]
host = "{sink.host}"
port = {sink.port}
security = "none"
username = "bot"
password = "x"
from_address = "{BOT_ADDRESS}"
from_name = "市文明办材料收集"
timeout_seconds = 20

{storage_section()}
[campaign]
name = "2020年国际志愿者日主题宣传和实践活动"
slug = "idv-2020"
opens = 2020-12-03T00:00:00+08:00
deadline = 2020-12-31T18:00:00+08:00
timezone = "Asia/Shanghai"
required = ["brief", "photo"]
min_photo_bytes = 1048576
late_days = 30
keywords = ["志愿", "12.5", "国际志愿者日"]
{extra}
[units]
file = "units.csv"

[staff]
digest_to = ["office@example.cn"]

[schedule]
poll_interval_seconds = 2
""",
        encoding="utf-8",
    )
    return config
