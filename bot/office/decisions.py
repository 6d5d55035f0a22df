"""Staff commands: the few decisions the bot cannot make. Each one is recorded (who, when, what) in the
audit trail and, where it changes how a message is read, as a standing decision the pipeline respects
(bot/core/overrides.py); the message is then reprocessed so that files, counts and status follow at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.adapters.roster_file import load_roster
from bot.core.model import CATEGORIES
from bot.core.overrides import ADDRESS, ASSIGN, CAMPAIGN, CATEGORY, DONE, EXEMPT, item_key
from bot.core.roster import Roster
from bot.core.settings import CampaignConfig
from bot.office.intake.reply_policy import ReplyPolicy
from bot.office.review import load_review_rows, marked_done, review_entries
from bot.office.roster_in_force import import_roster, load_overrides
from storage import tables as t
from storage.db import session

if TYPE_CHECKING:
    from bot.office.intake.ledger import Result
    from bot.office.intake.shell import Intake
    from bot.office.reminders import Reminders


class Desk(Protocol):
    """What staff decisions need: the database, the roster in force (taken again after a change) and the
    intake that reprocesses a message (the application, bot/bootstrap.py, is one)."""

    engine: Engine
    roster: Roster
    campaigns: tuple[CampaignConfig, ...]

    @property
    def intake(self) -> Intake: ...

    def refresh_roster(self) -> bool: ...


class StaffError(ValueError):
    """A staff command cannot do what was asked; `code` names the catalogue text, `params` fill it."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code, params)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class Done:
    """What a command changed, for the confirmation line."""

    code: str
    params: dict[str, Any]


def record(s: Session, now: datetime, actor: str, command: str, *, unit: str | None = None,
           message_row_id: int | None = None, item_id: int | None = None, **detail: Any) -> t.ActionRow:
    action = t.ActionRow(at=now, actor=actor, command=command, unit=unit, message_row_id=message_row_id,
                         item_id=item_id, detail=json.dumps(detail, ensure_ascii=False, default=str))
    s.add(action)
    s.flush()
    return action


def keep_decision(s: Session, action: t.ActionRow, kind: str, key: str, value: str, now: datetime) -> None:
    s.add(t.OverrideRow(kind=kind, key=key, value=value, action_id=action.id, created_at=now))


def _unit_name(app: Desk, name: str) -> str:
    unit = app.roster.by_name(name)
    if unit is None:
        raise StaffError("unknown_unit", unit=name)
    return unit.name


def _campaign_message(s: Session, message_row_id: int) -> t.MessageRow:
    row = s.get(t.MessageRow, message_row_id)
    if row is None or row.raw_path is None or row.state not in (t.STORED, t.FAILED, t.CLAIMED):
        raise StaffError("unknown_message", id=message_row_id)
    return row


def _reprocess(app: Desk, message_row_id: int, now: datetime, reply: ReplyPolicy, actor: str) -> Result:
    app.refresh_roster()
    with session(app.engine) as s:
        overrides = load_overrides(s)
    return app.intake.reprocess(message_row_id, now, overrides, reply, actor)


def assign(app: Desk, message_row_id: int, unit_name: str | None, actor: str, now: datetime,
           learn_address: bool = False, notify: bool = False, campaign: str | None = None) -> Done:
    """The message is this unit's and/or this campaign's (its files move there); optionally its sender's
    address becomes the unit's, and the sender gets a receipt for it now."""
    unit = _unit_name(app, unit_name) if unit_name else None
    if campaign is not None and all(c.slug != campaign for c in app.campaigns):
        raise StaffError("unknown_campaign", slug=campaign, known=", ".join(c.slug for c in app.campaigns))
    with session(app.engine) as s:
        row = _campaign_message(s, message_row_id)
        before, before_campaign = row.unit, row.campaign
        action = record(s, now, actor, "assign", unit=unit or row.unit, message_row_id=row.id, before=before,
                        address=row.from_addr if learn_address and unit else None, campaign=campaign,
                        before_campaign=before_campaign)
        if unit is not None:
            keep_decision(s, action, ASSIGN, str(row.id), unit, now)
            if learn_address and row.from_addr:
                keep_decision(s, action, ADDRESS, row.from_addr.lower(), unit, now)
        if campaign is not None:
            keep_decision(s, action, CAMPAIGN, str(row.id), campaign, now)
        s.commit()
    _reprocess(app, message_row_id, now, ReplyPolicy.ALWAYS if notify else ReplyPolicy.NEVER, actor)
    if unit is None:
        return Done("assigned_campaign", {"id": message_row_id, "campaign": campaign, "before": before_campaign or "-"})
    return Done("assigned", {"id": message_row_id, "unit": unit, "before": before or "-"})


def reclassify(app: Desk, item_id: int, category: str, actor: str, now: datetime) -> Done:
    if category not in {c.value for c in CATEGORIES}:
        raise StaffError("unknown_category", category=category, known=", ".join(c.value for c in CATEGORIES))
    with session(app.engine) as s:
        item = s.get(t.ItemRow, item_id)
        if item is None:
            raise StaffError("unknown_file", id=item_id)
        before = item.category
        action = record(s, now, actor, "reclassify", unit=item.unit, message_row_id=item.message_row_id,
                        item_id=item.id, file=item.filename, before=before, after=category)
        keep_decision(s, action, CATEGORY, item_key(item.message_row_id, item.source, item.filename, item.sha256),
               category, now)
        message_row_id = item.message_row_id
        s.commit()
    _reprocess(app, message_row_id, now, ReplyPolicy.NEVER, actor)
    return Done("reclassified", {"id": item_id, "file": item.filename, "before": before, "after": category})


