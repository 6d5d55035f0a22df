"""The "needs a decision" list: what a person must look at, each entry with a reference staff can act on.

References name the row a decision concerns, by a letter and the row id:
  M<id>  a received message (MessageRow.id; the `id` in `status --json` "messages")
  F<id>  a stored file (ItemRow.id; the `id` in `status --json` files)
  L<id>  a large-file download link (LinkRow.id)
  R<id>  outgoing mail that answered no message (a digest, a reminder: OutboxRow.id)
A reply that failed or bounced is listed under the message it answered (M<id>: what `intake resend`
takes). `intake assign` and `reprocess` take M ids, `intake reclassify` F ids.
`parse_ref("M12")` gives ("M", 12); a plain number is read as a message.

`review_entries` is pure (rows in, entries out); `load_review_rows` is the thin query.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import or_, select

from storage import tables as t
from storage.db import plain, session

MESSAGE, FILE, LINK, REPLY = "M", "F", "L", "R"

# Entry kinds, in the order staff see them (most urgent first). Their Chinese labels are in the
# message catalogue, section [review_kinds].
FAILED = "failed"  # processing raised: kept with its traceback
SEND_FAILED = "send_failed"  # a reply the SMTP server refused for good
BOUNCED_REPLY = "bounced_reply"  # a reply that came back as a bounce
SENDER_AUTH_FAILED = "sender_auth_failed"  # a registered address failing DMARC/SPF: nothing counted
UNASSIGNED = "unassigned"  # campaign mail no unit could be found for
UNREGISTERED_SENDER = "unregistered_sender"  # unit found by name, not by a registered address
REPLY_LIMIT = "reply_limit"  # no reply sent: too many to that address or thread
UNCLASSIFIED_FILE = "unclassified_file"  # category "other"
PHOTO_COMPRESSED = "photo_compressed"  # looks like a WeChat/QQ copy
LARGE_FILE_LINK = "large_file_link"  # 超大附件: the file itself was not received
KINDS = (FAILED, SEND_FAILED, BOUNCED_REPLY, SENDER_AUTH_FAILED, UNASSIGNED, UNREGISTERED_SENDER, REPLY_LIMIT,
         UNCLASSIFIED_FILE, PHOTO_COMPRESSED, LARGE_FILE_LINK)

_TRUSTED_MATCHES = ("address", "staff")  # a registered address, or a person's decision
_REF = re.compile(r"\s*([MFLRmflr]?)(\d+)\s*")


@dataclass(frozen=True)
class ReviewEntry:
    ref: str  # "M12", "F31", "L2", "R7"
    kind: str  # one of KINDS
    message: int | None  # the message row it came from
    unit: str | None
    sender: str  # the mail address of the message (or the reply's recipient)
    subject: str
    received_at: str | None  # ISO, campaign time zone
    file: str  # the file or link name it concerns, "" for a whole message
    detail: str  # what the row says: the error, the problem text, the link, the match

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ReviewRows:
    messages: Sequence[t.MessageRow]  # campaign messages (stored or failed)
    items: Sequence[t.ItemRow]
    problems: Sequence[t.ProblemRow]
    links: Sequence[t.LinkRow]
    replies: Sequence[t.OutboxRow]  # failed or bounced outgoing mail


def parse_ref(text: str) -> tuple[str, int]:
    """("M", 12) from "M12", "m12" or "12"; ValueError otherwise."""
    match = _REF.fullmatch(text)
    if match is None:
        raise ValueError(f"not a review reference: {text!r} (e.g. M12, F31, L2, R7)")
    return (match.group(1).upper() or MESSAGE), int(match.group(2))


def _local(value: datetime | None, tz: tzinfo) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(tz).isoformat()


def _last_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def review_entries(rows: ReviewRows, tz: tzinfo) -> list[ReviewEntry]:
    """Every open question, most urgent kind first, then by row id."""
    by_id = {m.id: m for m in rows.messages}
    entries: list[ReviewEntry] = []

    def add(ref: str, kind: str, message: t.MessageRow | None, file: str = "", detail: str = "",
            sender: str | None = None) -> None:
        entries.append(ReviewEntry(
            ref=ref, kind=kind, message=message.id if message else None, unit=message.unit if message else None,
            sender=sender if sender is not None else (message.from_addr or "" if message else ""),
            subject=(message.subject or "") if message else "",
            received_at=_local(message.received_at, tz) if message else None, file=file, detail=detail,
        ))

    for m in rows.messages:
        reasons = set((m.review or "").split(",")) - {""}
        ref = f"{MESSAGE}{m.id}"
        if m.state == t.FAILED:
            add(ref, FAILED, m, detail=_last_line(m.error))
            continue
        if m.state != t.STORED or m.automatic:
            continue  # auto-replies and bounces need no decision of their own (bounced replies do, below)
        if "sender-auth-failed" in reasons:
            add(ref, SENDER_AUTH_FAILED, m)
        if m.unit is None:
            add(ref, UNASSIGNED, m)
        elif m.match_how not in _TRUSTED_MATCHES:
            add(ref, UNREGISTERED_SENDER, m, detail=m.match_text or "")
        if "reply-limit" in reasons:
            add(ref, REPLY_LIMIT, m)

    for reply in rows.replies:
        message = by_id.get(reply.message_row_id)
        ref = f"{MESSAGE}{message.id}" if message is not None else f"{REPLY}{reply.id}"
        if reply.state == t.SEND_FAILED:
            add(ref, SEND_FAILED, message, detail=reply.last_error or "", sender=reply.to_addr)
        if reply.bounce_row_id is not None:
            add(ref, BOUNCED_REPLY, message, detail=f"{MESSAGE}{reply.bounce_row_id}", sender=reply.to_addr)

    for item in rows.items:
        message = by_id.get(item.message_row_id)
        if message is not None and item.category == "other":
            add(f"{FILE}{item.id}", UNCLASSIFIED_FILE, message, file=item.source or item.filename,
                detail=item.reason)

    item_by_name: dict[tuple[int, str], t.ItemRow] = {}
    for item in reversed(rows.items):  # the first item of that name wins
        item_by_name[(item.message_row_id, item.filename)] = item
        item_by_name[(item.message_row_id, item.source or item.filename)] = item
    for problem in rows.problems:
        message = by_id.get(problem.message_row_id)
        if message is None or problem.code != PHOTO_COMPRESSED:
            continue
        item = item_by_name.get((problem.message_row_id, problem.file or ""))
        ref = f"{FILE}{item.id}" if item is not None else f"{MESSAGE}{message.id}"
        add(ref, PHOTO_COMPRESSED, message, file=problem.file or "", detail=problem.text)

    for link in rows.links:
        message = by_id.get(link.message_row_id)
        if message is not None:
            size = f" ({link.size})" if link.size else ""
            add(f"{LINK}{link.id}", LARGE_FILE_LINK, message, file=f"{link.filename}{size}", detail=link.url)

    order = {kind: n for n, kind in enumerate(KINDS)}
    return sorted(entries, key=lambda e: (order[e.kind], e.message is None, e.message or 0, e.ref[0], int(e.ref[1:])))


_MESSAGE_COLUMNS = ("id", "state", "review", "automatic", "unit", "match_how", "match_text", "from_addr", "subject",
                    "received_at", "error")
_ITEM_COLUMNS = ("id", "message_row_id", "category", "filename", "source", "reason")


def load_review_rows(engine: Engine) -> ReviewRows:
    with session(engine) as s:
        messages = s.connection().execute(plain(t.MessageRow, *_MESSAGE_COLUMNS)
                          .where(t.MessageRow.state.in_([t.STORED, t.FAILED])).order_by(t.MessageRow.id)).all()
        compressed = select(t.ProblemRow.message_row_id).where(t.ProblemRow.code == PHOTO_COMPRESSED)
        items = s.connection().execute(plain(t.ItemRow, *_ITEM_COLUMNS)  # only files that can need a decision
                       .where(or_(t.ItemRow.category == "other", t.ItemRow.message_row_id.in_(compressed)))
                       .order_by(t.ItemRow.id)).all()
        problems = s.exec(select(t.ProblemRow).where(t.ProblemRow.code == PHOTO_COMPRESSED)
                          .order_by(t.ProblemRow.id)).all()
        links = s.exec(select(t.LinkRow).order_by(t.LinkRow.id)).all()
        replies = s.exec(select(t.OutboxRow)
                         .where(or_(t.OutboxRow.state == t.SEND_FAILED, t.OutboxRow.bounce_row_id.is_not(None)))
                         .order_by(t.OutboxRow.id)).all()
    return ReviewRows(messages, items, problems, links, replies)


def review_list(engine: Engine, tz: tzinfo) -> list[ReviewEntry]:
    return review_entries(load_review_rows(engine), tz)
