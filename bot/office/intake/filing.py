"""Where a message's files go and what the database says of them: each file written once into
`<campaign>/<unit>/<category>/` (idempotently: the same input lands at the same path; mail no campaign
could be chosen for under `未归类/<unit>/<category>/` until staff assign it), its item row, and what a unit
already has in a campaign (the state the rules judge a new message against)."""

from __future__ import annotations

from sqlalchemy import bindparam, insert
from sqlmodel import Session, func, select

from bot.core.model import CATEGORIES, ItemPlan, UnitState
from bot.core.pipeline import QUESTION, Decision
from bot.core.render.reply import UnitSummary
from bot.core.roster import Roster
from bot.core.routing import required_in
from bot.core.rules import missing_categories
from bot.core.settings import CampaignConfig
from storage import tables as t
from storage.files import Placing, safe_name

UNASSIGNED_FOLDER = "_unassigned"  # files of mail no unit could be found for
UNSORTED_FOLDER = "未归类"  # files of mail no campaign could be chosen for


def unit_state(s: Session, unit: str | None, campaign: str | None, exclude: int | None = None) -> UnitState:
    """What is stored for the unit in the campaign, leaving out message `exclude` (the one being judged)."""
    if unit is None:
        return UnitState()
    rows = s.connection().execute(_STORED_SHA256S, {"unit": unit, "campaign": campaign, "exclude": exclude or 0})
    return UnitState(sha256s=frozenset(sha256 for sha256, in rows))


def place_files(decision: Decision, store: Placing) -> dict[int, str]:
    """Write every file of the message, idempotently (on the store's writer threads: `store.wait()` before the
    commit); a late-rejected message keeps only its raw bytes. Part index → stored path."""
    if any(p.code == "late_rejected" for p in decision.problems):
        return {}
    unit = decision.analysis.match.unit
    folder_unit = unit if unit is not None else UNASSIGNED_FOLDER
    campaign = decision.analysis.campaign
    top = safe_name(campaign.slug) if campaign is not None else UNSORTED_FOLDER
    parts = decision.analysis.unpacked.parts
    placed: dict[int, str] = {}
    for item in decision.items:
        if item.skipped is None and not item.already_stored:
            folder = (top, folder_unit, item.category.value)
            placed[item.index] = store.place(folder, item.filename, parts[item.index].payload, item.sha256)
    return placed


def write_items(s: Session, row: t.MessageRow, decision: Decision, placed: dict[int, str],
                existing: list[t.ItemRow]) -> None:
    """One row per file; a file that was stored before (reprocessing) keeps its row and id. New rows go in one
    statement, on the session's connection."""
    reusable: dict[tuple[str, str], list[t.ItemRow]] = {}
    for old in existing:
        reusable.setdefault((old.source or old.filename, old.sha256), []).append(old)
    new: list[dict[str, object]] = []
    for item in decision.items:
        if item.skipped is None:
            values = item_values(row, decision, item, placed.get(item.index))
            olds = reusable.get((item.source or item.filename, item.sha256))
            if olds:
                s.merge(t.ItemRow(id=olds.pop(0).id, **values))
            else:
                new.append(values)
    if new:
        s.connection().execute(_NEW_ITEM, new)
    for olds in reusable.values():
        for old in olds:
            s.delete(old)


def item_values(row: t.MessageRow, decision: Decision, item: ItemPlan, path: str | None) -> dict[str, object]:
    """An item row's columns, but its id."""
    f = item.facts
    return {
        "message_row_id": row.id or 0, "unit": decision.analysis.match.unit, "campaign": decision.analysis.route.slug,
        "category": item.category.value, "filename": item.filename, "source": item.source, "path": path,
        "size": item.size, "sha256": item.sha256, "kind": f.kind, "reason": item.reason,
        "counted": item.counted and path is not None, "already_stored": item.already_stored, "late": decision.late,
        "width": f.width, "height": f.height, "has_exif": f.has_exif, "title": f.title,
    }


def summary(s: Session, unit: str | None, roster: Roster, campaign: CampaignConfig) -> UnitSummary:
    """The unit's cumulative state (what every receipt reports), counted by the database."""
    if unit is None:
        return UnitSummary(None, {}, ())
    s.flush()  # this message's items count
    rows = s.connection().execute(_COUNTED, {"unit": unit, "campaign": campaign.slug})
    counts = {category: n for category, n in rows}
    roster_unit = roster.by_name(unit)
    required = required_in(campaign, roster_unit, roster) if roster_unit else True
    return UnitSummary(unit, {c.value: counts.get(c.value, 0) for c in CATEGORIES},
                       missing_categories(campaign.required, counts, required))


def record_question(s: Session, row: t.MessageRow, decision: Decision, fresh: bool = False) -> None:
    """A unit's question, kept for staff until they mark it answered (an answered one stays answered when the
    message is reprocessed). `fresh`: the message's first record, with no question kept yet."""
    existing = None if fresh else s.exec(select(t.QuestionRow).where(t.QuestionRow.message_row_id == row.id)).first()
    question = decision.analysis.question
    if decision.outcome.reply != QUESTION or not question:
        if existing is not None and existing.answered_at is None:
            s.delete(existing)
        return
    if existing is None:
        existing = t.QuestionRow(message_row_id=row.id or 0, text=question)
    existing.unit, existing.text = decision.analysis.match.unit, question
    s.add(existing)


# Built once, in Core, run on the session's connection: every message judged and answered runs them.
_item = t.ITEM
_NEW_ITEM = insert(_item)
_STORED_SHA256S = select(_item.c.sha256).where(
    _item.c.unit == bindparam("unit"), _item.c.campaign == bindparam("campaign"), _item.c.path.is_not(None),
    _item.c.message_row_id != bindparam("exclude"))
_COUNTED = (select(_item.c.category, func.count())
            .where(_item.c.unit == bindparam("unit"), _item.c.campaign == bindparam("campaign"), _item.c.counted)
            .group_by(_item.c.category))
