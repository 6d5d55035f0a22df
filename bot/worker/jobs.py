"""The worker's jobs, thin: each one only calls the office's work with the application's parts.

- `poll_and_flush`: take an edited roster, poll the mailbox (reconnecting within the cycle), send the outbox
  meanwhile and at the end;
- `flush`: send the outbox;
- `run_due`: what is due at this minute (reminders, the overdue notice, the day's digest), queued.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.bootstrap import App
from bot.office.outbox import FlushReport, SendingAlongside
from bot.office.poll import PollReport, poll_with_retries
from bot.office.reminders import RemindReport

if TYPE_CHECKING:  # the digest (and its workbook, openpyxl) is loaded by the job that sends it, not by each poll
    from bot.office.digest import DigestRun

log = logging.getLogger(__name__)


@dataclass
class CycleReport:
    poll: PollReport | None
    flush: FlushReport
    error: str | None = None


@dataclass
class DueReport:
    reminders: RemindReport
    digest: DigestRun
    flush: FlushReport | None = None


def take_roster(app: App) -> None:
    if app.refresh_roster():
        log.info("roster in force changed: %d units", len(app.roster.units))


def poll_and_flush(app: App, clock: Callable[[], datetime], sleep: Callable[[float], None] = time.sleep
                   ) -> CycleReport:
    """One work cycle, shared by `poll --once` and the scheduler."""
    take_roster(app)
    if app.config.smtp is None:
        report, error = poll_with_retries(app.mailbox, app.intake, app.engine, clock, app.config.imap, sleep)
        return CycleReport(report, FlushReport(), error)
    # Replies leave while the poll goes on, each soon after its message's commit.
    with SendingAlongside(app.engine, app.mailer(), app.identity.address, clock) as sending:
        report, error = poll_with_retries(app.mailbox, app.intake, app.engine, clock, app.config.imap, sleep)
    return CycleReport(report, sending.report, error)


def flush(app: App, clock: Callable[[], datetime]) -> FlushReport:
    return app.send_outbox(clock())


def run_due(app: App, clock: Callable[[], datetime], send: bool = True) -> DueReport:
    """Queue whatever is due at clock(); with `send`, flush the outbox when something was queued."""
    from bot.office.digest import queue_due_digest

    now = clock()
    take_roster(app)
    reminders = app.reminders().queue(now)
    digest = queue_due_digest(app.digests(), app.config.schedule, now)
    report = DueReport(reminders, digest)
    if send and (reminders.mails or digest.outbox_row_id is not None):
        report.flush = flush(app, clock)
    return report
