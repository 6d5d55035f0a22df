"""The ledger: one row per message seen, claimed before any work, and the mailbox cursor beside it.

A row moves claimed → stored (or unrelated, duplicate, failed). A claim names its worker and holds until
`lease_until`: several workers on one database server insert the row for a message (the unique source
decides who has it) or take over a claim whose lease has run out; a worker alone on a SQLite data folder
(its lock) takes over every claimed row at once, since only a killed run can have left it. The transaction
that ends a claim checks it still holds it, so a message is finished once however many workers tried.

The cursor of an IMAP folder advances in that transaction, never past a message still claimed: a run
killed before that commit leaves its claim above the cursor, where the next poll finds it (its attempt is
counted), and a run killed after it never reads the message again.
"""

from __future__ import annotations

import email.parser
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any

from sqlalchemy import bindparam, case, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from bot.core.mail.parse import parse_mail
from bot.core.model import Mail
from bot.core.pipeline import Analysis
from storage import tables as t
from storage.files import RawWrite

HEAD_LIMIT = 1024 * 1024  # the header block is looked for in the first MiB


@dataclass(frozen=True)
class Source:
    """Where a message came from: a position in an IMAP folder (`in_mailbox`), or an imported file."""

    folder: str
    uidvalidity: int = 0
    uid: int | None = None
    in_mailbox: bool = False  # an IMAP folder: its cursor advances with the message


@dataclass(frozen=True)
class Claimant:
    """Who claims ledger rows: this process's name, how long its claims hold, and whether it works alone
    (the data folder's lock held: every claimed row it finds is then a dead run's)."""

    name: str
    lease: timedelta
    alone: bool = True


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
    found = s.connection().execute(_FIND, {"folder": source.folder, "uidvalidity": source.uidvalidity,
                                           "uid": source.uid}).scalar()
    return None if found is None else s.get(t.MessageRow, found)  # usually none: a new message


def provisional_key(source: Source) -> str:
    """The key of a claim taken before the message's bytes are known (it has no Message-ID)."""
    return hashlib.sha256(f"uid:{source.folder}:{source.uidvalidity}:{source.uid}".encode()).hexdigest()


def claim(s: Session, source: Source, key: str, now: datetime, who: Claimant, started: bool = True,
          ) -> t.MessageRow | None:
    """The row for a message not yet analysed: where it is and its key, nothing of its content; None when
    another worker inserted the row first. `started`: its work begins now, and the attempt is counted here
    (else by `start`, when a claim taken ahead comes to its turn)."""
    row = t.MessageRow(folder=source.folder, uidvalidity=source.uidvalidity, uid=source.uid, key=key,
                       state=t.CLAIMED, attempts=int(started), created_at=now, updated_at=now, worker=who.name,
                       lease_until=now + who.lease)
    s.add(row)
    try:
        s.commit()
    except IntegrityError:  # the unique source: another worker claimed it between our look and our insert
        s.rollback()
        return None
    return row


def take_over(s: Session, row: t.MessageRow, now: datetime, who: Claimant, started: bool = True) -> bool:
    """Take a claimed row whose worker is gone: at once when working alone, else once its lease has run
    out. One conditional update, so of several workers trying at once exactly one succeeds; with `started`,
    the attempt is counted (as in `claim`)."""
    condition = [t.MessageRow.id == row.id, t.MessageRow.state == t.CLAIMED]
    if not who.alone:
        condition.append(col(t.MessageRow.lease_until).is_(None) | (col(t.MessageRow.lease_until) < now))
    done = s.exec(update(t.MessageRow).where(*condition).values(  # type: ignore[call-overload]
        attempts=t.MessageRow.attempts + int(started), worker=who.name, lease_until=now + who.lease, updated_at=now))
    s.commit()
    if done.rowcount != 1:
        return False
    s.refresh(row)
    return True


def holds(s: Session, row: t.MessageRow, who: Claimant | None) -> bool:
    """In the transaction that ends a claim: whether this worker still holds it (nobody took it over). The
    row stays locked to the end of the transaction, so a takeover waits and then finds it done."""
    if who is None or who.alone:
        return True
    with s.no_autoflush:
        done = s.exec(update(t.MessageRow).where(  # type: ignore[call-overload]
            t.MessageRow.id == row.id, t.MessageRow.worker == who.name).values(lease_until=None))
    return bool(done.rowcount == 1)


