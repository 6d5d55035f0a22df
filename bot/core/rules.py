"""Checks: each rule looks at the facts and only ADDS problems. It never sends, stores or decides."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.core.model import Category, ItemPlan, LargeFileLink, Problem, UnitMatch
from bot.core.settings import CampaignConfig


@dataclass(frozen=True)
class Evidence:
    """Everything a rule may look at for one message."""

    campaign: CampaignConfig
    received_at: datetime
    match: UnitMatch
    items: tuple[ItemPlan, ...]
    unpack_problems: tuple[Problem, ...] = ()
    links: tuple[LargeFileLink, ...] = ()
    question: str | None = None  # what the sender asks (a question is not a failed submission)

    @property
    def submitted(self) -> tuple[ItemPlan, ...]:
        return tuple(i for i in self.items if i.skipped is None)

    @property
    def late(self) -> bool:
        return self.received_at > self.campaign.deadline


Rule = Callable[[Evidence, list[Problem]], None]


def unit_unknown(evidence: Evidence, problems: list[Problem]) -> None:
    if evidence.match.unit is None:
        problems.append(Problem("unit_unknown"))


def late_rejected(evidence: Evidence, problems: list[Problem]) -> None:
    if evidence.late and evidence.campaign.late_policy == "reject":
        problems.append(Problem("late_rejected"))


def nothing_attached(evidence: Evidence, problems: list[Problem]) -> None:
    """A registered unit's mail with nothing in it that asks nothing: it forgot its files. (A question is not
    a failed submission, and a stranger is asked, not told what is wrong.)"""
    if evidence.submitted or evidence.links or evidence.unpack_problems or evidence.question:
        return
    if evidence.match.how in ("address", "address+name", "staff"):
        problems.append(Problem("no_attachments"))


def containers(evidence: Evidence, problems: list[Problem]) -> None:
    """Archives that could not be opened in full: encrypted, too deep, a bomb, corrupt, unsupported."""
    problems.extend(evidence.unpack_problems)


def large_file_links(evidence: Evidence, problems: list[Problem]) -> None:
    for link in evidence.links:
        params = (("size", link.size), ("expires", link.expires), ("provider", link.provider))
        problems.append(Problem("large_file_link", link.filename or link.url, params))


def photo_unreadable(evidence: Evidence, problems: list[Problem]) -> None:
    for item in evidence.submitted:
        if item.category is Category.PHOTO and item.facts.image_error:
            problems.append(
                Problem("photo_unreadable", item.shown, (("index", item.index), ("error", item.facts.image_error)))
            )


def photo_too_small(evidence: Evidence, problems: list[Problem]) -> None:
    minimum = evidence.campaign.min_photo_bytes
    for item in evidence.submitted:
        if item.category is Category.PHOTO and not item.facts.image_error and item.size < minimum:
            params = (("index", item.index), ("size", item.size), ("min", minimum))
            problems.append(Problem("photo_too_small", item.shown, params))


def empty_file(evidence: Evidence, problems: list[Problem]) -> None:
    for item in evidence.submitted:
        if item.size == 0:
            problems.append(Problem("empty_file", item.shown, (("index", item.index),)))


def photo_compressed(evidence: Evidence, problems: list[Problem]) -> None:
    """A copy squeezed by WeChat or QQ: its name says so, or it has no camera EXIF and few pixels.
    Photos already below the minimum size are left to photo_too_small."""
    rules = evidence.campaign.classify
    patterns = [re.compile(p, re.IGNORECASE) for p in rules.compressed_names]
    for item in evidence.submitted:
        f = item.facts
        if item.category is not Category.PHOTO or f.image_error or item.size < evidence.campaign.min_photo_bytes:
            continue
        named = any(p.search(item.filename) for p in patterns)
        small = not f.has_exif and f.width is not None and f.height is not None and (
            max(f.width, f.height) <= rules.compressed_long_edge)
        if named or small:
            why = "name" if named else "no-exif"
            problems.append(Problem("photo_compressed", item.shown, (("index", item.index), ("why", why))))


def photos_pasted_in_document(evidence: Evidence, problems: list[Problem]) -> None:
    """Photos only pasted inside a Word or PDF file, with no photo file in the mail."""
    if any(i.category is Category.PHOTO for i in evidence.submitted):
        return
    for item in evidence.submitted:
        if item.facts.is_document and item.facts.embedded_images > 0:
            problems.append(Problem("photos_pasted_in_document", item.shown,
                                    (("count", item.facts.embedded_images),)))


# The rules, in the order their problems are listed in a reply.
RULES: tuple[Rule, ...] = (
    unit_unknown,
    late_rejected,
    nothing_attached,
    containers,
    large_file_links,
    empty_file,
    photo_unreadable,
    photo_too_small,
    photo_compressed,
    photos_pasted_in_document,
)


def check(evidence: Evidence, rules: tuple[Rule, ...] = RULES) -> tuple[Problem, ...]:
    problems: list[Problem] = []
    for rule in rules:
        rule(evidence, problems)
    return tuple(problems)


def counts_toward_unit(item: ItemPlan, problems: tuple[Problem, ...]) -> bool:
    """A file counts for the unit unless a problem concerns it or it was stored before."""
    if item.skipped is not None or item.already_stored:
        return False
    if any(p.code == "late_rejected" for p in problems):
        return False
    return not any(p.param("index") == item.index for p in problems)


def missing_categories(required: tuple[str, ...], counts: dict[str, int], unit_required: bool) -> tuple[str, ...]:
    """The required categories a unit has nothing counted in (none for a unit that need not submit)."""
    return tuple(c for c in required if unit_required and not counts.get(c))
