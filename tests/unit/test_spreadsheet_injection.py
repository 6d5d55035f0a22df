"""No spreadsheet the project writes runs a sender's text as a formula (OWASP "CSV injection"): the ZIP's
manifest.csv quotes such a cell, the XLSX (报送情况统计表) stores it as text."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from bot.adapters.templates import Templates
from bot.core.render.formats import FORMULA_STARTS, spreadsheet_text
from bot.core.render.workbook import SHEET, build_sheets, workbook_bytes
from bot.office.exports import MANIFEST, write_xlsx, write_zip
from storage.files import FileStore, sha256_hex
from tests.unit.test_export import MADE, TZ, unit

HOSTILE = ['=HYPERLINK("http://evil.example/x","点我")简报.docx', "+1+1.jpg", "-2+3.docx", "@SUM(A1)", "\t=1", "\r=1"]
NORMAL = "活动简报.docx"


def test_text_a_spreadsheet_would_run_as_a_formula_gets_a_leading_quote_and_other_text_stays() -> None:
    others = [NORMAL, "", "东城区文明办", "a=1", "1+1", "2020-12-07 10:15", "'=1", " =1"]
    assert {text: spreadsheet_text(text) for text in [*HOSTILE, *others]} == {
        **{text: "'" + text for text in HOSTILE}, **{text: text for text in others}}
    assert spreadsheet_text(HOSTILE[0]) == "'=HYPERLINK(\"http://evil.example/x\",\"点我\")简报.docx"


def hostile_report(store: FileStore) -> dict[str, Any]:
    """A unit per hostile text (its name, group and address), each sending one file named by it under a subject
    that is it; one more unit sends 活动简报.docx; each hostile unit still lacks photos."""
    units, messages = [], []
    for n, text in enumerate([*HOSTILE, NORMAL]):
        payload = f"file {n}".encode()
        sha = sha256_hex(payload)
        path = store.place(["idv-2020", text, "brief"], text, payload, sha)
        missing = [] if text == NORMAL else ["photo"]
        units.append(unit(text, text, {"brief": 1}, missing, emails=[text], files=[path]))
        messages.append({"unit": text, "received_at": "2020-12-07T02:15:00+00:00", "subject": text, "from": text,
                         "files": [{"name": text, "source": text, "category": "brief", "path": path,
                                    "bytes": len(payload), "sha256": sha}]})
    campaign = {"name": HOSTILE[0], "units_required": len(units), "units_complete": 1}
    return {"campaign": campaign, "units": units, "messages": messages}


def test_the_manifest_quotes_every_cell_a_spreadsheet_would_run_as_a_formula(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "data")
    report = hostile_report(store)
    packed = write_zip(report, store, Templates(), TZ, tmp_path / "材料.zip")
    assert len(packed) == len(HOSTILE) + 1
    with zipfile.ZipFile(tmp_path / "材料.zip") as zf:
        text = zf.read(MANIFEST).decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text, newline="")))
    cells = [cell for line in lines for cell in line]
    assert not [cell for cell in cells if cell.startswith(FORMULA_STARTS)]
    files = lines[1:len(HOSTILE) + 2]
    by_name = {line[2]: line for line in files}
    for hostile in HOSTILE:
        line = by_name["'" + hostile]  # the sender's text, whole, behind the quote
        assert line[0] == line[3] == line[8] == line[9] == "'" + hostile  # unit, source, subject, from
    assert by_name[NORMAL][0] == by_name[NORMAL][3] == by_name[NORMAL][8] == NORMAL
    assert by_name[NORMAL][5] == str(len(b"file 6"))  # sizes stay numbers
    lacking = lines[len(HOSTILE) + 2:]
    assert sorted(line[0] for line in lacking) == sorted("'" + h for h in HOSTILE)


def text_cells(data: bytes) -> list[Any]:
    return [cell for ws in load_workbook(io.BytesIO(data)).worksheets for row in ws.iter_rows() for cell in row]


def test_the_xlsx_stores_a_text_beginning_with_a_formulas_sign_as_text(tmp_path: Path) -> None:
    report = hostile_report(FileStore(tmp_path / "data"))
    path = write_xlsx(report, Templates(), MADE, TZ, tmp_path / "表.xlsx")
    digest = workbook_bytes(build_sheets([(SHEET, report, TZ), ("2.其他", report, TZ)], Templates(), MADE))
    for data in (path.read_bytes(), digest):
        cells = text_cells(data)
        assert not [cell.coordinate for cell in cells if cell.data_type == "f"]
        hostile = [cell for cell in cells if isinstance(cell.value, str) and cell.value.startswith(FORMULA_STARTS)]
        assert hostile and all(cell.data_type == "s" and cell.quotePrefix for cell in hostile)
        book = load_workbook(io.BytesIO(data))
        for ws in book.worksheets:
            assert ws["A1"].value.startswith(HOSTILE[0] + " 报送情况统计表")  # the title, from the campaign's name
            rows = list(ws.iter_rows(min_row=3, max_row=2 + len(report["units"])))
            for row, text in zip(rows, [*HOSTILE, NORMAL], strict=True):
                name, group, emails = row[1], row[2], row[12]
                assert name.value == group.value == emails.value == text  # the text shown as it is
                assert {name.data_type, group.data_type, emails.data_type} == {"s"}
                assert name.quotePrefix is (text != NORMAL)
                assert isinstance(row[0].value, int) and isinstance(row[4].value, int)  # numbers stay numbers