def abandon(s: Session, row: t.MessageRow, who: Claimant) -> None:
    """Drop a claim whose message is gone from the server before it was read."""
    s.connection().execute(t.MESSAGE.delete().where(
        t.MESSAGE.c.id == row.id, t.MESSAGE.c.state == t.CLAIMED, t.MESSAGE.c.worker == who.name))
    s.commit()


def start(s: Session, row: t.MessageRow, now: datetime, who: Claimant) -> None:
    """A claim taken ahead of its turn (bot/office/poll.py) comes to it: count the attempt, committed before its
    bytes are judged, and renew the lease. A message that kills the process while it is worked on is set aside
    after `limits.max_attempts` tries; a crash in the message before it costs this one nothing. Raises
    LostClaim when another worker took the claim over meanwhile."""
    lease_until = now + who.lease
    done = s.connection().execute(_START, {"row_id": row.id, "claimant": who.name, "lease": lease_until,
                                           "now": now})
    if done.rowcount != 1:
        s.rollback()
        raise LostClaim(f"message {row.id} was taken over by another worker before its work began")
    s.commit()
    # What the statement wrote, told to the row without reading it back (nobody else writes a claim we hold).
    for name, value in (("attempts", row.attempts + 1), ("lease_until", lease_until), ("updated_at", now)):
        set_committed_value(row, name, value)


def give_back(s: Session, row: t.MessageRow, who: Claimant, counted: bool = False) -> None:
    """Return a claim never worked on (taken ahead and the poll stopped before its turn, or its bytes never
    arrived): its attempt uncounted when the claim `counted` it, a row never worked on removed, any other left
    free to take at once."""
    attempts = row.attempts - int(counted)
    if attempts <= 0:
        abandon(s, row, who)
        return
    s.exec(update(t.MessageRow).where(  # type: ignore[call-overload]
        t.MessageRow.id == row.id, t.MessageRow.state == t.CLAIMED, t.MessageRow.worker == who.name,
    ).values(lease_until=None, attempts=attempts))
    s.commit()


def earlier_campaign_row(s: Session, key: str, row_id: int) -> t.MessageRow | None:
    """The first campaign message with this key before `row_id`: this one is then a duplicate delivery."""
    found = s.connection().execute(_EARLIER, {"key": key, "row_id": row_id}).scalar()
    return None if found is None else s.get(t.MessageRow, found)  # usually none: a first delivery


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


def archive(row: t.MessageRow, raw: bytes, written: RawWrite) -> None:
    """The raw message kept in the archive (bot/office/intake/shell.py started writing it) and named in its row."""
    row.raw_path, row.raw_sha256 = written.keep()
    row.raw_size = len(raw)


def advance_cursor(s: Session, source: Source) -> None:
    """In the caller's transaction: the folder's cursor passes every message seen, up to the first one
    another worker still holds."""
    if not source.in_mailbox or source.uid is None:
        return
    s.flush()
    seen, held = s.connection().execute(_SEEN_AND_HELD, {"folder": source.folder,
                                                        "uidvalidity": source.uidvalidity}).one()
    _move_cursor(s, source.folder, source.uidvalidity, max(seen or 0, source.uid), held)


def save_cursor(s: Session, folder: str, uidvalidity: int, last_uid: int) -> None:
    """The cursor of `folder` up to `last_uid` but below any message still claimed there, never backwards
    within one UIDVALIDITY; not committed."""
    s.flush()
    held = s.exec(select(func.min(t.MessageRow.uid)).where(
        t.MessageRow.folder == folder, t.MessageRow.uidvalidity == uidvalidity,
        t.MessageRow.state == t.CLAIMED)).one()
    _move_cursor(s, folder, uidvalidity, last_uid, held)


def _move_cursor(s: Session, folder: str, uidvalidity: int, last_uid: int, held: int | None) -> None:
    """One statement, atomic in the database, so workers finishing at once keep the highest: the cursor row
    made, or moved up to `last_uid` (below `held`, the first message still claimed), or reset to it under a
    new UIDVALIDITY."""
    if held is not None:
        last_uid = min(last_uid, held - 1)
    statement = _MOVE_CURSOR["postgresql" if s.get_bind().dialect.name == "postgresql" else "sqlite"]
    s.connection().execute(statement, {"b_folder": folder, "b_uidvalidity": uidvalidity, "b_last_uid": last_uid,
                                       "b_at_least_0": max(last_uid, 0)})


