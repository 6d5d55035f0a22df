"""The roster: which units must submit, by which addresses. CSV or XLSX bytes in, a frozen Roster out.

Pure: `roster_from_bytes` takes a file's content; bot/adapters/roster_file.py reads the file.
Errors name the file, the row as Excel or a text editor numbers it, and the column.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from bot.core.model import Unit


class RosterError(ValueError):
    """The roster file cannot be read or holds a wrong value; the message says where."""


FIELDS = ("name", "aliases", "emails", "group", "required")

# Header text (normalised: NFKC, lower case, no whitespace) -> field.
HEADERS: dict[str, str] = {
    **dict.fromkeys(("name", "unit", "单位名称", "单位", "名称", "单位名"), "name"),
    **dict.fromkeys(("aliases", "alias", "别名", "简称"), "aliases"),
    **dict.fromkeys(("emails", "email", "e-mail", "mail", "邮箱", "电子邮箱", "邮箱地址"), "emails"),
    **dict.fromkeys(("邮件地址", "电子邮件", "电子邮件地址"), "emails"),
    **dict.fromkeys(("group", "分组", "组别"), "group"),
    **dict.fromkeys(("required", "是否必报", "是否必须报送", "必报"), "required"),
}

TRUE_WORDS = frozenset(("是", "yes", "y", "true", "1"))
FALSE_WORDS = frozenset(("否", "no", "n", "false", "0"))

_BLOCK_MARKS = ("-", "－")  # an alias written -小店 blocks that derived short form instead
_ALIAS_SEPARATORS = re.compile(r"[;；,，、]+")
_EMAIL_SEPARATORS = re.compile(r"[;；,，、\s]+")


@dataclass(frozen=True)
class Roster:
    units: tuple[Unit, ...]

    @cached_property
    def _emails(self) -> dict[str, Unit]:
        return {email: unit for unit in self.units for email in unit.emails}

    @cached_property
    def _names(self) -> dict[str, Unit]:
        index: dict[str, Unit] = {}
        for unit in self.units:
            for text in (unit.name, *unit.aliases):
                index.setdefault(text, unit)
        return index

    def by_email(self, addr: str) -> Unit | None:
        return self._emails.get(addr.strip().lower())

    def by_name(self, name: str) -> Unit | None:
        """The unit with this name or alias (exact after trimming)."""
        return self._names.get(name.strip())

    def required_units(self) -> tuple[Unit, ...]:
        return tuple(unit for unit in self.units if unit.required)

    def names(self) -> list[str]:
        return [unit.name for unit in self.units]


def roster_from_bytes(data: bytes, name: str) -> Roster:
    """A roster file's bytes; `name` (the file's name) tells CSV from XLSX and names the file in errors."""
    suffix = Path(name).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        rows = _xlsx_rows(data, name)
    elif suffix == ".xls":
        raise RosterError(f"{name}: old .xls files are not supported; save it as .xlsx or .csv")
    else:
        rows = _csv_rows(_decode(data, name))
    return parse_roster_rows(rows, name)


def parse_roster_rows(rows: list[list[str]], source: str) -> Roster:
    """Rows in file order, blank ones included, so that index + 1 is the row number the user sees.
    The first non-blank row is the header."""
    numbered = [(number, [cell.strip() for cell in row]) for number, row in enumerate(rows, start=1)]
    numbered = [(number, row) for number, row in numbered if any(row)]
    if not numbered:
        raise RosterError(f"{source}: the roster is empty")
    header_number, header = numbered[0]
    columns = _columns(header, header_number, source)
    places = [(_Where(source, number), row) for number, row in numbered[1:]]
    units = [(where, _unit(row, columns, where)) for where, row in places]
    titles = {field: columns[field][1] if field in columns else field for field in FIELDS}
    _check_unique(units, titles)
    return Roster(tuple(unit for _, unit in units))


@dataclass(frozen=True)
class _Where:
    source: str
    row: int

    def error(self, column: str, message: str) -> RosterError:
        return RosterError(f"{self.source}: row {self.row}, column {column}: {message}")


def _normalise_header(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()


def _columns(header: list[str], number: int, source: str) -> dict[str, tuple[int, str]]:
    """Field -> (cell index, header text as written). Unknown columns (phone, contact …) are ignored."""
    columns: dict[str, tuple[int, str]] = {}
    for index, text in enumerate(header):
        field = HEADERS.get(_normalise_header(text))
        if field is None:
            continue
        if field in columns:
            raise RosterError(
                f"{source}: row {number}: columns {columns[field][1]!r} and {text!r} both mean {field!r}"
            )
        columns[field] = (index, text)
    if "name" not in columns:
        found = ", ".join(repr(text) for text in header if text)
        raise RosterError(
            f"{source}: row {number}: no unit name column (name / 单位名称); the header row has {found}"
        )
    return columns


def _unit(row: list[str], columns: dict[str, tuple[int, str]], where: _Where) -> Unit:
    def cell(field: str) -> tuple[str, str]:
        if field not in columns:
            return "", field
        index, title = columns[field]
        return (row[index] if index < len(row) else ""), title

    name, name_title = cell("name")
    if not name:
        raise where.error(name_title, "the unit name is empty")
    aliases_text, _ = cell("aliases")
    emails_text, emails_title = cell("emails")
    group, _ = cell("group")
    required_text, required_title = cell("required")
    written = _split(aliases_text, _ALIAS_SEPARATORS)
    blocked = tuple(dict.fromkeys(a[1:].strip() for a in written if a[:1] in _BLOCK_MARKS and a[1:].strip()))
    aliases = tuple(dict.fromkeys(a for a in written if a != name and a[:1] not in _BLOCK_MARKS))
    addresses = _split(unicodedata.normalize("NFKC", emails_text), _EMAIL_SEPARATORS)  # full-width ＠
    emails = tuple(dict.fromkeys(_email(address, where, emails_title) for address in addresses))
    return Unit(
        name=name,
        aliases=aliases,
        emails=emails,
        group=group,
        required=_required(required_text, where, required_title),
        blocked=blocked,
    )


def _split(text: str, separators: re.Pattern[str]) -> list[str]:
    return [part.strip() for part in separators.split(text) if part.strip()]


def _email(text: str, where: _Where, column: str) -> str:
    local, at, domain = text.lower().partition("@")
    if not at or not local or not domain or "@" in domain:
        raise where.error(column, f"{text!r} is not a mail address")
    return text.lower()


def _required(text: str, where: _Where, column: str) -> bool:
    word = unicodedata.normalize("NFKC", text).strip().lower()
    if not word or word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise where.error(column, f"{text!r} is not 是/否 (yes/no, true/false, 1/0, y/n)")


def _match_key(text: str) -> str:
    """Two names with the same key cannot be told apart when matching mail text."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).casefold()


