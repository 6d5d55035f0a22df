from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from bot.adapters.roster_file import load_roster
from bot.core.model import Unit
from bot.core.roster import Roster, RosterError, parse_roster_rows

CHINESE_CSV = (
    "单位名称,别名,邮箱,分组,是否必报\n"
    "朝阳区文明办,朝阳文明办；朝阳区,cy@example.cn;CY2@Example.cn,城区,是\n"
    "海淀区文明办,,hd@example.cn,城区,否\n"
)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def rows(text: str) -> list[list[str]]:
    return [line.split("|") if line else [] for line in text.split("\n")]


def error_of(text: str) -> str:
    with pytest.raises(RosterError) as caught:
        parse_roster_rows(rows(text), "units.csv")
    return str(caught.value)


def test_an_alias_written_with_a_minus_blocks_that_derived_short_form() -> None:
    text = "单位名称|别名|邮箱\n东城区文明办|东城文明办;-东城;－东城区|dc@example.cn"
    roster = parse_roster_rows(rows(text), "u.csv")
    (unit,) = roster.units
    assert (unit.aliases, unit.blocked) == (("东城文明办",), ("东城", "东城区"))


# --- reading files -------------------------------------------------------------------------------


def test_utf8_csv_with_english_headers_gives_units_in_file_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "units.csv",
        "name,aliases,emails,group,required\n"
        "朝阳区文明办,朝阳文明办,cy@example.cn,城区,yes\n"
        "延庆区文明办,,yq@example.cn,郊区,no\n".encode(),
    )

    roster = load_roster(path)

    assert roster.units == (
        Unit("朝阳区文明办", ("朝阳文明办",), ("cy@example.cn",), "城区", True),
        Unit("延庆区文明办", (), ("yq@example.cn",), "郊区", False),
    )


def test_utf8_bom_csv_keeps_the_first_header_recognisable(tmp_path: Path) -> None:
    path = write(tmp_path, "units.csv", CHINESE_CSV.encode("utf-8-sig"))

    assert load_roster(path).names() == ["朝阳区文明办", "海淀区文明办"]


def test_gbk_csv_saved_by_chinese_excel_is_decoded(tmp_path: Path) -> None:
    path = write(tmp_path, "units.csv", CHINESE_CSV.encode("gbk"))

    roster = load_roster(path)

    assert roster.units[0] == Unit(
        "朝阳区文明办", ("朝阳文明办", "朝阳区"), ("cy@example.cn", "cy2@example.cn"), "城区", True
    )
    assert roster.units[1].required is False


def test_gb18030_csv_keeps_a_rare_character_outside_gbk(tmp_path: Path) -> None:
    path = write(tmp_path, "units.csv", "单位名称,邮箱\n𠀋村委会,c@example.cn\n".encode("gb18030"))

    assert load_roster(path).names() == ["𠀋村委会"]


def test_xlsx_first_sheet_is_read_with_numbers_and_empty_cells(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["单位名称", "别名", "电子邮箱", "分组", "是否必报"])
    sheet.append(["朝阳区文明办", "朝阳；朝阳文明办", "cy@example.cn", "城区", 1])
    sheet.append([None, None, None, None, None])
    sheet.append(["延庆区文明办", None, "yq@example.cn yq2@example.cn", None, 0])
    book.create_sheet("说明").append(["单位名称"])
    path = tmp_path / "units.xlsx"
    book.save(path)

    roster = load_roster(path)

    assert roster.units == (
        Unit("朝阳区文明办", ("朝阳", "朝阳文明办"), ("cy@example.cn",), "城区", True),
        Unit("延庆区文明办", (), ("yq@example.cn", "yq2@example.cn"), "", False),
    )


def test_xlsx_error_names_the_excel_row_after_a_blank_row(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["单位名称", "是否必报"])
    sheet.append(["朝阳区文明办", "是"])
    sheet.append([None, None])
    sheet.append(["延庆区文明办", "也许"])
    path = tmp_path / "units.xlsx"
    book.save(path)

    with pytest.raises(RosterError, match=r"units\.xlsx: row 4, column 是否必报: '也许'"):
        load_roster(path)


def test_old_xls_file_is_refused_with_advice(tmp_path: Path) -> None:
    path = write(tmp_path, "units.xls", b"\xd0\xcf\x11\xe0")

    with pytest.raises(
        RosterError, match=r"units\.xls: old \.xls files are not supported; save it as \.xlsx"
    ):
        load_roster(path)


def test_missing_file_is_a_roster_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(RosterError, match=r"nothing\.csv: cannot read the roster"):
        load_roster(tmp_path / "nothing.csv")


# --- columns and values --------------------------------------------------------------------------


def test_only_the_name_column_is_needed_and_defaults_fill_the_rest() -> None:
    roster = parse_roster_rows([["单位"], ["朝阳区文明办"]], "units.csv")

    assert roster.units == (Unit("朝阳区文明办", (), (), "", True),)


def test_header_variants_and_unknown_columns_are_accepted() -> None:
    roster = parse_roster_rows(
        [["名称", "联系人", "邮件地址", "是否必须报送"], ["朝阳区文明办", "张三", "cy@example.cn", "N"]],
        "units.csv",
    )

    assert roster.units == (Unit("朝阳区文明办", (), ("cy@example.cn",), "", False),)


def test_addresses_are_split_on_every_separator_and_lower_cased() -> None:
    roster = parse_roster_rows(
        [["name", "emails"], ["朝阳区文明办", "A@x.cn;B@x.cn；c@x.cn,d@x.cn、e@x.cn  f@x.cn\ng@x.cn"]],
        "units.csv",
    )

    assert roster.units[0].emails == ("a@x.cn", "b@x.cn", "c@x.cn", "d@x.cn", "e@x.cn", "f@x.cn", "g@x.cn")


