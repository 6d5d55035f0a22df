"""Category of one file: its real type first, then keywords in its name, folder, title and text.

Keywords come only from ClassifyRules. Case-study words win over brief words wherever both appear,
and within a list the longest matching keyword is the one reported.
"""

from __future__ import annotations

import unicodedata

from bot.core.model import Category, Classification, FileFacts
from bot.core.settings import ClassifyRules

UNCLASSIFIED = "unclassified"


def classify(
    filename: str, facts: FileFacts, rules: ClassifyRules, *, folder_hint: str = ""
) -> Classification:
    if facts.is_image:
        return Classification(Category.PHOTO, f"type:{facts.kind}")
    if facts.is_archive:
        return Classification(Category.OTHER, f"archive:{facts.kind}")
    if not facts.is_document:
        return Classification(Category.OTHER, UNCLASSIFIED)
    sources = (
        ("name", _stem(filename)),
        ("folder", folder_hint),
        ("title", facts.title or ""),
        ("text", "" if facts.text_garbled else facts.text_head),
    )
    for where, text in sources:
        found = _keyword_category(text, rules)
        if found:
            category, keyword = found
            return Classification(category, f"{where}:{keyword}")
    return Classification(Category.OTHER, UNCLASSIFIED)


def _keyword_category(text: str, rules: ClassifyRules) -> tuple[Category, str] | None:
    """The first category (case study before brief) with a keyword in `text`, and its longest such keyword."""
    if not text:
        return None
    haystack = _fold(text)
    for category, words in ((Category.CASE_STUDY, rules.case_study), (Category.BRIEF, rules.brief)):
        matches = [word for word in words if word and _fold(word) in haystack]
        if matches:
            return category, max(matches, key=len)
    return None


def _fold(text: str) -> str:
    """Full-width and half-width forms made equal, case ignored."""
    return unicodedata.normalize("NFKC", text).casefold()


def _stem(filename: str) -> str:
    """The file name without its extension (an extension is the type claim, not a keyword)."""
    stem, dot, extension = filename.rpartition(".")
    return stem if dot and stem and len(extension) <= 5 else filename
