"""One polling cycle: read new mail above the cursor, claim each message, read and process it, mark it,
advance. Several workers may poll one mailbox at once on a shared database: each message is claimed by one
(bot/office/intake/ledger.py), the others pass over it. Working alone, the next message is fetched while this
one is processed (one ahead)."""

from __future__ import annotations

import hashlib
import imaplib
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import bindparam, update
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.adapters.config_file import ImapConfig
from bot.adapters.mailbox import Fetched, FolderState, ImapMailbox, MailboxError
from bot.office.intake.ledger import Result, Source, header_message_id, ledger_key, provisional_key, save_cursor
from bot.office.intake.shell import Claim, Intake
from storage import tables as t
from storage.db import session
from storage.files import RawWrite

log = logging.getLogger(__name__)


@dataclass
class PollReport:
    fetched: int = 0
    results: list[Result] = field(default_factory=list)
    resynced: int = 0
    errors: list[str] = field(default_factory=list)

    def count(self, state: str) -> int:
        return sum(1 for r in self.results if r.state == state)


def load_cursor(engine: Engine, folder: str) -> t.CursorRow | None:
    with session(engine) as s:
        return s.get(t.CursorRow, folder)


def poll_once(
    box: ImapMailbox, intake: Intake, engine: Engine, clock: Callable[[], datetime],
    report: PollReport | None = None,
) -> PollReport:
    """Every configured folder in turn; a folder that cannot be opened is logged and skipped.
    Results add to `report`, so a cycle that reconnects counts everything once."""
    report = report if report is not None else PollReport()
    report.errors.clear()
    for name in box.config.poll_folders:
        try:
            folder = box.open_folder(name)
        except MailboxError as exc:
            log.error("%s", exc)
            report.errors.append(str(exc))
            continue
        poll_folder(box, folder, intake, engine, clock, report)
    return report


def poll_folder(
    box: ImapMailbox, folder: FolderState, intake: Intake, engine: Engine, clock: Callable[[], datetime],
    report: PollReport,
) -> None:
    cursor = load_cursor(engine, folder.name)
    first = min((c.opens for c in intake.ctx.campaigns), default=clock())
    since = (first - timedelta(days=1)).date()
    if cursor is None:
        uids = box.uids_since(since)  # first run: mail older than every campaign is never read
    elif cursor.uidvalidity != folder.uidvalidity:
        log.warning("UIDVALIDITY of %s changed (%s → %s): resynchronising", folder.name,
                    cursor.uidvalidity, folder.uidvalidity)
        uids = resynchronise(box, engine, folder, box.uids_since(since), report)
    else:
        uids = box.uids_after(cursor.last_uid)
        mark_left_unmarked(box, engine, folder)
    heads = box.message_ids(uids) if uids else {}
    waiting = iter(uids)

    # The connection is used by one thread at a time, its own: fetches and marks queue there in order, so that
    # marking one message never waits for the next one's bytes.
    with ThreadPoolExecutor(1, "imap") as connection, ThreadPoolExecutor(1, "arrive") as preparer:
        marks: list[Future[None]] = []

        def mark_soon(row_id: int, uid: int) -> None:
            """Mark on the connection's thread; a failure is raised by the next `check_marks`."""
            marks.append(connection.submit(mark, box, engine, row_id, uid))

        def check_marks(every: bool = False) -> None:
            for done in [m for m in marks if every or m.done()]:
                marks.remove(done)
                done.result()

        def next_claimed(ahead: bool = False) -> tuple[int, Claim] | None:
            """The next message this worker claims, claimed before its bytes are read: of several workers on one
            database, one reads each message. What was done before is marked on the way (if left unmarked)."""
            for uid in waiting:
                source = Source(folder.name, folder.uidvalidity, uid, in_mailbox=True)
                claim = intake.claim(source, header_key(heads.get(uid, b"")) or provisional_key(source), clock(),
                                     ahead)
                if claim.row is not None:
                    return uid, claim
                if claim.done is not None and claim.done.campaign:  # done before; another worker's is left alone
                    mark_soon(claim.done.row_id, uid)
            return None

        # Working alone, one message ahead: the next one is claimed and its bytes arrive on another thread while
        # this one is processed (its attempt counts only when its work starts). Beside other workers each fetches
        # in turn: a claim held ahead would keep a message from them, and the workers already overlap the network
        # and the CPU.
        ahead = intake.claimant.alone

        def arrive(uid: int) -> Arrived:
            """The message's bytes (fetched on the connection's thread), and their archiving started (the store's
            archiver)."""
            fetched = connection.submit(box.fetch, uid).result()
            return fetched, intake.store.archiving(fetched.raw) if fetched is not None else None

        current = next_claimed()
        arriving = preparer.submit(arrive, current[0]) if current else None
        while current is not None and arriving is not None:
            uid, claim = current
            try:
                fetched, written = arriving.result()
            except BaseException:  # the connection failed: the message was never read, the next try takes it
                intake.give_back(claim)
                raise
            following = next_claimed(ahead=True) if ahead else None
            arriving = preparer.submit(arrive, following[0]) if following else None
            try:
                source = Source(folder.name, folder.uidvalidity, uid, in_mailbox=True)
                result = _process(intake, fetched, written, claim, source, clock, report)
                check_marks()  # after this message's work: a failed mark raised here leaves no claim behind
                if result is not None and result.campaign:
                    mark_soon(result.row_id, uid)
            except BaseException:
                if arriving is not None and arriving.exception() is None and arriving.result()[1] is not None:
                    arriving.result()[1].drop()
                if following is not None:
                    intake.give_back(following[1])
                raise
            if not ahead:
                following = next_claimed()
                arriving = preparer.submit(arrive, following[0]) if following else None
            current = following
        check_marks(every=True)
    if cursor is None or cursor.uidvalidity != folder.uidvalidity:
        with session(engine) as s:  # nothing new (or only mail before the campaign): start from here
            save_cursor(s, folder.name, folder.uidvalidity, max(uids, default=0))
            s.commit()


