"""Exports for staff: the unit table as XLSX (报送情况统计表, built by bot/core/render/workbook.py), and every
stored file in one ZIP, by unit and category, with a manifest Excel opens.

ZIP layout: `<unit>/<category label>/<stored name>`; mail no unit was found for goes under the catalogue's
`export.unassigned_folder`. `manifest.csv` (UTF-8 with BOM) has one line per file, and one line per
required unit that still lacks something (no folder is made for a unit that sent nothing: its
manifest line says what is missing). A cell whose text a spreadsheet would take for a formula (a file name or a
subject beginning with =, +, -, @ …) is written with a leading quote (`spreadsheet_text`). Files are streamed
into the archive one by one, never all in memory; a file missing on disk is listed with a note instead of
stopping the export.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path, PurePosixPath
from typing import Any

from bot.core.model import CATEGORIES
from bot.core.render.formats import spreadsheet_text
from bot.core.render.texts import Texts
from bot.core.render.workbook import build_workbook, local_text, state_text, workbook_bytes
from storage.files import FileStore, safe_name, write_atomic

MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = ("unit", "category", "name", "source", "zip_path", "bytes", "sha256", "received_at", "subject",
                    "from", "note")
# Already compressed: stored as they are (deflating them again costs time and gains nothing).
_STORED_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".heic", ".webp", ".zip", ".rar", ".7z", ".docx", ".xlsx",
                    ".pptx", ".pdf", ".mp4", ".mov"}


def write_xlsx(report: dict[str, Any], tx: Texts, made_at: datetime, tz: tzinfo, path: Path) -> Path:
    """The unit table (`report` is bot.office.status.unit_report's) at `path`, written atomically."""
    write_atomic(path, workbook_bytes(build_workbook(report, tx, made_at, tz)))
    return path


@dataclass(frozen=True)
class Entry:
    """One stored file and where it goes in the archive."""

    unit: str | None
    category: str
    name: str  # as the sender named it
    source: str  # where it sat in the mail
    path: str  # relative to data_dir
    zip_path: str
    size: int
    sha256: str
    received_at: str | None
    subject: str
    sender: str


def entries(report: dict[str, Any], tx: Texts) -> list[Entry]:
    """Every stored file of the status report, in roster order, then unassigned; by category, then name."""
    order = {u["name"]: n for n, u in enumerate(report["units"])}
    categories = {c.value: n for n, c in enumerate(CATEGORIES)}
    found: list[Entry] = []
    used: set[str] = set()
    for m in report["messages"]:
        for f in m["files"]:
            if not f.get("path"):
                continue
            folder = safe_name(m["unit"], "_") if m["unit"] else tx.text("export", "unassigned_folder")
            label = safe_name(tx.label(f["category"]), "_")
            zip_path = str(PurePosixPath(folder, label, PurePosixPath(f["path"]).name))
            if zip_path in used:
                continue  # the same stored file named twice
            used.add(zip_path)
            found.append(Entry(m["unit"], f["category"], f["name"], f.get("source", ""), f["path"], zip_path,
                               f["bytes"], f["sha256"], m["received_at"], m.get("subject") or "", m["from"] or ""))
    return sorted(found, key=lambda e: (order.get(e.unit or "", len(order)), e.unit is None,
                                        categories.get(e.category, 9), e.zip_path))


def manifest_rows(report: dict[str, Any], files: list[Entry], missing_on_disk: set[str], tx: Texts,
                  tz: tzinfo) -> Iterator[list[str]]:
    yield [tx.text("manifest", key) for key in MANIFEST_COLUMNS]
    for e in files:
        note = tx.text("manifest", "file_missing") if e.path in missing_on_disk else ""
        yield [e.unit or tx.text("export", "unassigned_folder"), tx.label(e.category), e.name, e.source,
               e.zip_path, str(e.size), e.sha256, local_text(e.received_at, tz), e.subject, e.sender, note]
    for unit in report["units"]:
        if unit["required"] and unit["missing"]:
            note = state_text(unit, tx) if unit["files"] else tx.text("manifest", "nothing_sent")
            yield [unit["name"], "", "", "", "", "", "", "", "", "", note]


def manifest_bytes(rows: Iterator[list[str]]) -> bytes:
    """The manifest's lines as CSV; every cell goes through `spreadsheet_text` (file names, subjects, senders and
    unit names are the sender's or a person's text; sizes, hashes and times never begin with a formula's sign)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([spreadsheet_text(cell) for cell in row] for row in rows)
    return buffer.getvalue().encode("utf-8-sig")


def write_zip(report: dict[str, Any], store: FileStore, tx: Texts, tz: tzinfo, path: Path) -> list[Entry]:
    """Write the archive (through a temporary name, renamed at the end); the entries it holds."""
    files = entries(report, tx)
    missing: set[str] = set()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6, allowZip64=True) as zf:
        for e in files:
            source = store.absolute(e.path)
            if not source.is_file():
                missing.add(e.path)
                continue
            stored = PurePosixPath(e.path).suffix.lower() in _STORED_SUFFIXES
            zf.write(source, e.zip_path, compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
        zf.writestr(MANIFEST, manifest_bytes(manifest_rows(report, files, missing, tx, tz)))
    os.replace(tmp, path)
    return [e for e in files if e.path not in missing]
