"""The outbox flusher: sends pending rows, records each result, retries with backoff, drops nothing."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType

from sqlalchemy import bindparam, insert, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, or_, select

from bot.adapters.mailer import Mailer, SendError
from storage import tables as t
from storage.db import session

log = logging.getLogger(__name__)

BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1))


def next_attempt(now: datetime, attempts: int) -> datetime:
    return now + BACKOFF[min(attempts, len(BACKOFF)) - 1]


def queue_outgoing(s: Session, kind: str, to_addr: str, subject: str, message_id: str, raw: bytes, now: datetime,
                   message_row_id: int | None = None) -> int:
    """Put one mail in the outbox, due now, in the caller's transaction (committed by the caller with the data
    the mail describes). The row's id."""
    stamp = now.astimezone(UTC)
    return int(s.connection().execute(_QUEUE, {
        "message_row_id": message_row_id, "kind": kind, "to_addr": to_addr, "subject": subject,
        "header_message_id": message_id, "raw": raw, "state": t.PENDING, "next_attempt_at": stamp,
        "created_at": stamp}).scalar_one())  # the other columns take their defaults


@dataclass
class FlushReport:
    sent: int = 0
    deferred: int = 0
    failed: int = 0

    def add(self, other: FlushReport) -> None:
        self.sent += other.sent
        self.deferred += other.deferred
        self.failed += other.failed


LEASE = timedelta(minutes=10)  # a flusher killed mid-send leaves its row due again after this


def _claim(s: Session, row: t.OutboxRow, now: datetime) -> bool:
    """Take the row for this flusher: a row is sent by one flusher only, across threads and processes."""
    result = s.connection().execute(_CLAIM, {"row_id": row.id, "now": now, "lease_until": now + LEASE})
    s.commit()
    return bool(result.rowcount == 1)


def flush_outbox(engine: Engine, mailer: Mailer, sender: str, now: datetime, limit: int = 500,
                 close: bool = True) -> FlushReport:
    """Send the due rows, oldest first, up to `limit`; the first deferral (the server is unwell) ends the pass.
    `close`: close the mailer's connection after the pass (a caller sending again soon keeps it)."""
    report = FlushReport()
    now = now.astimezone(UTC)  # the database keeps UTC
    with session(engine) as s:
        rows = s.exec(
            select(t.OutboxRow)
            .where(t.OutboxRow.state == t.PENDING,
                   or_(t.OutboxRow.next_attempt_at.is_(None), t.OutboxRow.next_attempt_at <= now))
            .order_by(t.OutboxRow.id)
            .limit(limit)
        ).all()
        try:
            for row in rows:
                if not _claim(s, row, now):
                    continue  # another flusher (the worker, a staff command) has it
                attempts, state, error, retry_at, sent_at = row.attempts + 1, t.SENT, None, now + LEASE, now
                try:
                    mailer.send(sender, row.to_addr, row.raw, row.header_message_id)
                except SendError as exc:
                    error, sent_at = str(exc), row.sent_at
                    if exc.permanent:
                        state = t.SEND_FAILED
                        report.failed += 1
                        log.error("outbox %s to %s failed for good: %s", row.id, row.to_addr, exc)
                    else:
                        state, retry_at = t.PENDING, next_attempt(now, attempts)
                        report.deferred += 1
                        log.warning("outbox %s to %s deferred (attempt %s): %s", row.id, row.to_addr, attempts, exc)
                else:
                    report.sent += 1
                # Record each result at once: the only window that can repeat a mail is between
                # the server's acceptance and this commit.
                s.connection().execute(_RESULT, {"row_id": row.id, "attempts": attempts, "state": state,
                                                 "error": error, "retry_at": retry_at, "sent_at": sent_at})
                s.commit()
                if state == t.PENDING:
                    break  # the server is unwell: the rest wait for the next run
        finally:
            if close:
                mailer.close()
    return report


class SendingAlongside:
    """Sends the outbox on a thread of its own while the caller works, a pass every `interval` seconds over one
    connection, and a last pass on the caller's thread at the end: a poll over a backlog answers each unit soon
    after its mail is recorded, not after the last message, and its network waits overlap the poll's work.
    `report` sums every pass. A deferral (the server is unwell) ends the sending for this cycle, as one flush
    would; a failed pass is logged and left to the last one. Nothing is sent twice: each row is claimed
    (`_claim`) by one pass, on any thread or process."""

    def __init__(self, engine: Engine, mailer: Mailer, sender: str, clock: Callable[[], datetime],
                 interval: float = 0.5) -> None:
        self.engine, self.mailer, self.sender, self.clock, self.interval = engine, mailer, sender, clock, interval
        self.report = FlushReport()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox", daemon=True)

    def _pass(self, close: bool) -> None:
        self.report.add(flush_outbox(self.engine, self.mailer, self.sender, self.clock(), close=close))

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval) and not self.report.deferred:
                self._pass(close=False)
        except Exception:
            log.exception("sending the outbox beside the poll failed; the rest is sent at the end of the cycle")

    def __enter__(self) -> SendingAlongside:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        if kind is not None or self.report.deferred:
            self.mailer.close()
            return
        self._pass(close=True)


# Built once, in Core, run on the session's connection: each reply runs all three.
_outbox = t.OUTBOX
_QUEUE = insert(_outbox).returning(_outbox.c.id)
# A row is due when it is pending and its time has come (or it has none).
_CLAIM = (update(_outbox)
          .where(_outbox.c.id == bindparam("row_id"), _outbox.c.state == t.PENDING,
                 or_(_outbox.c.next_attempt_at.is_(None), _outbox.c.next_attempt_at <= bindparam("now")))
          .values(next_attempt_at=bindparam("lease_until")))
_RESULT = (update(_outbox).where(_outbox.c.id == bindparam("row_id"))
           .values(attempts=bindparam("attempts"), state=bindparam("state"), last_error=bindparam("error"),
                   next_attempt_at=bindparam("retry_at"), sent_at=bindparam("sent_at")))
