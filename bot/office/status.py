"""The status report of one campaign: every unit's state and every message filed under it, as one JSON-ready
value; and the report of all campaigns with the mail not yet sorted under any.

`unit_report` is the units' part alone (what the digest, the workbook and the reminders read), counted
by the database; `status_report` adds every file and every message (`status --json`, the ZIP export).
Both give each unit the same state, because the second is built on the first. A unit the campaign does not
ask (its `units`) is listed as not required: what it sends is counted, it is not chased.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import Connection, Integer, cast, func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.core.model import CATEGORIES
from bot.core.render.outgoing import reference
from bot.core.roster import Roster
from bot.core.routing import required_in
from bot.core.rules import missing_categories
from bot.core.settings import CampaignConfig
from storage import tables as t
from storage.db import collector_paused, plain, session

_MESSAGE_COLUMNS = ("id", "message_id", "from_addr", "subject", "received_at", "unit", "state", "disposition",
                    "late", "reply_kind", "review", "automatic", "match_how", "campaign", "campaign_reason")
_ITEM_COLUMNS = ("id", "message_row_id", "unit", "filename", "source", "category", "path", "size", "sha256",
                 "counted", "reason")


def _iso(value: datetime | None, tz: tzinfo | None = None) -> str | None:
    """ISO text, in the campaign's time zone when given."""
    if value is None:
        return None
    return value.astimezone(tz).isoformat() if tz is not None else value.isoformat()


def message_status(state: str, disposition: str | None) -> str:
    """What `status` calls a message: its disposition, `duplicate`, or needs_attention when it failed."""
    if state == t.DUPLICATE:
        return "duplicate"
    if state in (t.FAILED, t.CLAIMED):
        return t.NEEDS_ATTENTION
    return disposition or t.NEEDS_ATTENTION


@dataclass
class _Tallies:
    counts: dict[str, dict[str, int]]  # unit → category → counted files
    late: set[str]  # units with a counted file that came late
    problems: dict[str, list[dict[str, Any]]]
    last_mail: dict[str, datetime]  # the unit's latest own mail (not auto-replies, bounces or duplicates)
    messages: int
    unrelated: int
    needs_attention: int


def _tallies(connection: Connection, slug: str | None) -> _Tallies:
    """The counts of the campaign `slug` (None: of the mail not sorted under any)."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {c.value: 0 for c in CATEGORIES})
    late: set[str] = set()
    item = t.ItemRow
    for unit, category, count, any_late in connection.execute(
            select(item.unit, item.category, func.count(), func.max(cast(item.late, Integer)))
            .where(item.unit.is_not(None), item.counted, item.campaign == slug).group_by(item.unit, item.category)):
        counts[unit][category] = count
        if any_late:
            late.add(unit)
    problems: dict[str, list[dict[str, Any]]] = defaultdict(list)
    p = t.ProblemRow
    m = t.MessageRow
    for unit, code, file, text in connection.execute(
            select(p.unit, p.code, p.file, p.text).join(m, m.id == p.message_row_id)
            .where(p.unit.is_not(None), m.campaign == slug).order_by(p.id)):
        problems[unit].append({"code": code, "file": file, "text": text})
    last_mail: dict[str, datetime] = {unit: moment for unit, moment in connection.execute(
        select(m.unit, func.max(m.received_at))
        .where(m.unit.is_not(None), m.received_at.is_not(None), m.state == t.STORED, m.campaign == slug,
               (m.automatic.is_(None)) | (m.automatic == ""))
        .group_by(m.unit))}
    by_status: dict[str, int] = defaultdict(int)
    unrelated = 0
    for state, disposition, campaign, count in connection.execute(
            select(m.state, m.disposition, m.campaign, func.count()).group_by(m.state, m.disposition, m.campaign)):
        if state == t.UNRELATED:
            unrelated += count
        elif campaign == slug:
            by_status[message_status(state, disposition)] += count
    return _Tallies(counts, late, problems, last_mail, sum(by_status.values()), unrelated,
                      by_status[t.NEEDS_ATTENTION])


def _report(facts: _Tallies, roster: Roster, campaign: CampaignConfig,
            files_by_unit: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    units = []
    for unit in roster.units:
        unit_counts = facts.counts[unit.name]
        required = required_in(campaign, unit, roster)
        missing = list(missing_categories(campaign.required, unit_counts, required))
        entry = {
            "name": unit.name, "group": unit.group, "required": required, "exempt": unit.exempt,
            "counts": unit_counts,
            "missing": missing, "complete": not missing, "late": unit.name in facts.late,
            "problems": facts.problems[unit.name],
            "last_received_at": _iso(facts.last_mail.get(unit.name), campaign.timezone),
            "emails": list(unit.emails),
        }
        if files_by_unit is not None:
            entry["files"] = files_by_unit[unit.name]
        units.append(entry)
    return {
        "campaign": {
            "name": campaign.name, "slug": campaign.slug, "notice": campaign.notice, "opens": _iso(campaign.opens),
            "deadline": _iso(campaign.deadline), "closes": _iso(campaign.closes, campaign.timezone),
            "closed": campaign.closed_at is not None, "required": list(campaign.required),
            "units_required": sum(1 for u in units if u["required"]),
            "units_complete": sum(1 for u in units if u["required"] and u["complete"]),
            "messages": facts.messages, "needs_attention": facts.needs_attention, "unrelated_seen": facts.unrelated,
        },
        "units": units,
    }


def unit_report(engine: Engine, roster: Roster, campaign: CampaignConfig) -> dict[str, Any]:
    """`campaign` and `units` of the status report, without the units' file lists."""
    with session(engine) as s:
        return _report(_tallies(s.connection(), campaign.slug), roster, campaign)