def _check_unique(units: list[tuple[_Where, Unit]], titles: dict[str, str]) -> None:
    names: dict[str, tuple[str, int]] = {}  # match key -> (unit name, row)
    emails: dict[str, tuple[str, int]] = {}
    for where, unit in units:
        for text in (unit.name, *unit.aliases):
            key = _match_key(text)
            if key in names and names[key][1] != where.row:
                other, row = names[key]
                if text == unit.name and other == unit.name:
                    raise where.error(titles["name"], f"duplicate unit name {text!r} (first at row {row})")
                column = titles["name"] if text == unit.name else titles["aliases"]
                raise where.error(column, f"{text!r} is already a name or alias of {other!r} (row {row})")
            names[key] = (unit.name, where.row)
        for email in unit.emails:
            if email in emails:
                other, row = emails[email]
                raise where.error(titles["emails"], f"{email} is already registered to {other!r} (row {row})")
            emails[email] = (unit.name, where.row)


def _decode(data: bytes, source: str) -> str:
    """UTF-8 (with or without BOM), else GB18030 — what Excel on Chinese Windows writes."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")  # Excel's "Unicode text"
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RosterError(f"{source}: the roster is neither UTF-8 nor GBK/GB18030 text")


def _csv_rows(text: str) -> list[list[str]]:
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), "")
    delimiter = "\t" if "\t" in first and "," not in first else ","
    return [list(row) for row in csv.reader(io.StringIO(text), delimiter=delimiter)]


def _xlsx_rows(data: bytes, source: str) -> list[list[str]]:
    import openpyxl  # only needed for spreadsheets

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise RosterError(f"{source}: not a readable .xlsx file: {exc}") from exc
    try:
        sheet = book.worksheets[0]
        return [[_cell_text(value) for value in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