Arrived = tuple[Fetched | None, RawWrite | None]


def _process(intake: Intake, fetched: Fetched | None, written: RawWrite | None, claim: Claim, source: Source,
             clock: Callable[[], datetime], report: PollReport) -> Result | None:
    if fetched is None:  # gone from the server meanwhile
        intake.release(claim)
        return None
    report.fetched += 1
    # The message's last commit also moves the cursor past it (bot/office/intake/ledger.py).
    result = intake.process(fetched.raw, fetched.internaldate, source, clock(), claim, written)
    if result is not None:  # None: taken over by another worker
        report.results.append(result)
    return result


def mark(box: ImapMailbox, engine: Engine, row_id: int, uid: int) -> None:
    """Mark the message on the server, then say so in its row (once: a row marked before is left alone)."""
    with engine.connect() as connection:
        if connection.execute(_IS_MARKED, {"row_id": row_id}).scalar_one_or_none() is not False:
            return  # marked before, or no such row
        box.mark_processed(uid)
        connection.execute(_MARKED, {"row_id": row_id})
        connection.commit()


# Built once, in Core: the mark runs on the connection's thread beside the main one, for every message.
_message = t.MESSAGE
_IS_MARKED = select(_message.c.marked).where(_message.c.id == bindparam("row_id"))
_MARKED = update(_message).where(_message.c.id == bindparam("row_id")).values(marked=True)


def mark_left_unmarked(box: ImapMailbox, engine: Engine, folder: FolderState) -> None:
    """Mark what a run killed between a message's commit and its mark left unmarked: the cursor has passed
    those messages, so they are not fetched again."""
    with session(engine) as s:
        rows = s.exec(select(t.MessageRow.id, t.MessageRow.uid).where(
            t.MessageRow.folder == folder.name, t.MessageRow.uidvalidity == folder.uidvalidity,
            t.MessageRow.marked.is_(False), t.MessageRow.state.in_([t.STORED, t.DUPLICATE, t.FAILED]))).all()
    for row_id, uid in rows:
        if row_id is not None and uid:
            mark(box, engine, row_id, uid)


def header_key(header_bytes: bytes) -> str | None:
    """The ledger key from a Message-ID header fetched alone, as the intake computes it."""
    message_id = header_message_id(header_bytes)
    return ledger_key(message_id, b"") if message_id else None


def resynchronise(
    box: ImapMailbox, engine: Engine, folder: FolderState, uids: list[int], report: PollReport
) -> list[int]:
    """After a UIDVALIDITY change, re-bind known messages to their new UIDs without processing
    them again; return the UIDs that still need processing."""
    headers = box.message_ids(uids)
    todo: list[int] = []
    with session(engine) as s:
        for uid in uids:
            key = header_key(headers.get(uid, b""))
            if key is None:
                fetched = box.fetch(uid)
                if fetched is None:
                    continue
                key = hashlib.sha256(fetched.raw).hexdigest()
            row = s.exec(
                select(t.MessageRow)
                .where(t.MessageRow.key == key, t.MessageRow.folder == folder.name,
                       t.MessageRow.uidvalidity != folder.uidvalidity)
                .order_by(t.MessageRow.id)
            ).first()
            if row is None:
                todo.append(uid)
                continue
            row.uidvalidity, row.uid, row.marked = folder.uidvalidity, uid, False
            s.add(row)
            s.commit()
            report.resynced += 1
            if row.state != t.UNRELATED:
                mark(box, engine, row.id or 0, uid)
    return todo


def poll_with_retries(
    open_mailbox: Callable[[], ImapMailbox], intake: Intake, engine: Engine, clock: Callable[[], datetime],
    imap: ImapConfig | None, sleep: Callable[[float], None] = time.sleep,
) -> tuple[PollReport, str | None]:
    """Poll, reconnecting after a dropped connection with growing pauses (imap.retry_delays); the report and
    the error that ended the cycle, if any. A refusal (wrong password, Unsafe Login, missing folder) is not
    retried: only a person can fix it, and the next scheduled cycle tries again."""
    report = PollReport()
    error: str | None = None
    delays = imap.retry_delays if imap else ()
    for attempt in range(len(delays) + 1):
        try:
            with open_mailbox() as box:
                poll_once(box, intake, engine, clock, report)
            error = "; ".join(report.errors) or None
            break
        except MailboxError as exc:
            error = str(exc)
            log.error("%s", exc)
            break
        except (OSError, TimeoutError, imaplib.IMAP4.error) as exc:
            error = connection_lost(imap, exc)
            if attempt < len(delays):
                log.warning("%s; reconnecting in %s s", error, delays[attempt])
                sleep(delays[attempt])
            else:
                log.error("%s; giving up until the next cycle", error)
    return report, error


def connection_lost(imap: ImapConfig | None, exc: BaseException) -> str:
    """Why the connection was lost; a server that stopped answering (imap.timeout_seconds on connect and
    on every read) is named as such."""
    if imap is None:
        return f"IMAP connection lost: {exc}"
    if isinstance(exc, TimeoutError):
        return f"IMAP server {imap.host}:{imap.port} did not answer within {imap.timeout_seconds:g} s"
    return f"IMAP connection to {imap.host} lost: {exc}"
