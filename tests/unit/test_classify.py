from __future__ import annotations

from dataclasses import replace

import pytest

from bot.core.classify import classify
from bot.core.files.file_facts import inspect_file
from bot.core.model import Category, Classification, FileFacts
from bot.core.settings import ClassifyRules
from tests.fixtures.files import make_docx, make_jpeg, make_pdf, make_zip

RULES = ClassifyRules()
DOCX = FileFacts(
    kind="docx",
    mime="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    is_document=True,
)


def classify_file(filename: str, payload: bytes, *, folder_hint: str = "") -> tuple[Category, str]:
    facts = inspect_file(payload, filename, max_image_pixels=120_000_000)
    verdict = classify(filename, facts, RULES, folder_hint=folder_hint)
    return verdict.category, verdict.reason


@pytest.mark.parametrize(
    ("filename", "payload", "expected"),
    [
        ("2020志愿服务活动简报.docx", make_docx("志愿服务"), (Category.BRIEF, "name:活动简报")),
        ("典型事例-张三.pdf", make_pdf("Zhang San"), (Category.CASE_STUDY, "name:典型事例")),
        ("材料.docx", make_docx("经验总结"), (Category.CASE_STUDY, "title:经验总结")),
        ("IMG_0001.JPG", make_pdf(""), (Category.OTHER, "unclassified")),
        ("照片说明.docx", make_docx("照片说明"), (Category.OTHER, "unclassified")),
        ("data.bin", b"\x00\x01\x02binary", (Category.OTHER, "unclassified")),
        ("IMG_0001.JPG", make_jpeg(width=64, height=48), (Category.PHOTO, "type:jpeg")),
        ("工作简报.jpg", make_jpeg(width=64, height=48), (Category.PHOTO, "type:jpeg")),
        ("典型事例简报.docx", make_docx("x"), (Category.CASE_STUDY, "name:典型事例")),
        ("工作简报.docx", make_docx("经验总结"), (Category.BRIEF, "name:工作简报")),
        ("简报和照片.zip", make_zip({"简报.docx": make_docx("简报")}), (Category.OTHER, "archive:zip")),
        ("scan.pdf", make_pdf("", "Volunteer work: 2020"), (Category.OTHER, "unclassified")),
    ],
    ids=[
        "brief-by-name",
        "case-by-name",
        "case-by-title",
        "jpg-name-on-pdf",
        "photo-word-on-docx",
        "unknown",
        "photo-by-type",
        "image-with-brief-name",
        "case-beats-brief",
        "name-beats-title",
        "archive",
        "nothing-matches",
    ],
)
def test_classification_table(filename: str, payload: bytes, expected: tuple[Category, str]) -> None:
    assert classify_file(filename, payload) == expected


def test_folder_inside_an_archive_classifies_a_plainly_named_document() -> None:
    assert classify_file("张三.docx", make_docx("张三"), folder_hint="典型事例/") == (
        Category.CASE_STUDY,
        "folder:典型事例",
    )


def test_file_name_wins_over_folder() -> None:
    assert classify_file("活动简报.docx", make_docx("x"), folder_hint="典型事例/") == (
        Category.BRIEF,
        "name:活动简报",
    )


def test_document_text_is_the_last_source() -> None:
    facts = replace(DOCX, text_head="本单位先进事迹如下")
    assert classify("材料.docx", facts, RULES) == Classification(Category.CASE_STUDY, "text:先进事迹")


def test_longest_matching_brief_word_is_reported() -> None:
    assert classify("区工作简报.docx", DOCX, RULES) == Classification(Category.BRIEF, "name:工作简报")


def test_keywords_come_only_from_the_rules() -> None:
    rules = ClassifyRules(brief=("bulletin",), case_study=("story",))
    assert classify("Weekly BULLETIN.docx", DOCX, rules) == Classification(Category.BRIEF, "name:bulletin")
    assert classify("简报.docx", DOCX, rules) == Classification(Category.OTHER, "unclassified")


def test_full_width_letters_match_their_keyword() -> None:
    rules = ClassifyRules(brief=("report",), case_study=())
    assert classify("ＲＥＰＯＲＴ.docx", DOCX, rules).category is Category.BRIEF


def test_extension_is_not_searched_for_keywords() -> None:
    rules = ClassifyRules(brief=("doc",), case_study=())
    assert classify("notes.docx", DOCX, rules) == Classification(Category.OTHER, "unclassified")


def test_rar_archive_names_its_kind_in_the_reason() -> None:
    facts = FileFacts(kind="rar", mime="application/vnd.rar", is_archive=True)
    assert classify("典型事例.rar", facts, RULES) == Classification(Category.OTHER, "archive:rar")
