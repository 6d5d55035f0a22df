"""One work cycle, shared by `poll --once` and the scheduler: poll the mailbox, then flush the outbox."""

from __future__ import annotations

import imaplib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select

from bot.adapters.mailbox import MailboxError
from bot.bootstrap import App
from bot.office.outbox import FlushReport, flush_outbox
from bot.office.poll import PollReport, poll_once
from storage import tables as t
from storage.db import session
from storage.files import safe_name

log = logging.getLogger(__name__)


@dataclass
class CycleReport:
    poll: PollReport | None
    flush: FlushReport
    error: str | None = None


def sweep(app: App) -> list[str]:
    """Start-up: remove files that no row refers to (left by a run killed between write and commit)."""
    with session(app.engine) as s:
        referenced = {p for p in s.exec(select(t.ItemRow.path).where(t.ItemRow.path.is_not(None))).all() if p}
    removed = app.store.sweep(safe_name(app.config.campaign.slug), referenced)
    for path in removed:
        log.warning("removed a file no row refers to: %s", path)
    return removed


def flush(app: App, clock: Callable[[], datetime]) -> FlushReport:
    if app.config.smtp is None:
        return FlushReport()
    return flush_outbox(app.engine, app.mailer(), app.identity.address, clock())


def poll_and_flush(
    app: App, clock: Callable[[], datetime], sleep: Callable[[float], None] = time.sleep
) -> CycleReport:
    """Poll, reconnecting after a dropped connection with growing pauses (imap.retry_delays), then
    flush. A refusal (wrong password, Unsafe Login, missing folder) is not retried: only a person can
    fix it, and the next scheduled cycle tries again."""
    if app.refresh_roster():
        log.info("roster in force changed: %d units", len(app.roster.units))
    report = PollReport()
    error: str | None = None
    delays = app.config.imap.retry_delays if app.config.imap else ()
    for attempt in range(len(delays) + 1):
        try:
            with app.mailbox() as box:
                poll_once(box, app.intake, app.engine, clock, report)
            error = "; ".join(report.errors) or None
            break
        except MailboxError as exc:
            error = str(exc)
            log.error("%s", exc)
            break
        except (OSError, TimeoutError, imaplib.IMAP4.error) as exc:
            error = connection_lost(app, exc)
            if attempt < len(delays):
                log.warning("%s; reconnecting in %s s", error, delays[attempt])
                sleep(delays[attempt])
            else:
                log.error("%s; giving up until the next cycle", error)
    return CycleReport(report, flush(app, clock), error)


def connection_lost(app: App, exc: BaseException) -> str:
    """Why the connection was lost; a server that stopped answering (imap.timeout_seconds on connect and
    on every read) is named as such."""
    imap = app.config.imap
    if imap is None:
        return f"IMAP connection lost: {exc}"
    if isinstance(exc, TimeoutError):
        return f"IMAP server {imap.host}:{imap.port} did not answer within {imap.timeout_seconds:g} s"
    return f"IMAP connection to {imap.host} lost: {exc}"