class LostClaim(RuntimeError):
    """Another worker took the message over (this one outlived its lease): its work is rolled back."""


def finish(s: Session, row: t.MessageRow, source: Source, now: datetime, who: Claimant | None = None) -> Result:
    """Commit the row's final state and move the folder's cursor past it, in one transaction; with `who`,
    only while that worker still holds the claim (else roll back and raise LostClaim)."""
    if not holds(s, row, who):
        s.rollback()
        raise LostClaim(f"message {row.id} was taken over by another worker")
    row.updated_at = now
    row.lease_until = None
    s.add(row)
    advance_cursor(s, source)
    s.commit()
    return result_of(row)


def record_unrelated(s: Session, row: t.MessageRow, source: Source, now: datetime,
                     who: Claimant | None = None) -> Result:
    """Not campaign mail: the row keeps only the fact that it was seen."""
    row.state = t.UNRELATED
    return finish(s, row, source, now, who)


def record_duplicate(s: Session, row: t.MessageRow, source: Source, analysis: Analysis, raw: bytes,
                     original: t.MessageRow, written: RawWrite, now: datetime, who: Claimant | None = None) -> Result:
    describe_match(row, analysis)
    archive(row, raw, written)
    row.state = t.DUPLICATE
    row.disposition = "duplicate"
    row.duplicate_of = original.id
    return finish(s, row, source, now, who)


def set_aside(s: Session, row: t.MessageRow, source: Source, raw: bytes, received_at: datetime, written: RawWrite,
              error: str, now: datetime, who: Claimant | None = None) -> Result:
    """A message that could not be analysed (it raised, or its processing was interrupted
    `limits.max_attempts` times): failed, for staff. Its raw bytes are archived and its headers describe it,
    so a person can find it, and `intake reprocess` can try again after a fix."""
    if row.from_addr is None and row.subject is None:
        head = parse_mail(header_block(raw))
        describe(row, head, received_at)
    if row.raw_path is None:
        archive(row, raw, written)
    return fail(s, row, source, error, now, who)


def fail(s: Session, row: t.MessageRow, source: Source, error: str, now: datetime,
         who: Claimant | None = None) -> Result:
    row.state = t.FAILED
    row.disposition = t.NEEDS_ATTENTION
    row.review = "failed"
    row.error = error
    return finish(s, row, source, now, who)


# The statements every message runs, built once: one made anew each time costs more than running it.
_message = t.MESSAGE
_START = (update(_message)
          .where(_message.c.id == bindparam("row_id"), _message.c.state == t.CLAIMED,
                 _message.c.worker == bindparam("claimant"))
          .values(attempts=_message.c.attempts + 1, lease_until=bindparam("lease"),
                  updated_at=bindparam("now")))
_FIND = select(_message.c.id).where(_message.c.folder == bindparam("folder"),
                                    _message.c.uidvalidity == bindparam("uidvalidity"),
                                    _message.c.uid == bindparam("uid"))
_EARLIER = (select(_message.c.id)
            .where(_message.c.key == bindparam("key"), _message.c.id < bindparam("row_id"),
                   _message.c.state.in_([t.CLAIMED, t.STORED, t.FAILED]))
            .order_by(_message.c.id).limit(1))
_SEEN_AND_HELD = (select(func.max(_message.c.uid), func.min(case((_message.c.state == t.CLAIMED, _message.c.uid))))
                  .where(_message.c.folder == bindparam("folder"), _message.c.uidvalidity == bindparam("uidvalidity")))
_cursor = t.CURSOR


def _move_cursor_statement(dialect: ModuleType) -> Any:
    """The cursor row made, or moved up (never past `b_last_uid`), or reset under a new UIDVALIDITY: the dialect's
    own upsert, one statement."""
    return dialect.insert(_cursor).values(
        folder=bindparam("b_folder"), uidvalidity=bindparam("b_uidvalidity"), last_uid=bindparam("b_at_least_0"),
    ).on_conflict_do_update(index_elements=["folder"], set_={
        "last_uid": case((_cursor.c.uidvalidity != bindparam("b_uidvalidity"), bindparam("b_at_least_0")),
                         (_cursor.c.last_uid < bindparam("b_last_uid"), bindparam("b_last_uid")),
                         else_=_cursor.c.last_uid),
        "uidvalidity": bindparam("b_uidvalidity")})


_MOVE_CURSOR = {"postgresql": _move_cursor_statement(postgresql), "sqlite": _move_cursor_statement(sqlite)}
