"""报送情况统计表: one row per unit, as an XLSX workbook styled to print as is.

`unit_rows` is pure (the status report in, cell values out); `build_workbook` styles them; the digest
attaches the same workbook (`build_sheets`: with several campaigns, a sheet each). Headings and words come
from the message catalogue, section [export]. Every text cell is written as text, never as a formula (`_as_text`):
a unit's name or a group beginning with = stays what it says.
"""

from __future__ import annotations

import io
import unicodedata
from collections import Counter
from collections.abc import Sequence
from copy import copy
from datetime import UTC, datetime, tzinfo
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties

from bot.core.model import CATEGORIES
from bot.core.render.formats import spreadsheet_text
from bot.core.render.texts import Texts

SHEET = "报送情况统计表"  # also the attachment's name (报送情况统计表.xlsx)
FIRST_DATA_ROW = 3  # row 1: title, row 2: headings

_FONT = "宋体"
_THIN = Side(style="thin", color="808080")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_HEADER_FILL = PatternFill("solid", fgColor="D9E1F2")
_MISSING_FILL = PatternFill("solid", fgColor="FCE4D6")
_COMPLETE_FILL = PatternFill("solid", fgColor="E2EFDA")
_TOTAL_FILL = PatternFill("solid", fgColor="F2F2F2")
_WRAP_COLUMNS = ("problems", "emails")  # long text: wrapped at a bounded width
_MAX_WIDTH = 40
_SHEET_FORBIDDEN = set("[]:*?/\\")  # characters Excel refuses in a sheet's name
_SHEET_MAX = 31  # Excel's longest sheet name


def columns() -> list[str]:
    """Column keys, in order; their headings are catalogue entries of the same name."""
    return ["index", "unit", "group", "required", *(c.value for c in CATEGORIES), "state", "late", "problems",
            "last_received", "emails"]


def headings(tx: Texts) -> list[str]:
    return [tx.text("short_categories", key) if key in {c.value for c in CATEGORIES} else tx.text("export", key)
            for key in columns()]