def status_all(engine: Engine, roster: Roster, campaigns: tuple[CampaignConfig, ...]) -> dict[str, Any]:
    """`status --json` without --campaign: one campaign's report (with any message no campaign could be chosen
    for); with several, each campaign's report and the messages no campaign was chosen for yet."""
    if len(campaigns) == 1:
        # Mail set aside before it could be read (it killed the process) has no campaign: with one, it is its.
        report = status_report(engine, roster, campaigns[0])
        report["messages"] = sorted([*report["messages"], *unsorted_messages(engine, campaigns[0])],
                                    key=lambda m: m["id"])
        return report
    return {"campaigns": [status_report(engine, roster, c) for c in campaigns],
            "unsorted": unsorted_messages(engine, campaigns[0] if campaigns else None)}


def unsorted_messages(engine: Engine, zone_of: CampaignConfig | None) -> list[dict[str, Any]]:
    """The messages kept with no campaign (staff file them with `intake assign M12 --campaign SLUG`)."""
    with collector_paused(), session(engine) as s:
        return _messages(s, None, zone_of.timezone if zone_of else None, "")


def status_report(engine: Engine, roster: Roster, campaign: CampaignConfig) -> dict[str, Any]:
    with collector_paused(), session(engine) as s:
        facts = _tallies(s.connection(), campaign.slug)
        tz, prefix = campaign.timezone, campaign.reference_prefix
        messages = _messages(s, campaign.slug, tz, prefix)
        files_by_unit: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for message in messages:
            for entry in message["files"]:
                if message["unit"] is not None and entry["path"] is not None:
                    files_by_unit[message["unit"]].append(entry)
        report = _report(facts, roster, campaign, files_by_unit)
        report["messages"] = messages
        ids = {m["id"] for m in messages}
        actions = s.exec(select(t.ActionRow).order_by(t.ActionRow.id)).all()
        report["actions"] = [
            {"id": a.id, "at": _iso(a.at, tz), "actor": a.actor, "command": a.command, "unit": a.unit,
             "message": a.message_row_id, "file": a.item_id, "detail": json.loads(a.detail)}
            for a in actions if a.message_row_id is None or a.message_row_id in ids
        ]
        return report


