"""The systemd units in deploy/ start commands that exist, with the options they pass."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import app

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "systemd"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / name, encoding="utf-8")
    return parser


@pytest.mark.parametrize(("name", "command"), [("intake-worker@.service", "run"), ("intake-web.service", "web")])
def test_a_unit_starts_an_intake_command_that_exists(name: str, command: str) -> None:
    service = unit(name)["Service"]
    argv = shlex.split(service["ExecStart"])
    assert Path(argv[0]).name == "intake"
    assert argv[1:] == ["--config", "/etc/intake/config.toml", command]
    assert CliRunner().invoke(app, [command, "--help"]).exit_code == 0
    assert service["EnvironmentFile"] == "/etc/intake/env"
    assert service["User"] == "intake"


def test_the_worker_unit_is_a_template_for_several_workers() -> None:
    worker = unit("intake-worker@.service")
    assert "%i" in worker["Unit"]["Description"]
    assert worker["Service"]["Restart"] == "on-failure"
    assert worker["Install"]["WantedBy"] == "multi-user.target"
    names = {line.split("=", 1)[0] for line in (DEPLOY / "env.example").read_text(encoding="utf-8").splitlines()
             if line and not line.startswith("#")}
    assert names == {"INTAKE_IMAP_PASSWORD", "INTAKE_SMTP_PASSWORD", "INTAKE_DATABASE_PASSWORD"}