def local_text(iso: str | None, tz: tzinfo) -> str:
    """"2020-12-07 10:16" in the campaign's zone, "" for none."""
    if not iso:
        return ""
    moment = datetime.fromisoformat(iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"{moment.astimezone(tz):%Y-%m-%d %H:%M}"


def state_text(unit: dict[str, Any], tx: Texts) -> str:
    """已齐 / 尚缺：简报、照片 / 不必报 / 免报."""
    if unit.get("exempt"):
        return tx.text("export", "exempt")
    if not unit["required"]:
        return tx.text("export", "not_required")
    if unit["missing"]:
        return tx.text("export", "missing_list",
                       missing="、".join(tx.text("short_categories", m) for m in unit["missing"]))
    return tx.text("export", "complete")


def problems_text(problems: Sequence[dict[str, Any]], tx: Texts) -> str:
    """"2项：照片过小×2" — the count, then each kind of problem once."""
    if not problems:
        return ""
    kinds = Counter(p["code"] for p in problems)
    parts = [tx.text("problem_short", code) + (f"×{n}" if n > 1 else "") for code, n in kinds.items()]
    return tx.text("export", "problems_cell", count=len(problems), kinds="、".join(parts))


def unit_rows(report: dict[str, Any], tx: Texts, tz: tzinfo) -> list[list[Any]]:
    """One row of cell values per unit, in roster order."""
    rows = []
    for n, unit in enumerate(report["units"], start=1):
        required = tx.text("export", "yes" if unit["required"] else "no")
        rows.append([
            n, unit["name"], unit["group"], required, *(unit["counts"].get(c.value, 0) for c in CATEGORIES),
            state_text(unit, tx), tx.text("export", "yes") if unit["late"] else "",
            problems_text(unit["problems"], tx), local_text(unit.get("last_received_at"), tz),
            "; ".join(unit.get("emails", [])),
        ])
    return rows


def total_row(report: dict[str, Any], tx: Texts) -> list[Any]:
    units = report["units"]
    c = report["campaign"]
    return [
        "", tx.text("export", "total"), "", str(sum(1 for u in units if u["required"])),
        *(sum(u["counts"].get(cat.value, 0) for u in units) for cat in CATEGORIES),
        tx.text("export", "total_state", complete=c["units_complete"], required=c["units_required"]),
        str(sum(1 for u in units if u["late"])), str(sum(len(u["problems"]) for u in units)), "", "",
    ]


def title_text(report: dict[str, Any], tx: Texts, made_at: datetime, tz: tzinfo) -> str:
    local = made_at.astimezone(tz)
    return tx.text("export", "title", campaign=report["campaign"]["name"],
                   made=f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}")


def display_width(value: Any) -> int:
    """Columns a text needs: a Chinese character is two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in str(value))


def build_workbook(report: dict[str, Any], tx: Texts, made_at: datetime, tz: tzinfo) -> Workbook:
    return build_sheets([(SHEET, report, tz)], tx, made_at)


def sheet_title(n: int, name: str) -> str:
    """A campaign's sheet when the workbook has one per campaign: "1.国际志愿者日…", as Excel allows."""
    cleaned = "".join(" " if ch in _SHEET_FORBIDDEN else ch for ch in name).strip()
    return f"{n}.{cleaned}"[:_SHEET_MAX]


def build_sheets(sheets: Sequence[tuple[str, dict[str, Any], tzinfo]], tx: Texts, made_at: datetime) -> Workbook:
    """One sheet per (title, unit report, time zone), each as `build_workbook` makes its only one (the digest
    of several campaigns has a sheet per campaign)."""
    wb = Workbook()
    for n, (title, report, tz) in enumerate(sheets):
        ws = wb.active if n == 0 else wb.create_sheet()
        ws.title = title
        _fill(ws, report, tx, made_at, tz)
    created = made_at.astimezone(UTC).replace(tzinfo=None)
    wb.properties.created = wb.properties.modified = created
    wb.properties.title = wb.worksheets[0]["A1"].value
    return wb


def _fill(ws: Any, report: dict[str, Any], tx: Texts, made_at: datetime, tz: tzinfo) -> None:
    keys = columns()
    last_col = get_column_letter(len(keys))
    ws.append([title_text(report, tx, made_at, tz)])
    ws.merge_cells(f"A1:{last_col}1")
    ws["A1"].font = Font(name=_FONT, size=14, bold=True)
    ws["A1"].alignment = Alignment(horizontal="center", vertical="center")
    ws.row_dimensions[1].height = 28
    ws.append(headings(tx))
    body = unit_rows(report, tx, tz)
    for row in body:
        ws.append(row)
    ws.append(total_row(report, tx))
    _style(ws, keys, report)
    _as_text(ws)
    # Printing: landscape A4, one page wide, the headings repeated on every page, page numbers.
    ws.freeze_panes = f"C{FIRST_DATA_ROW}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.print_title_rows = "2:2"
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.oddFooter.center.text = tx.text("export", "footer")


def _style(ws: Any, keys: list[str], report: dict[str, Any]) -> None:
    last_row = ws.max_row
    widths = [display_width(h) for h in (cell.value for cell in ws[2])]
    # A few combinations repeat over thousands of cells: style the first cell of each, copy its style
    # indices to the rest (what openpyxl itself does to copy a style) instead of building and hashing a
    # Font and an Alignment per cell (1.4 s of 2.6 s for 500 units).
    styled: dict[tuple[bool, bool, bool], Any] = {}
    for row in ws.iter_rows(min_row=2, max_row=last_row):
        for col, cell in enumerate(row):
            key = keys[col]
            wrap = key in _WRAP_COLUMNS
            numeric = isinstance(cell.value, int) or key in ("index", "required", "late")
            combination = (wrap, numeric or cell.row == 2, cell.row in (2, last_row))
            if combination in styled:
                cell._style = copy(styled[combination])
            else:
                cell.border = _BORDER
                cell.alignment = Alignment(vertical="center", wrap_text=wrap,
                                           horizontal="center" if combination[1] else "left")
                cell.font = Font(name=_FONT, size=11, bold=combination[2])
                styled[combination] = copy(cell._style)
            widths[col] = max(widths[col], display_width(cell.value if cell.value is not None else ""))
    for cell in ws[2]:
        cell.fill = _HEADER_FILL
    for cell in ws[last_row]:
        cell.fill = _TOTAL_FILL
    state_col = keys.index("state") + 1
    for offset, unit in enumerate(report["units"]):
        if unit["required"]:
            ws.cell(FIRST_DATA_ROW + offset, state_col).fill = _MISSING_FILL if unit["missing"] else _COMPLETE_FILL
    for col, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(col)].width = min(max(width + 2, 6), _MAX_WIDTH)
    ws.row_dimensions[2].height = 22


def _as_text(ws: Any) -> None:
    """Every text cell a string, never a formula: openpyxl takes a text beginning with "=" for one, so its type
    is set back to string; a text a spreadsheet could still read as a formula once edited (`spreadsheet_text`
    would quote it) gets Excel's quote prefix, shown as it is. Numbers stay numbers."""
    for row in ws.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"
                if spreadsheet_text(cell.value) != cell.value:
                    cell.quotePrefix = True


def workbook_bytes(wb: Workbook) -> bytes:
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
