"""The status report: every unit's state and every campaign message, as one JSON-ready value."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.config import CampaignConfig
from bot.model import CATEGORIES
from bot.roster import Roster
from storage import tables as t
from storage.db import plain, session


def _iso(value: datetime | None, tz: tzinfo | None = None) -> str | None:
    """ISO text in the campaign's time zone; SQLite hands back naive UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(tz).isoformat() if tz is not None else value.isoformat()


def status_report(engine: Engine, roster: Roster, campaign: CampaignConfig) -> dict[str, Any]:
    with session(engine) as s:
        messages = s.connection().execute(
            plain(t.MessageRow).where(t.MessageRow.state != t.UNRELATED).order_by(t.MessageRow.id)
        ).all()
        items = s.connection().execute(plain(t.ItemRow).order_by(t.ItemRow.id)).all()
        problems = s.connection().execute(plain(t.ProblemRow).order_by(t.ProblemRow.id)).all()
        outbox = s.exec(select(t.OutboxRow.message_row_id, t.OutboxRow.kind, t.OutboxRow.state)
                        .where(t.OutboxRow.message_row_id.is_not(None)).order_by(t.OutboxRow.id)).all()
        actions = s.exec(select(t.ActionRow).order_by(t.ActionRow.id)).all()
        sent = {m for m, _kind, state in outbox if state == t.SENT}
        bounced = set(s.exec(select(t.OutboxRow.message_row_id).where(t.OutboxRow.bounce_row_id.is_not(None))).all())
        links = s.exec(select(t.LinkRow).order_by(t.LinkRow.id)).all()
        unrelated = len(s.exec(select(t.MessageRow.id).where(t.MessageRow.state == t.UNRELATED)).all())

    mid_of = {m.id: m.message_id for m in messages}
    replies_by_msg: dict[int, list[dict[str, str]]] = defaultdict(list)
    for message_row_id, kind, state in outbox:
        replies_by_msg[message_row_id].append({"kind": kind, "state": state})
    links_by_msg: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for link in links:
        links_by_msg[link.message_row_id].append({"provider": link.provider, "url": link.url,
                                                  "name": link.filename, "size": link.size, "expires": link.expires})
    files_by_msg: dict[int, list[dict[str, Any]]] = defaultdict(list)
    files_by_unit: dict[str, list[dict[str, Any]]] = defaultdict(list)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {c.value: 0 for c in CATEGORIES})
    late_units: set[str] = set()
    for item in items:
        entry = {"id": item.id, "name": item.filename, "source": item.source, "category": item.category,
                 "path": item.path, "bytes": item.size, "sha256": item.sha256,
                 "message_id": mid_of.get(item.message_row_id),
                 "counted": item.counted, "reason": item.reason}
        files_by_msg[item.message_row_id].append(entry)
        if item.unit is not None and item.path is not None:
            files_by_unit[item.unit].append(entry)
        if item.unit is not None and item.counted:
            counts[item.unit][item.category] += 1
            if item.late:
                late_units.add(item.unit)
    problems_by_msg: dict[int, list[dict[str, Any]]] = defaultdict(list)
    problems_by_unit: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in problems:
        entry = {"code": p.code, "file": p.file, "text": p.text}
        problems_by_msg[p.message_row_id].append(entry)
        if p.unit is not None:
            problems_by_unit[p.unit].append(entry)

    last_mail: dict[str, datetime] = {}
    for m in messages:  # the unit's latest own mail (not auto-replies, bounces or duplicates)
        if m.unit is not None and m.received_at is not None and m.state == t.STORED and not m.automatic:
            last_mail[m.unit] = max(last_mail.get(m.unit, m.received_at), m.received_at)

    units = []
    for unit in roster.units:
        unit_counts = counts[unit.name]
        missing = [c for c in campaign.required if unit.required and not unit_counts.get(c)]
        units.append({
            "name": unit.name, "group": unit.group, "required": unit.required, "exempt": unit.exempt,
            "counts": unit_counts,
            "missing": missing, "complete": not missing, "late": unit.name in late_units,
            "files": files_by_unit[unit.name], "problems": problems_by_unit[unit.name],
            "last_received_at": _iso(last_mail.get(unit.name), campaign.timezone),
            "emails": list(unit.emails),
        })
    return {
        "campaign": {
            "name": campaign.name, "slug": campaign.slug, "opens": _iso(campaign.opens),
            "deadline": _iso(campaign.deadline), "required": list(campaign.required),
            "units_required": sum(1 for u in roster.units if u.required),
            "units_complete": sum(1 for u in units if u["required"] and u["complete"]),
            "messages": len(messages), "unrelated_seen": unrelated,
        },
        "units": units,
        "messages": [
            {
                "message_id": m.message_id, "from": m.from_addr, "subject": m.subject,
                "received_at": _iso(m.received_at, campaign.timezone), "unit": m.unit, "status": _status(m),
                "late": m.late,
                "files": files_by_msg[m.id or 0], "problems": problems_by_msg[m.id or 0],
                "replied": m.id in sent, "reply_bounced": m.id in bounced, "links": links_by_msg[m.id or 0],
                "reply": m.reply_kind, "review": (m.review or "").split(",") if m.review else [],
                "automatic": m.automatic, "id": m.id, "reference": f"{campaign.reference_prefix}-{m.id or 0:04d}",
                "match": m.match_how, "replies": replies_by_msg[m.id or 0],
            }
            for m in messages
        ],
        "actions": [
            {"id": a.id, "at": _iso(a.at, campaign.timezone), "actor": a.actor, "command": a.command, "unit": a.unit,
             "message": a.message_row_id, "file": a.item_id, "detail": json.loads(a.detail)}
            for a in actions
        ],
    }


def _status(m: t.MessageRow) -> str:
    if m.state == t.DUPLICATE:
        return "duplicate"
    if m.state in (t.FAILED, t.CLAIMED):
        return t.NEEDS_ATTENTION
    return m.disposition or t.NEEDS_ATTENTION
