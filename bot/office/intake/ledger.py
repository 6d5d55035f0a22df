"""The ledger: one row per message seen, claimed before any work, and the mailbox cursor beside it.

A row moves claimed → stored (or unrelated, duplicate, failed). The cursor of an IMAP folder advances in
the transaction that ends a message's row, so a run killed before that commit sees the message again and
finds its claimed row (its attempt is counted), and a run killed after it never reads the message again.
"""

from __future__ import annotations

import email.parser
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from bot.core.mail.parse import parse_mail
from bot.core.model import Mail
from bot.core.pipeline import Analysis
from storage import tables as t
from storage.files import FileStore

HEAD_LIMIT = 1024 * 1024  # the header block is looked for in the first MiB


@dataclass(frozen=True)
class Source:
    """Where a message came from: a position in an IMAP folder (`in_mailbox`), or an imported file."""

    folder: str
    uidvalidity: int = 0
    uid: int | None = None
    in_mailbox: bool = False  # an IMAP folder: its cursor advances with the message


@dataclass(frozen=True)
class Result:
    row_id: int
    state: str  # stored | unrelated | duplicate | failed
    campaign: bool  # campaign mail (or set aside for staff): mark it on the server
    reply_kind: str | None = None


def ledger_key(message_id: str | None, raw: bytes) -> str:
    """The second key of the ledger: the Message-ID, or the raw bytes when there is none."""
    if message_id and message_id.strip():
        return hashlib.sha256(b"mid:" + message_id.strip().lower().encode("utf-8", "replace")).hexdigest()
    return hashlib.sha256(raw).hexdigest()


def header_block(raw: bytes) -> bytes:
    """The message's headers alone (what a claim may look at before the message is analysed)."""
    return raw[:HEAD_LIMIT].split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0] + b"\r\n\r\n"


def header_message_id(head: bytes) -> str | None:
    """The Message-ID of a header block, without angle brackets, as the parser gives it."""
    value = email.parser.BytesHeaderParser().parsebytes(head).get("Message-ID")
    if value is None:
        return None
    text = str(value).strip()
    angled = re.search(r"<([^<>]*)>", text)
    return (angled.group(1) if angled else text).strip() or None


def result_of(row: t.MessageRow) -> Result:
    return Result(row.id or 0, row.state, row.state != t.UNRELATED, row.reply_kind)


def find(s: Session, source: Source) -> t.MessageRow | None:
    if source.uid is None:
        return None
    return s.exec(select(t.MessageRow).where(
        t.MessageRow.folder == source.folder, t.MessageRow.uidvalidity == source.uidvalidity,
        t.MessageRow.uid == source.uid,
    )).first()


def claim(s: Session, source: Source, key: str, now: datetime) -> t.MessageRow:
    """The row for a message not yet analysed: where it is and its key, nothing of its content."""
    row = t.MessageRow(folder=source.folder, uidvalidity=source.uidvalidity, uid=source.uid, key=key,
                       state=t.CLAIMED, attempts=1, created_at=now, updated_at=now)
    s.add(row)
    s.commit()
    return row


def earlier_campaign_row(s: Session, key: str, row_id: int) -> t.MessageRow | None:
    """The first campaign message with this key before `row_id`: this one is then a duplicate delivery."""
    return s.exec(select(t.MessageRow)
                  .where(t.MessageRow.key == key, t.MessageRow.id < row_id,
                         t.MessageRow.state.in_([t.CLAIMED, t.STORED, t.FAILED]))
                  .order_by(t.MessageRow.id)).first()


def describe(row: t.MessageRow, mail: Mail, received_at: datetime) -> None:
    """Content facts of campaign mail (unrelated mail keeps none)."""
    row.message_id = mail.message_id
    row.from_addr = mail.from_addr
    row.from_name = mail.from_name
    row.subject = mail.subject
    row.received_at = received_at


def describe_match(row: t.MessageRow, analysis: Analysis) -> None:
    describe(row, analysis.mail, analysis.received_at)
    row.unit = analysis.match.unit
    row.campaign = analysis.route.slug
    row.campaign_reason = analysis.route.reason
    row.match_how = analysis.match.how
    row.match_text = analysis.match.matched
    row.automatic = analysis.automatic


def archive(row: t.MessageRow, raw: bytes, store: FileStore) -> None:
    row.raw_path = store.archive_raw(raw)
    row.raw_sha256 = hashlib.sha256(raw).hexdigest()
    row.raw_size = len(raw)


def advance_cursor(s: Session, source: Source) -> None:
    """In the caller's transaction: the folder's cursor passes this message."""
    if not source.in_mailbox or source.uid is None:
        return
    save_cursor(s, source.folder, source.uidvalidity, source.uid)


def save_cursor(s: Session, folder: str, uidvalidity: int, last_uid: int) -> None:
    """The cursor of `folder` at `last_uid` (never backwards within one UIDVALIDITY); not committed."""
    row = s.get(t.CursorRow, folder)
    if row is None:
        row = t.CursorRow(folder=folder, uidvalidity=uidvalidity, last_uid=last_uid)
    else:
        keep = row.last_uid if row.uidvalidity == uidvalidity else 0
        row.uidvalidity, row.last_uid = uidvalidity, max(last_uid, keep)
    s.add(row)


def finish(s: Session, row: t.MessageRow, source: Source, now: datetime) -> Result:
    """Commit the row's final state and move the folder's cursor past it, in one transaction."""
    row.updated_at = now
    s.add(row)
    advance_cursor(s, source)
    s.commit()
    return result_of(row)


def record_unrelated(s: Session, row: t.MessageRow, source: Source, now: datetime) -> Result:
    """Not campaign mail: the row keeps only the fact that it was seen."""
    row.state = t.UNRELATED
    return finish(s, row, source, now)


def record_duplicate(s: Session, row: t.MessageRow, source: Source, analysis: Analysis, raw: bytes,
                     original: t.MessageRow, store: FileStore, now: datetime) -> Result:
    describe_match(row, analysis)
    archive(row, raw, store)
    row.state = t.DUPLICATE
    row.disposition = "duplicate"
    row.duplicate_of = original.id
    return finish(s, row, source, now)


def set_aside(s: Session, row: t.MessageRow, source: Source, raw: bytes, received_at: datetime, store: FileStore,
              error: str, now: datetime) -> Result:
    """A message that could not be analysed (it raised, or its processing was interrupted
    `limits.max_attempts` times): failed, for staff. Its raw bytes are archived and its headers describe it,
    so a person can find it, and `intake reprocess` can try again after a fix."""
    if row.from_addr is None and row.subject is None:
        head = parse_mail(header_block(raw))
        describe(row, head, received_at)
    if row.raw_path is None:
        archive(row, raw, store)
    return fail(s, row, source, error, now)


def fail(s: Session, row: t.MessageRow, source: Source, error: str, now: datetime) -> Result:
    row.state = t.FAILED
    row.disposition = t.NEEDS_ATTENTION
    row.review = "failed"
    row.error = error
    return finish(s, row, source, now)
