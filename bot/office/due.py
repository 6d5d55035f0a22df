"""What the worker's minute job does: queue every reminder, overdue notice and digest due now, then send.

Reminders keep their own ledger (bot/office/reminders.py). The digest has one job-run row per local day, claimed
BEFORE `bot.office.digest.queue_digest` runs: a run killed between the claim and the digest's own commit loses
that day's digest rather than sending it twice (each day at most once); a digest that raised is marked
failed for staff and not retried in a loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bot.bootstrap import App
from bot.core.timetable import DIGEST, digest_moments, due
from bot.office.cycle import flush
from bot.office.outbox import FlushReport
from bot.office.reminders import RemindReport, queue_reminders
from storage import tables as t
from storage.db import session

log = logging.getLogger(__name__)

CLAIMED = "claimed"
SENT = "sent"
SKIPPED = "skipped"
EMPTY = "empty"  # the digest job queued nothing (no staff address, say)
FAILED = "failed"


@dataclass
class DigestRun:
    day: str | None = None  # the local date whose digest was queued
    outbox_row_id: int | None = None
    skipped: list[str] = field(default_factory=list)


@dataclass
class DueReport:
    reminders: RemindReport
    digest: DigestRun
    flush: FlushReport | None = None


def run_due(app: App, clock: Callable[[], datetime], send: bool = True) -> DueReport:
    """Queue whatever is due at clock(); with `send`, flush the outbox when something was queued."""
    now = clock()
    if app.refresh_roster():
        log.info("roster in force changed: %d units", len(app.roster.units))
    reminders = queue_reminders(app, now)
    digest = queue_due_digest(app, now)
    report = DueReport(reminders, digest)
    if send and (reminders.mails or digest.outbox_row_id is not None):
        report.flush = flush(app, clock)
    return report


def queue_due_digest(app: App, now: datetime) -> DigestRun:
    run = DigestRun()
    moments = digest_moments(app.config.schedule, app.config.campaign)
    if not moments:
        return run
    stamp = now.astimezone(UTC)
    with session(app.engine) as s:
        done = set(s.exec(select(t.JobRunRow.key).where(t.JobRunRow.job == DIGEST)).all())
    result = due(moments, now, done)
    if not result.skip and result.send is None:
        return run
    queue_digest = _digest_job()
    if queue_digest is None:
        return run
    slot = result.send
    try:
        with session(app.engine) as s:
            for missed in result.skip:
                s.add(t.JobRunRow(job=DIGEST, key=missed.key, state=SKIPPED, moment=missed.at.astimezone(UTC),
                                  at=stamp))
            claim = None
            if slot is not None:
                claim = t.JobRunRow(job=DIGEST, key=slot.key, state=CLAIMED, moment=slot.at.astimezone(UTC), at=stamp)
                s.add(claim)
            s.commit()
    except IntegrityError:
        log.info("digest: slot already claimed by another run")
        return run
    run.skipped = [m.key for m in result.skip]
    if slot is None or claim is None:
        return run
    try:
        outbox_row_id = queue_digest(app, now)
    except Exception:
        log.exception("digest for %s failed", slot.key)
        _finish(app, claim, FAILED, None, stamp)
        return run
    _finish(app, claim, SENT if outbox_row_id is not None else EMPTY, outbox_row_id, stamp)
    run.day, run.outbox_row_id = slot.key, outbox_row_id
    return run


def _finish(app: App, claim: t.JobRunRow, state: str, outbox_row_id: int | None, stamp: datetime) -> None:
    with session(app.engine) as s:
        claim.state, claim.outbox_row_id, claim.at = state, outbox_row_id, stamp
        s.add(claim)
        s.commit()


_missing_digest_logged = False


def _digest_job() -> Callable[[App, datetime], int | None] | None:
    """bot.office.digest.queue_digest, imported when first needed (it is its own module and may be absent)."""
    global _missing_digest_logged
    try:
        from bot.office.digest import queue_digest
    except ImportError:
        if not _missing_digest_logged:
            _missing_digest_logged = True
            log.warning("no bot.office.digest module: the daily digest is not sent")
        return None
    return queue_digest
