"""Campaigns as data: the config's [campaign] or [[campaigns]] tables are imported into the database when their
content changes; staff add, close and reopen campaigns without the config, and a config edit keeps a closing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.adapters.config_file import ConfigError, load_config
from bot.bootstrap import build
from bot.office.campaigns_in_force import add_campaign, set_closed
from storage.db import session
from tests.unit.test_roster_store import CONFIG, HEADER

TWO = """
[storage]
data_dir = "data"

[[campaigns]]
name = "国际志愿者日"
slug = "idv-2020"
notice = "并文明办〔2020〕65号"
opens = 2020-12-03T00:00:00+08:00
deadline = 2020-12-31T18:00:00+08:00
units = ["区县"]

[[campaigns]]
name = "典型案例征集"
slug = "case-2020"
opens = 2020-12-16
deadline = 2021-01-08T18:00:00+08:00
required = ["case_study"]
reminders = ["-2d 09:00"]

[units]
file = "units.csv"
"""
NOW = datetime(2020, 12, 20, 2, tzinfo=UTC)


def folder(tmp_path: Path, config: str) -> Path:
    (tmp_path / "config.toml").write_text(config, encoding="utf-8")
    (tmp_path / "units.csv").write_text(HEADER + "东城区文明办,dc@example.cn\n", encoding="utf-8")
    return tmp_path / "config.toml"


def test_one_campaign_table_still_works_and_several_are_read_in_order(tmp_path: Path) -> None:
    assert [c.slug for c in load_config(folder(tmp_path, CONFIG)).campaigns] == ["idv-2020"]
    config = load_config(folder(tmp_path, TWO))
    idv, case = config.campaigns
    assert (idv.notice, idv.units, idv.reminders, idv.title()) == (
        "并文明办〔2020〕65号", ("区县",), None, "国际志愿者日（并文明办〔2020〕65号）")
    assert (case.required, [s.text for s in case.reminders or ()], case.opens.isoformat()) == (
        ("case_study",), ["-2d 09:00"], "2020-12-16T00:00:00+08:00")


@pytest.mark.parametrize(("config", "error"), [
    (TWO.replace('slug = "case-2020"', 'slug = "idv-2020"'), "two campaigns have the same slug: idv-2020"),
    (TWO.replace('required = ["case_study"]', 'required = ["video"]'), "campaigns[2].required: unknown category"),
    (CONFIG + TWO.split("[units]")[0].split("[storage]", 1)[1].replace('data_dir = "data"', ""),
     "either one [campaign] table or [[campaigns]] tables"),
])
def test_a_wrong_campaign_names_its_table(tmp_path: Path, config: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error.replace("[", r"\[").replace("]", r"\]")):
        load_config(folder(tmp_path, config))


def test_campaigns_live_in_the_database_and_staff_changes_survive_a_config_edit(tmp_path: Path) -> None:
    path = folder(tmp_path, TWO)
    app = build(load_config(path))
    assert [c.slug for c in app.campaigns] == ["idv-2020", "case-2020"]
    with session(app.engine) as s:
        add_campaign(s, app.config, {"name": "学雷锋", "slug": "lf-2021", "opens": "2021-03-01",
                                     "deadline": "2021-03-31T18:00:00+08:00"}, "lf.toml", NOW)
        set_closed(s, "case-2020", NOW, NOW)
        s.commit()
    assert app.refresh_roster() is True
    assert [(c.slug, c.closed_at) for c in app.campaigns] == [
        ("idv-2020", None), ("case-2020", NOW), ("lf-2021", None)]
    assert app.campaign("case-2020").closes == NOW

    path.write_text(TWO.replace('name = "典型案例征集"', 'name = "志愿服务典型案例征集"'), encoding="utf-8")
    edited = build(load_config(path))
    case = edited.campaign("case-2020")
    assert (case.name, case.closed_at) == ("志愿服务典型案例征集", NOW)  # the edit taken, the closing kept
    assert [c.slug for c in edited.campaigns] == ["idv-2020", "case-2020", "lf-2021"]  # never deleted
    with pytest.raises(SystemExit, match="no campaign 'x'"):
        edited.campaign("x")


def test_staff_manage_campaigns_with_the_command(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    folder(tmp_path, TWO)
    (tmp_path / "学雷锋.toml").write_text('name = "学雷锋志愿服务月"\nslug = "lf-2021"\nopens = 2021-03-01\n'
                                       'deadline = 2021-03-31T18:00:00+08:00\n', encoding="utf-8")
    (tmp_path / "wrong.toml").write_text('[campaign]\nname = "x"\nslug = "x y"\n', encoding="utf-8")
    intake = Path(sys.executable).with_name("intake")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(intake), "--config", "config.toml", "--now", "2020-12-20T10:00:00+08:00", *args],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)

    assert "已添加通知 lf-2021：学雷锋志愿服务月。" in run("campaigns", "add", "学雷锋.toml", "--by", "王老师").stdout
    refused = run("campaigns", "add", "wrong.toml")
    assert refused.returncode == 2 and "campaign.slug must be ASCII letters" in refused.stdout
    assert run("campaigns", "close", "case-2020").returncode == 0
    listed = json.loads(run("campaigns", "list", "--json").stdout)
    assert [(c["slug"], c["phase"], c["closed_by_staff"], c["closes"]) for c in listed] == [
        ("idv-2020", "open", False, "2021-01-30T18:00:00+08:00"),
        ("case-2020", "closed", True, "2020-12-20T10:00:00+08:00"),
        ("lf-2021", "not_open", False, "2021-04-30T18:00:00+08:00")]
    assert run("campaigns", "reopen", "case-2020").returncode == 0
    assert [c["phase"] for c in json.loads(run("campaigns", "list", "--json").stdout)] == ["open", "open", "not_open"]
    unknown = run("campaigns", "close", "nope")
    assert unknown.returncode == 1 and "没有代号为“nope”的通知" in unknown.stdout
    actions = json.loads(run("status", "--json", "--campaign", "idv-2020").stdout)["actions"]
    assert [(a["actor"], a["command"], a["detail"]["campaign"]) for a in actions][:1] == [
        ("王老师", "campaign-add", "lf-2021")]
