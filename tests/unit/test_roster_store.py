"""The roster in force, as a running worker sees it: edits of the roster file, errors in them, and staff
decisions made by another process, picked up at the next cycle."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.adapters.config_file import load_config
from bot.bootstrap import build
from bot.office.decisions import exempt

CONFIG = """
[storage]
data_dir = "data"

[campaign]
name = "活动"
slug = "idv-2020"
opens = 2020-12-03T00:00:00+08:00
deadline = 2020-12-31T18:00:00+08:00

[units]
file = "units.csv"
"""
HEADER = "单位名称,邮箱\n"
NOW = datetime(2020, 12, 10, 2, tzinfo=UTC)


def test_a_running_app_picks_up_an_edited_roster_and_another_process_s_exemption(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    units = tmp_path / "units.csv"
    units.write_text(HEADER + "东城区文明办,dc@example.cn\n", encoding="utf-8")
    worker = build(load_config(tmp_path / "config.toml"))
    assert worker.refresh_roster() is False and [u.name for u in worker.roster.units] == ["东城区文明办"]

    units.write_text(HEADER + "东城区文明办,dc@example.cn\n西城区文明办,xc@example.cn\n", encoding="utf-8")
    assert worker.refresh_roster() is True
    assert [u.name for u in worker.intake.ctx.roster.units] == ["东城区文明办", "西城区文明办"]

    units.write_text(HEADER + "东城区文明办,not-an-address\n", encoding="utf-8")  # a bad edit: the last good one stays
    assert worker.refresh_roster() is False
    assert worker.roster.by_email("xc@example.cn") is not None

    staff = build(load_config(tmp_path / "config.toml"))  # another process: `intake exempt`
    exempt(staff, "西城区文明办", "张三", NOW)
    assert worker.refresh_roster() is True
    xicheng = worker.intake.ctx.roster.by_name("西城区文明办")
    assert xicheng is not None and (xicheng.required, xicheng.exempt) == (False, True)


def test_the_stored_roster_keeps_the_short_forms_staff_blocked() -> None:
    from bot.core.model import Unit
    from bot.core.roster import Roster
    from bot.office.roster_in_force import roster_from_json, roster_json

    roster = Roster((Unit("东城区文明办", ("东城文明办",), ("dc@example.cn",), "区县", True, blocked=("东城",)),))
    assert roster_from_json(roster_json(roster)) == roster
    assert roster_from_json('[{"name": "a", "aliases": [], "emails": [], "group": "", "required": true}]').units[0] \
        .blocked == ()  # a roster stored before blocking existed
