"""What a new roster would change, shown to staff before it is applied."""

from __future__ import annotations

from bot.core.model import Unit
from bot.core.roster import Roster
from bot.core.roster_diff import Change, UnitChanges, roster_diff

OLD = Roster((Unit("东城区文明办", ("东城文明办",), ("dc@example.cn",), "区县"),
              Unit("西城区文明办", (), ("xc@example.cn",), "区县"),
              Unit("市志愿服务指导中心", (), ("zy@example.cn",), "部门")))


def test_added_removed_and_changed_units_field_by_field() -> None:
    new = Roster((Unit("东城区文明办", ("东城文明办",), ("dc@example.cn", "dc2@example.cn"), "区县"),
                  Unit("市志愿服务指导中心", (), ("zy@example.cn",), "部门", required=False),
                  Unit("南湖县委宣传部", (), ("nh@example.cn",), "区县")))
    diff = roster_diff(OLD, new)
    assert [u.name for u in diff.added] == ["南湖县委宣传部"]
    assert [u.name for u in diff.removed] == ["西城区文明办"]
    assert diff.changed == (
        UnitChanges("东城区文明办", (Change("emails", "dc@example.cn", "dc@example.cn、dc2@example.cn"),)),
        UnitChanges("市志愿服务指导中心", (Change("required", "是", "否"),)))
    assert diff.unchanged == 0
    assert not diff.empty


def test_the_same_roster_changes_nothing() -> None:
    diff = roster_diff(OLD, Roster(OLD.units))
    assert diff.empty and diff.unchanged == 3
