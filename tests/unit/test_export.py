"""报送情况统计表 (XLSX) and the ZIP of every stored file with its manifest."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from bot.adapters.templates import Templates
from bot.bootstrap import App
from bot.cli.demo import run_demo
from bot.core.render.workbook import build_workbook, display_width, unit_rows, workbook_bytes
from bot.office.exports import MANIFEST, write_xlsx, write_zip
from bot.office.status import status_report

TZ = ZoneInfo("Asia/Shanghai")
MADE = datetime(2020, 12, 20, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
HEADINGS = ["序号", "单位", "分组", "必报", "简报", "照片", "典型事例", "其他", "是否报齐/尚缺", "逾期", "问题",
            "最后报送时间", "联系邮箱"]


def unit(name: str, group: str, counts: dict[str, int], missing: list[str], **extra: Any) -> dict[str, Any]:
    base = {"name": name, "group": group, "required": True, "exempt": False, "emails": [],
            "counts": {"brief": 0, "photo": 0, "case_study": 0, "other": 0, **counts}, "missing": missing,
            "late": False, "files": [], "problems": [], "last_received_at": None}
    base.update(extra)
    return base


REPORT = {
    "campaign": {"name": "2020年国际志愿者日主题宣传和实践活动", "units_required": 3, "units_complete": 1},
    "units": [
        unit("东城区文明办", "区县", {"brief": 1, "photo": 2}, [], emails=["dc@example.cn", "dc2@example.cn"],
             last_received_at="2020-12-07T02:15:00+00:00"),
        unit("南湖县委宣传部", "区县", {"brief": 1}, ["photo"], late=True,
             problems=[{"code": "photo_too_small"}, {"code": "photo_too_small"}, {"code": "photo_compressed"}],
             last_received_at="2020-12-09T09:03:00+08:00"),
        unit("市第一人民医院", "示范单位", {}, ["brief", "photo"]),
        unit("红星社区志愿服务站", "志愿服务站", {}, [], required=False),
        unit("滨江街道新时代文明实践站", "志愿服务站", {"photo": 1}, [], required=False, exempt=True),
    ],
    "messages": [],
}


def test_one_row_per_unit_with_counts_state_problems_and_local_times() -> None:
    assert unit_rows(REPORT, Templates(), TZ) == [
        [1, "东城区文明办", "区县", "是", 1, 2, 0, 0, "已齐", "", "", "2020-12-07 10:15",
         "dc@example.cn; dc2@example.cn"],
        [2, "南湖县委宣传部", "区县", "是", 1, 0, 0, 0, "尚缺：照片", "是", "3项：照片过小×2、疑似压缩图",
         "2020-12-09 09:03", ""],
        [3, "市第一人民医院", "示范单位", "是", 0, 0, 0, 0, "尚缺：简报、照片", "", "", "", ""],
        [4, "红星社区志愿服务站", "志愿服务站", "否", 0, 0, 0, 0, "不必报", "", "", "", ""],
        [5, "滨江街道新时代文明实践站", "志愿服务站", "否", 0, 1, 0, 0, "免报", "", "", "", ""],
    ]


def test_the_workbook_has_a_title_headings_the_units_and_a_total_row() -> None:
    wb = load_workbook(io.BytesIO(workbook_bytes(build_workbook(REPORT, Templates(), MADE, TZ))))
    ws = wb["报送情况统计表"]
    values = [list(row) for row in ws.iter_rows(values_only=True)]
    assert values[0][0] == "2020年国际志愿者日主题宣传和实践活动 报送情况统计表（制表时间：2020年12月20日 09:00）"
    assert values[1] == HEADINGS
    assert [row[:9] for row in values[2:7]] == [row[:9] for row in unit_rows(REPORT, Templates(), TZ)]
    assert values[7] == [None, "合计", None, "3", 2, 3, 0, 0, "已齐 1/3", "1", "3", None, None]
    assert len(values) == 8


def test_the_workbook_prints_as_is() -> None:
    wb = load_workbook(io.BytesIO(workbook_bytes(build_workbook(REPORT, Templates(), MADE, TZ))))
    ws = wb.active
    assert [str(r) for r in ws.merged_cells.ranges] == ["A1:M1"]
    assert ws.freeze_panes == "C3"
    assert ws.page_setup.orientation == "landscape"
    assert ws.sheet_properties.pageSetUpPr.fitToPage is True
    assert (ws.page_setup.fitToWidth, ws.page_setup.fitToHeight) == (1, 0)
    assert ws.print_title_rows == "$2:$2"
    assert ws["A2"].fill.fgColor.rgb == "00D9E1F2" and ws["A2"].font.b is True
    assert all(ws.cell(r, c).border.left.style == "thin" for r in range(2, 9) for c in range(1, 14))
    # Columns are wide enough for the longest Chinese text they hold (a Chinese character is two).
    assert ws.column_dimensions["B"].width >= display_width("滨江街道新时代文明实践站") == 24
    assert ws.column_dimensions["I"].width >= display_width("尚缺：简报、照片")
    assert ws["I5"].fill.fgColor.rgb == "00FCE4D6" and ws["I3"].fill.fgColor.rgb == "00E2EFDA"


def test_every_cell_is_styled_by_its_row_and_column() -> None:
    wb = load_workbook(io.BytesIO(workbook_bytes(build_workbook(REPORT, Templates(), MADE, TZ))))
    ws = wb.active
    style = {(r, c): (ws.cell(r, c).font.b, ws.cell(r, c).font.name, ws.cell(r, c).alignment.horizontal,
                      ws.cell(r, c).alignment.wrap_text) for r in range(2, 9) for c in range(1, 14)}
    assert {style[2, c][:3] for c in range(1, 14)} == {(True, "宋体", "center")}  # headings
    assert style[3, 2] == (False, "宋体", "left", None)  # unit name
    assert style[3, 5] == (False, "宋体", "center", None)  # a count
    assert style[4, 11] == (False, "宋体", "left", True)  # problems wrap
    assert style[8, 2] == (True, "宋体", "left", None) and style[8, 5] == (True, "宋体", "center", None)  # total


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> App:
    application, _ = run_demo(tmp_path_factory.mktemp("demo") / "out")
    return application


def test_the_xlsx_of_the_demo_matches_its_status_report(demo: App, tmp_path: Path) -> None:
    report = status_report(demo.engine, demo.roster, demo.config.campaigns[0])
    path = write_xlsx(report, demo.templates, MADE, TZ, tmp_path / "表.xlsx")
    rows = list(load_workbook(path).active.iter_rows(min_row=3, values_only=True))[:-1]
    assert [(r[1], r[4], r[5], r[6], r[7]) for r in rows] == [
        (u["name"], u["counts"]["brief"], u["counts"]["photo"], u["counts"]["case_study"], u["counts"]["other"])
        for u in report["units"]
    ]
    assert [r[1] for r in rows] == [
        "东城区文明办", "西城区文明办", "南湖县委宣传部", "市志愿服务指导中心", "青年志愿者协会",
        "滨江街道新时代文明实践站", "红星社区志愿服务站", "市第一人民医院",
    ]
    assert rows[0][4:9] == (1, 2, 0, 0, "已齐")
    assert rows[0][11:] == ("2020-12-07 10:15", "dongcheng-wmb@163.example")


def test_the_zip_holds_every_stored_file_by_unit_and_category_with_a_manifest(demo: App, tmp_path: Path) -> None:
    report = status_report(demo.engine, demo.roster, demo.config.campaigns[0])
    stored = [(m, f) for m in report["messages"] for f in m["files"] if f["path"]]
    packed = write_zip(report, demo.store, demo.templates, TZ, tmp_path / "材料.zip")
    assert len(packed) == len(stored) == 13
    with zipfile.ZipFile(tmp_path / "材料.zip") as zf:
        names = zf.namelist()
        assert names[-1] == MANIFEST and len(names) == 14
        assert names[:3] == ["东城区文明办/活动简报/东城区国际志愿者日主题宣传和实践活动简报.docx",
                             "东城区文明办/照片/志愿服务现场照片1.jpg", "东城区文明办/照片/志愿服务现场照片2.jpg"]
        assert "未确认单位/照片/照片.jpg" in names
        assert "青年志愿者协会/照片/x.jpg" in names  # the hostile name "../../x.jpg" stays a name
        raw = zf.read(MANIFEST)
        assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: Excel opens it as is
        lines = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        assert lines[0] == ["单位", "类别", "原文件名", "邮件中位置", "压缩包内路径", "大小（字节）", "SHA-256",
                            "收到时间", "邮件主题", "发件人", "备注"]
        files = lines[1:14]
        for line in files:
            data = zf.read(line[4])
            assert (len(data), hashlib.sha256(data).hexdigest()) == (int(line[5]), line[6])
        by_sha = {f["sha256"]: (m, f) for m, f in stored}
        assert sorted(line[6] for line in files) == sorted(by_sha)
        first = files[0]
        assert first[:4] == ["东城区文明办", "活动简报", "东城区国际志愿者日主题宣传和实践活动简报.docx", ""]
        assert first[7:] == ["2020-12-07 10:15", "东城区文明办报送2020年国际志愿者日主题宣传和实践活动材料",
                             "dongcheng-wmb@163.example", ""]
        # Required units still lacking something: one line each, no folder.
        assert lines[14:] == [
            ["南湖县委宣传部", "", "", "", "", "", "", "", "", "", "尚缺：照片"],
            ["市志愿服务指导中心", "", "", "", "", "", "", "", "", "", "尚未报送任何材料"],
            ["滨江街道新时代文明实践站", "", "", "", "", "", "", "", "", "", "尚缺：简报"],
            ["市第一人民医院", "", "", "", "", "", "", "", "", "", "尚未报送任何材料"],
        ]
        assert not any(n.startswith("市第一人民医院/") for n in names)


def test_a_stored_file_missing_on_disk_is_noted_and_the_rest_still_packed(demo: App, tmp_path: Path) -> None:
    report = status_report(demo.engine, demo.roster, demo.config.campaigns[0])
    report["messages"] = [dict(m, files=[dict(f) for f in m["files"]]) for m in report["messages"]]
    report["messages"][0]["files"][0]["path"] = "idv-2020/东城区文明办/brief/gone.docx"
    packed = write_zip(report, demo.store, demo.templates, TZ, tmp_path / "x.zip")
    assert len(packed) == 12
    with zipfile.ZipFile(tmp_path / "x.zip") as zf:
        lines = list(csv.reader(io.StringIO(zf.read(MANIFEST).decode("utf-8-sig"))))
        assert "东城区文明办/活动简报/gone.docx" not in zf.namelist()
    gone = next(line for line in lines if line[4] == "东城区文明办/活动简报/gone.docx")
    assert gone[10] == "文件缺失（未能打包）"
    assert not (tmp_path / ".x.zip.part").exists()


def test_the_unit_report_counted_by_the_database_agrees_with_every_file_of_the_status_report(demo: App) -> None:
    from bot.office.status import unit_report

    full = status_report(demo.engine, demo.roster, demo.config.campaigns[0])
    units = unit_report(demo.engine, demo.roster, demo.config.campaigns[0])
    assert units["campaign"] == full["campaign"]
    assert units["units"] == [{k: v for k, v in u.items() if k != "files"} for u in full["units"]]
    counted = Counter((m["unit"], f["category"]) for m in full["messages"] for f in m["files"]
                      if m["unit"] and f["counted"])
    by_database = Counter({(u["name"], c): n for u in units["units"] for c, n in u["counts"].items() if n})
    assert by_database == counted and sum(counted.values()) > 10
    assert units["campaign"]["messages"] == len(full["messages"])
    assert units["campaign"]["needs_attention"] == sum(m["status"] == "needs_attention" for m in full["messages"]) > 0