def test_aliases_are_split_on_semicolons_of_both_widths() -> None:
    roster = parse_roster_rows(
        [["name", "aliases"], ["朝阳区文明办", "朝阳;朝阳区； 朝阳文明办 "]], "units.csv"
    )

    assert roster.units[0].aliases == ("朝阳", "朝阳区", "朝阳文明办")


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("是", True),
        ("否", False),
        ("YES", True),
        ("no", False),
        ("True", True),
        ("FALSE", False),
        ("1", True),
        ("0", False),
        ("y", True),
        ("N", False),
        ("", True),
    ],
)
def test_required_accepts_the_usual_words(word: str, expected: bool) -> None:
    roster = parse_roster_rows([["name", "required"], ["朝阳区文明办", word]], "units.csv")

    assert roster.units[0].required is expected


def test_blank_lines_are_skipped_but_still_counted_in_row_numbers() -> None:
    message = error_of("name|required\n\n朝阳区文明办|是\n|\n海淀区文明办|maybe")

    assert message == "units.csv: row 5, column required: 'maybe' is not 是/否 (yes/no, true/false, 1/0, y/n)"


def test_bad_required_value_names_row_and_chinese_column() -> None:
    message = error_of("单位名称|是否必报\n朝阳区文明办|必须")

    assert message == "units.csv: row 2, column 是否必报: '必须' is not 是/否 (yes/no, true/false, 1/0, y/n)"


def test_address_without_at_names_row_and_column() -> None:
    message = error_of("单位名称|邮箱\n朝阳区文明办|cy@example.cn\n海淀区文明办|hd.example.cn")

    assert message == "units.csv: row 3, column 邮箱: 'hd.example.cn' is not a mail address"


def test_empty_name_with_other_cells_filled_names_row_and_column() -> None:
    message = error_of("name|emails\n|cy@example.cn")

    assert message == "units.csv: row 2, column name: the unit name is empty"


def test_missing_name_column_lists_the_headers_found() -> None:
    message = error_of("单位代码|邮箱\nA01|a@x.cn")

    assert (
        message
        == "units.csv: row 1: no unit name column (name / 单位名称); the header row has '单位代码', '邮箱'"
    )


def test_two_columns_meaning_the_same_field_are_refused() -> None:
    message = error_of("单位|名称\n朝阳区|朝阳区文明办")

    assert message == "units.csv: row 1: columns '单位' and '名称' both mean 'name'"


def test_empty_file_is_refused() -> None:
    with pytest.raises(RosterError, match=r"^units\.csv: the roster is empty$"):
        parse_roster_rows([[], ["", " "]], "units.csv")


# --- duplicates ----------------------------------------------------------------------------------


def test_duplicate_unit_name_names_both_rows() -> None:
    message = error_of("name|emails\n朝阳区文明办|a@x.cn\n海淀区文明办|b@x.cn\n朝阳区文明办|c@x.cn")

    assert message == "units.csv: row 4, column name: duplicate unit name '朝阳区文明办' (first at row 2)"


def test_address_registered_to_two_units_is_refused() -> None:
    message = error_of("name|emails\n朝阳区文明办|a@x.cn\n海淀区文明办|A@X.cn")

    assert (
        message == "units.csv: row 3, column emails: a@x.cn is already registered to '朝阳区文明办' (row 2)"
    )


def test_alias_equal_to_another_units_name_is_refused() -> None:
    message = error_of("name|aliases\n朝阳区|\n朝阳区文明办|朝阳区")

    assert (
        message == "units.csv: row 3, column aliases: '朝阳区' is already a name or alias of '朝阳区' (row 2)"
    )


def test_alias_equal_to_its_own_name_is_dropped_not_refused() -> None:
    roster = parse_roster_rows([["name", "aliases"], ["朝阳区文明办", "朝阳区文明办;朝阳"]], "units.csv")

    assert roster.units[0].aliases == ("朝阳",)


# --- lookups -------------------------------------------------------------------------------------


ROSTER = Roster(
    (
        Unit("朝阳区文明办", ("朝阳",), ("cy@example.cn",), "城区", True),
        Unit("延庆区文明办", (), ("yq@example.cn",), "郊区", False),
    )
)


def test_by_email_ignores_case_and_surrounding_space() -> None:
    assert ROSTER.by_email("  CY@Example.CN ") == ROSTER.units[0]
    assert ROSTER.by_email("other@example.cn") is None


def test_by_name_finds_name_or_alias_after_trimming() -> None:
    assert ROSTER.by_name(" 延庆区文明办 ") == ROSTER.units[1]
    assert ROSTER.by_name("朝阳") == ROSTER.units[0]
    assert ROSTER.by_name("朝阳区") is None


def test_required_units_leave_out_the_optional_ones() -> None:
    assert ROSTER.required_units() == (ROSTER.units[0],)
    assert ROSTER.names() == ["朝阳区文明办", "延庆区文明办"]


def test_full_width_at_sign_in_an_address_is_folded() -> None:
    roster = parse_roster_rows([["name", "emails"], ["朝阳区文明办", "CY＠example.cn"]], "units.csv")

    assert roster.units[0].emails == ("cy@example.cn",)


def test_alias_is_kept_as_written_so_by_name_finds_it() -> None:
    roster = parse_roster_rows([["name", "aliases"], ["朝阳区文明办", "朝阳（东）；朝阳文明办"]], "units.csv")

    assert roster.units[0].aliases == ("朝阳（东）", "朝阳文明办")
    assert roster.by_name("朝阳（东）") == roster.units[0]
