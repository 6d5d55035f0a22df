"""Checks: each rule looks at the facts and only ADDS problems. It never sends, stores or decides."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.config import CampaignConfig
from bot.model import Category, ItemPlan, Problem, UnitMatch


@dataclass(frozen=True)
class Facts:
    """Everything a rule may look at for one message."""

    campaign: CampaignConfig
    received_at: datetime
    match: UnitMatch
    items: tuple[ItemPlan, ...]

    @property
    def submitted(self) -> tuple[ItemPlan, ...]:
        return tuple(i for i in self.items if i.skipped is None)

    @property
    def late(self) -> bool:
        return self.received_at > self.campaign.deadline


Rule = Callable[[Facts, list[Problem]], None]


def unit_unknown(facts: Facts, problems: list[Problem]) -> None:
    if facts.match.unit is None:
        problems.append(Problem("unit_unknown"))


def late_rejected(facts: Facts, problems: list[Problem]) -> None:
    if facts.late and facts.campaign.late_policy == "reject":
        problems.append(Problem("late_rejected"))


def nothing_attached(facts: Facts, problems: list[Problem]) -> None:
    if not facts.submitted:
        problems.append(Problem("no_attachments"))


def photo_unreadable(facts: Facts, problems: list[Problem]) -> None:
    for item in facts.submitted:
        if item.category is Category.PHOTO and item.facts.image_error:
            problems.append(
                Problem("photo_unreadable", item.filename, (("index", item.index), ("error", item.facts.image_error)))
            )


def photo_too_small(facts: Facts, problems: list[Problem]) -> None:
    minimum = facts.campaign.min_photo_bytes
    for item in facts.submitted:
        if item.category is Category.PHOTO and not item.facts.image_error and item.size < minimum:
            params = (("index", item.index), ("size", item.size), ("min", minimum))
            problems.append(Problem("photo_too_small", item.filename, params))


def empty_file(facts: Facts, problems: list[Problem]) -> None:
    for item in facts.submitted:
        if item.size == 0:
            problems.append(Problem("empty_file", item.filename, (("index", item.index),)))


# The rules, in the order their problems are listed in a reply.
RULES: tuple[Rule, ...] = (
    unit_unknown,
    late_rejected,
    nothing_attached,
    empty_file,
    photo_unreadable,
    photo_too_small,
)


def check(facts: Facts, rules: tuple[Rule, ...] = RULES) -> tuple[Problem, ...]:
    problems: list[Problem] = []
    for rule in rules:
        rule(facts, problems)
    return tuple(problems)


def counts_toward_unit(item: ItemPlan, problems: tuple[Problem, ...]) -> bool:
    """A file counts for the unit unless a problem concerns it or it was stored before."""
    if item.skipped is not None or item.already_stored:
        return False
    if any(p.code == "late_rejected" for p in problems):
        return False
    return not any(p.param("index") == item.index for p in problems)
