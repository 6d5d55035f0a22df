"""One work cycle, shared by `poll --once` and the scheduler: poll the mailbox, then flush the outbox."""

from __future__ import annotations

import imaplib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select

from bot.bootstrap import App
from bot.mailbox import MailboxError
from bot.outbox import FlushReport, flush_outbox
from bot.poll import PollReport, poll_once
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


def poll_and_flush(app: App, clock: Callable[[], datetime]) -> CycleReport:
    poll_report: PollReport | None = None
    error: str | None = None
    try:
        with app.mailbox() as box:
            poll_report = poll_once(box, app.intake, app.engine, clock)
        if poll_report.errors:
            error = "; ".join(poll_report.errors)
    except MailboxError as exc:
        error = str(exc)
        log.error("%s", exc)
    except (OSError, TimeoutError, imaplib.IMAP4.error) as exc:
        error = f"IMAP connection to {app.config.imap.host if app.config.imap else '?'} lost: {exc}"
        log.error("%s", error)
    return CycleReport(poll_report, flush(app, clock), error)