def _messages(s: Session, slug: str | None, tz: tzinfo | None, prefix: str) -> list[dict[str, Any]]:
    """The messages filed under campaign `slug` (None: not yet sorted), with their files, problems and replies."""
    connection = s.connection()
    m = t.MessageRow
    mine = select(m.id).where(m.campaign == slug, m.state != t.UNRELATED)
    messages = connection.execute(
        plain(t.MessageRow, *_MESSAGE_COLUMNS).where(m.campaign == slug, m.state != t.UNRELATED).order_by(m.id)
    ).all()
    items = connection.execute(plain(t.ItemRow, *_ITEM_COLUMNS).where(t.ItemRow.message_row_id.in_(mine))
                               .order_by(t.ItemRow.id)).all()
    problems = connection.execute(plain(t.ProblemRow).where(t.ProblemRow.message_row_id.in_(mine))
                                  .order_by(t.ProblemRow.id)).all()
    outbox = connection.execute(select(t.OutboxRow.message_row_id, t.OutboxRow.kind, t.OutboxRow.state)
                                .where(t.OutboxRow.message_row_id.in_(mine)).order_by(t.OutboxRow.id)).all()
    bounced = set(s.exec(select(t.OutboxRow.message_row_id).where(t.OutboxRow.bounce_row_id.is_not(None))).all())
    links = s.exec(select(t.LinkRow).where(t.LinkRow.message_row_id.in_(mine)).order_by(t.LinkRow.id)).all()

    sent = {m for m, _kind, state in outbox if state == t.SENT}
    mid_of = {m.id: m.message_id for m in messages}
    replies_by_msg: dict[int, list[dict[str, str]]] = defaultdict(list)
    for message_row_id, kind, state in outbox:
        replies_by_msg[message_row_id].append({"kind": kind, "state": state})
    links_by_msg: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for link in links:
        links_by_msg[link.message_row_id].append({"provider": link.provider, "url": link.url,
                                                  "name": link.filename, "size": link.size,
                                                  "expires": link.expires})
    files_by_msg: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        entry = {"id": item.id, "name": item.filename, "source": item.source, "category": item.category,
                 "path": item.path, "bytes": item.size, "sha256": item.sha256,
                 "message_id": mid_of.get(item.message_row_id),
                 "counted": item.counted, "reason": item.reason}
        files_by_msg[item.message_row_id].append(entry)
    problems_by_msg: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for p in problems:
        problems_by_msg[p.message_row_id].append({"code": p.code, "file": p.file, "text": p.text})
    return [
        {
            "message_id": m.message_id, "from": m.from_addr, "subject": m.subject,
            "received_at": _iso(m.received_at, tz), "unit": m.unit,
            "status": message_status(m.state, m.disposition), "late": m.late,
            "files": files_by_msg[m.id], "problems": problems_by_msg[m.id],
            "replied": m.id in sent, "reply_bounced": m.id in bounced, "links": links_by_msg[m.id],
            "reply": m.reply_kind, "review": m.review.split(",") if m.review else [],
            "automatic": m.automatic, "id": m.id, "reference": reference(prefix, m.id) if prefix else None,
            "match": m.match_how, "replies": replies_by_msg[m.id],
            "campaign": m.campaign, "campaign_reason": m.campaign_reason,
        }
        for m in messages
    ]


def history(engine: Engine, unit: str) -> list[dict[str, Any]]:
    """Everything that happened to the unit, oldest first: mail received, replies sent, staff actions."""
    events: list[dict[str, Any]] = []
    with session(engine) as s:
        messages = s.exec(select(t.MessageRow).where(t.MessageRow.unit == unit)).all()
        ids = [m.id for m in messages]
        for m in messages:
            events.append({"at": m.received_at, "what": "received", "id": m.id, "subject": m.subject,
                           "sender": m.from_addr, "status": m.disposition, "late": m.late})
        for o in s.exec(select(t.OutboxRow).where(t.OutboxRow.message_row_id.in_(ids))).all():
            events.append({"at": o.sent_at or o.created_at, "what": "reply", "state": o.state,
                           "id": o.message_row_id, "kind": o.kind, "to": o.to_addr, "subject": o.subject})
        for r in s.exec(select(t.ReminderRow).where(t.ReminderRow.unit == unit, t.ReminderRow.state == "sent")).all():
            events.append({"at": r.at, "what": "reminder", "kind": r.kind, "slot": r.slot,
                           "missing": [m for m in r.missing.split(",") if m]})
        touched = select(t.ActionRow).where((t.ActionRow.unit == unit) | t.ActionRow.message_row_id.in_(ids))
        for a in s.exec(touched).all():
            events.append({"at": a.at, "what": "action", "command": a.command, "actor": a.actor,
                           "id": a.message_row_id, "file_id": a.item_id, **json.loads(a.detail)})
    return sorted(events, key=lambda e: (e["at"] is None, e["at"] or datetime.min.replace(tzinfo=UTC)))
