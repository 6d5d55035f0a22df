"""The "needs a decision" list: what a person must look at, each entry with a reference staff can act on.

References name the row a decision concerns, by a letter and the row id:
  M<id>  a received message (MessageRow.id; the `id` in `status --json` "messages")
  F<id>  a stored file (ItemRow.id; the `id` in `status --json` files)
  L<id>  a large-file download link (LinkRow.id)
  R<id>  outgoing mail that answered no message (a digest, a reminder: OutboxRow.id)
A reply that failed or bounced is listed under the message it answered (M<id>: what `intake resend`
takes). `intake assign` and `reprocess` take M ids, `intake reclassify` F ids.
The references and the entry value are bot/core/review.py's.

`review_entries` is pure (rows in, entries out); `load_review_rows` is the thin query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from sqlalchemy.engine import Engine
from sqlmodel import or_, select

from bot.core.review import (
    BOUNCED_REPLY,
    CAMPAIGN_ANSWER,
    CAMPAIGN_CLOSED,
    FAILED,
    FILE,
    KINDS,
    LARGE_FILE_LINK,
    LINK,
    MESSAGE,
    PHOTO_COMPRESSED,
    QUESTION,
    REPLY,
    REPLY_LIMIT,
    SEND_FAILED,
    SENDER_AUTH_FAILED,
    UNASSIGNED,
    UNCLASSIFIED_FILE,
    UNREGISTERED_SENDER,
    UNSORTED,
    ReviewEntry,
)
from bot.office.roster_in_force import load_overrides
from storage import tables as t
from storage.db import plain, session

_TRUSTED_MATCHES = ("address", "staff")  # a registered address, or a person's decision


@dataclass(frozen=True)
class ReviewRows:
    messages: Sequence[t.MessageRow]  # campaign messages (stored or failed)
    items: Sequence[t.ItemRow]
    problems: Sequence[t.ProblemRow]
    links: Sequence[t.LinkRow]
    replies: Sequence[t.OutboxRow]  # failed or bounced outgoing mail
    questions: Sequence[t.QuestionRow] = ()  # units' questions not yet marked answered


def _local(value: datetime | None, tz: tzinfo) -> str | None:
    if value is None:
        return None
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
            campaign=message.campaign if message else None,
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
        if "unsorted" in reasons:
            add(ref, UNSORTED, m, detail=m.campaign_reason or "")
        if "campaign-answer" in reasons:
            add(ref, CAMPAIGN_ANSWER, m, detail=m.campaign_reason or "")
        if "campaign-closed" in reasons:
            add(ref, CAMPAIGN_CLOSED, m, detail=m.campaign or "")
        if m.unit is None:
            add(ref, UNASSIGNED, m)
        elif m.match_how not in _TRUSTED_MATCHES:
            add(ref, UNREGISTERED_SENDER, m, detail=m.match_text or "")
        if "reply-limit" in reasons:
            add(ref, REPLY_LIMIT, m)

    for question in rows.questions:
        message = by_id.get(question.message_row_id)
        if message is not None:
            add(f"{MESSAGE}{message.id}", QUESTION, message, detail=question.text)

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
                    "received_at", "error", "campaign", "campaign_reason")
_ITEM_COLUMNS = ("id", "message_row_id", "category", "filename", "source", "reason")


def load_review_rows(engine: Engine) -> ReviewRows:
    """The rows that can need a decision, and only those: the queue's cost follows the queue, not the mailbox."""
    m = t.MessageRow
    with session(engine) as s:
        compressed = select(t.ProblemRow.message_row_id).where(t.ProblemRow.code == PHOTO_COMPRESSED)
        flagged_items = or_(t.ItemRow.category == "other", t.ItemRow.message_row_id.in_(compressed))
        unanswered = select(t.QuestionRow.message_row_id).where(t.QuestionRow.answered_at.is_(None))
        troubled_replies = select(t.OutboxRow.message_row_id).where(
            t.OutboxRow.message_row_id.is_not(None),
            or_(t.OutboxRow.state == t.SEND_FAILED, t.OutboxRow.bounce_row_id.is_not(None)))
        needs_look = or_(m.state == t.FAILED, (m.review.is_not(None)) & (m.review != ""), m.unit.is_(None),
                         m.match_how.is_(None), m.match_how.not_in(_TRUSTED_MATCHES),
                         m.id.in_(select(t.ItemRow.message_row_id).where(flagged_items)),
                         m.id.in_(select(t.LinkRow.message_row_id)), m.id.in_(unanswered),
                         m.id.in_(troubled_replies))
        messages = s.connection().execute(plain(t.MessageRow, *_MESSAGE_COLUMNS)
                                          .where(m.state.in_([t.STORED, t.FAILED]), needs_look).order_by(m.id)).all()
        items = s.connection().execute(plain(t.ItemRow, *_ITEM_COLUMNS)  # only files that can need a decision
                                       .where(flagged_items).order_by(t.ItemRow.id)).all()
        problems = s.exec(select(t.ProblemRow).where(t.ProblemRow.code == PHOTO_COMPRESSED)
                          .order_by(t.ProblemRow.id)).all()
        links = s.exec(select(t.LinkRow).order_by(t.LinkRow.id)).all()
        questions = s.exec(select(t.QuestionRow).where(t.QuestionRow.answered_at.is_(None))
                           .order_by(t.QuestionRow.id)).all()
        replies = s.exec(select(t.OutboxRow)
                         .where(or_(t.OutboxRow.state == t.SEND_FAILED, t.OutboxRow.bounce_row_id.is_not(None)))
                         .order_by(t.OutboxRow.id)).all()
    return ReviewRows(messages, items, problems, links, replies, questions)


ALL = "*"  # review_list: entries of every campaign and of the unsorted mail


def marked_done(engine: Engine) -> frozenset[str]:
    """The keys of the entries staff marked done (and did not take back)."""
    with session(engine) as s:
        return load_overrides(s).done


def review_list(engine: Engine, tz: tzinfo, campaign: str | None = ALL) -> list[ReviewEntry]:
    """What needs a decision, less what staff marked done; with `campaign`, only what concerns that campaign's
    messages (None: the unsorted mail's), outgoing mail that answered no message included."""
    done = marked_done(engine)
    entries = [e for e in review_entries(load_review_rows(engine), tz) if e.key not in done]
    if campaign == ALL:
        return entries
    return [e for e in entries if e.message is None or e.campaign == campaign]
