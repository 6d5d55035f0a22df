"""What the staff console reads beyond the reports: one unit's files in a campaign, one mail with everything
that became of it, one stored file. Each is one or a few indexed queries, so a page stays fast at 10,000
mails; the values are plain dicts the templates show (every text in them is the sender's data)."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from datetime import datetime, tzinfo
from email.message import EmailMessage
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.office.status import message_status
from storage import tables as t
from storage.db import session


@dataclass(frozen=True)
class StoredFile:
    """A file the console may hand out: where it is in the data folder, and the name to give it."""

    path: str  # relative to the data folder
    name: str
    kind: str
    sha256: str
    size: int


def _local(value: datetime | None, tz: tzinfo) -> datetime | None:
    return value.astimezone(tz) if value is not None else None


def unit_files(engine: Engine, slug: str, unit: str, tz: tzinfo) -> list[dict[str, Any]]:
    """The unit's files filed under the campaign, newest mail first, each with its mail's subject and time."""
    i, m = t.ItemRow, t.MessageRow
    with session(engine) as s:
        rows = s.exec(select(i, m.subject, m.received_at, m.from_addr).join(m, m.id == i.message_row_id)
                      .where(i.unit == unit, i.campaign == slug).order_by(m.received_at.desc(), i.id)).all()
    return [{"id": item.id, "name": item.filename, "source": item.source, "category": item.category,
             "reason": item.reason, "size": item.size, "kind": item.kind, "counted": item.counted,
             "already_stored": item.already_stored, "late": item.late, "width": item.width, "height": item.height,
             "has_exif": item.has_exif, "title": item.title, "stored": item.path is not None, "path": item.path,
             "message": item.message_row_id, "subject": subject or "", "received_at": _local(received_at, tz),
             "sender": sender or ""}
            for item, subject, received_at, sender in rows]


def unit_messages(engine: Engine, unit: str, tz: tzinfo) -> list[dict[str, Any]]:
    """Every mail of the unit, in any campaign or none, newest first."""
    m = t.MessageRow
    with session(engine) as s:
        rows = s.exec(select(m).where(m.unit == unit, m.state != t.UNRELATED).order_by(m.id.desc())).all()
    return [_message_fields(row, tz) for row in rows]


def _message_fields(row: t.MessageRow, tz: tzinfo) -> dict[str, Any]:
    return {"id": row.id, "subject": row.subject or "", "from": row.from_addr or "", "from_name": row.from_name or "",
            "received_at": _local(row.received_at, tz), "unit": row.unit, "campaign": row.campaign,
            "campaign_reason": row.campaign_reason, "status": message_status(row.state, row.disposition),
            "state": row.state, "match_how": row.match_how, "match_text": row.match_text, "late": row.late,
            "reply_kind": row.reply_kind, "automatic": row.automatic, "error": row.error,
            "review": [r for r in (row.review or "").split(",") if r], "raw_stored": row.raw_path is not None,
            "raw_size": row.raw_size, "folder": row.folder}


def mail_detail(engine: Engine, message_row_id: int, tz: tzinfo) -> dict[str, Any] | None:
    """One mail as staff look into it: its facts, each file, its problems and links, the question it asked,
    every reply exactly as sent with its delivery state. None when there is no such campaign mail."""
    with session(engine) as s:
        row = s.get(t.MessageRow, message_row_id)
        if row is None or row.state == t.UNRELATED:
            return None
        items = s.exec(select(t.ItemRow).where(t.ItemRow.message_row_id == row.id).order_by(t.ItemRow.id)).all()
        problems = s.exec(select(t.ProblemRow).where(t.ProblemRow.message_row_id == row.id)
                          .order_by(t.ProblemRow.id)).all()
        links = s.exec(select(t.LinkRow).where(t.LinkRow.message_row_id == row.id).order_by(t.LinkRow.id)).all()
        question = s.exec(select(t.QuestionRow).where(t.QuestionRow.message_row_id == row.id)).first()
        replies = s.exec(select(t.OutboxRow).where(t.OutboxRow.message_row_id == row.id)
                         .order_by(t.OutboxRow.id)).all()
        detail = _message_fields(row, tz)
        detail["files"] = [{"id": i.id, "name": i.filename, "source": i.source, "category": i.category,
                            "reason": i.reason, "size": i.size, "kind": i.kind, "counted": i.counted,
                            "already_stored": i.already_stored, "stored": i.path is not None, "late": i.late}
                           for i in items]
        detail["problems"] = [{"code": p.code, "file": p.file, "text": p.text} for p in problems]
        detail["links"] = [{"provider": k.provider, "url": k.url, "name": k.filename, "size": k.size,
                            "expires": k.expires} for k in links]
        detail["question"] = None if question is None else {
            "text": question.text, "answered_at": _local(question.answered_at, tz),
            "answered_by": question.answered_by}
        detail["replies"] = [{"id": o.id, "kind": o.kind, "to": o.to_addr, "subject": o.subject, "state": o.state,
                              "attempts": o.attempts, "last_error": o.last_error,
                              "created_at": _local(o.created_at, tz), "sent_at": _local(o.sent_at, tz),
                              "bounced": o.bounce_row_id is not None, "text": reply_text(o.raw)}
                             for o in replies]
        return detail


def reply_text(raw: bytes) -> str:
    """The plain-text body of a mail we sent, as the recipient reads it."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(preferencelist=("plain",))
    if body is None:
        return ""
    content = body.get_content()
    return content if isinstance(content, str) else ""


def stored_file(engine: Engine, item_id: int) -> StoredFile | None:
    with session(engine) as s:
        item = s.get(t.ItemRow, item_id)
    if item is None or item.path is None:
        return None
    return StoredFile(item.path, item.filename, item.kind, item.sha256, item.size)


def raw_mail(engine: Engine, message_row_id: int) -> StoredFile | None:
    """The archived original of a campaign mail."""
    with session(engine) as s:
        row = s.get(t.MessageRow, message_row_id)
    if row is None or row.raw_path is None or row.state == t.UNRELATED:
        return None
    return StoredFile(row.raw_path, f"M{row.id}.eml", "eml", row.raw_sha256 or "", row.raw_size or 0)