def exempt(app: Desk, unit_name: str, actor: str, now: datetime, undo: bool = False) -> Done:
    """The unit need not submit this campaign (or, with `undo`, must again)."""
    unit = _unit_name(app, unit_name)
    with session(app.engine) as s:
        action = record(s, now, actor, "exempt", unit=unit, exempt=not undo)
        keep_decision(s, action, EXEMPT, unit, "" if undo else "1", now)
        s.commit()
    app.refresh_roster()
    return Done("unexempted" if undo else "exempted", {"unit": unit})


def resend(app: Desk, message_row_id: int, actor: str, now: datetime) -> Done:
    """Answer the message again, with the unit's state as it is now."""
    with session(app.engine) as s:
        row = _campaign_message(s, message_row_id)
        record(s, now, actor, "resend", unit=row.unit, message_row_id=row.id, to=row.from_addr)
        s.commit()
    result = _reprocess(app, message_row_id, now, ReplyPolicy.ALWAYS, actor)
    if result.reply_kind is None:
        raise StaffError("nothing_to_resend", id=message_row_id)
    return Done("resent", {"id": message_row_id, "to": row.from_addr or "-"})


def answered(app: Desk, message_row_id: int, actor: str, now: datetime, undo: bool = False) -> Done:
    """The unit's question in this message has been answered (or, with `undo`, is open again)."""
    with session(app.engine) as s:
        question = s.exec(select(t.QuestionRow).where(t.QuestionRow.message_row_id == message_row_id)).first()
        if question is None:
            raise StaffError("no_question", id=message_row_id)
        record(s, now, actor, "answered", unit=question.unit, message_row_id=message_row_id, undo=undo)
        question.answered_at, question.answered_by = (None, None) if undo else (now, actor)
        s.add(question)
        s.commit()
    return Done("unanswered" if undo else "answered", {"id": message_row_id, "unit": question.unit or "-"})


def reprocess(app: Desk, ids: Iterable[int], actor: str, now: datetime, reply: bool = False) -> Done:
    """Run stored mail through the pipeline again; no reply unless asked or the message never had one."""
    app.refresh_roster()  # once: the roster and the staff decisions do not change during the run
    with session(app.engine) as s:
        overrides = load_overrides(s)
    done = 0
    for message_row_id in ids:
        with session(app.engine) as s:
            row = _campaign_message(s, message_row_id)
            record(s, now, actor, "reprocess", unit=row.unit, message_row_id=row.id, reply=reply)
            s.commit()
        policy = ReplyPolicy.ALWAYS if reply else ReplyPolicy.IF_NEVER_ANSWERED
        app.intake.reprocess(message_row_id, now, overrides, policy, actor)
        done += 1
    return Done("reprocessed", {"count": done})


def mark_done(app: Desk, ref: str, kind: str | None, actor: str, now: datetime, undo: bool = False) -> Done:
    """Staff dealt with this review entry (M12, F40 …; `kind` when the reference has several): it leaves the
    review list; with `undo` it comes back."""
    ref = ref.strip().upper()
    done = marked_done(app.engine)
    tz = app.campaigns[0].timezone if app.campaigns else UTC
    entries = [e for e in review_entries(load_review_rows(app.engine), tz) if e.ref == ref
               and (kind is None or e.kind == kind) and ((e.key in done) == undo)]
    if len(entries) != 1:
        raise StaffError("not_in_review" if not entries else "which_kind", ref=ref,
                         kinds=", ".join(e.kind for e in entries))
    entry = entries[0]
    with session(app.engine) as s:
        action = record(s, now, actor, "done", unit=entry.unit, message_row_id=entry.message, ref=ref,
                        kind=entry.kind, undo=undo)
        keep_decision(s, action, DONE, entry.key, "" if undo else "1", now)
        s.commit()
    return Done("unmarked_done" if undo else "marked_done", {"ref": ref, "kind": entry.kind})


def remind_now(app: Desk, reminders: Reminders, slug: str, actor: str, now: datetime) -> Done:
    """Remind every unit the campaign still waits for, now (Reminders.send_now); recorded as an action."""
    campaign = next((c for c in app.campaigns if c.slug == slug), None)
    if campaign is None:
        raise StaffError("unknown_campaign", slug=slug, known=", ".join(c.slug for c in app.campaigns))
    report = reminders.send_now(campaign, now)
    with session(app.engine) as s:
        record(s, now, actor, "remind-now", campaign=slug, units=report.queued_units)
        s.commit()
    return Done("reminded_now", {"campaign": campaign.name, "units": len(report.queued_units),
                                 "mails": report.mails})


def all_campaign_messages(app: Desk) -> list[int]:
    with session(app.engine) as s:
        return [i for i in s.exec(select(t.MessageRow.id).where(
            t.MessageRow.state.in_([t.STORED, t.FAILED]), t.MessageRow.raw_path.is_not(None))
            .order_by(t.MessageRow.id)).all() if i is not None]


def import_units(app: Desk, path: Path, actor: str, now: datetime) -> Done:
    """Make the roster in `path` the one in force (RosterError when the file is wrong)."""
    roster = load_roster(path)
    with session(app.engine) as s:
        row = import_roster(s, path, now, roster)
        record(s, now, actor, "units-import", file=str(path.name), sha256=row.sha256, units=len(roster.units))
        s.commit()
    app.refresh_roster()
    return Done("units_imported", {"count": len(roster.units), "file": path.name})
