"""The scheduled worker: thin APScheduler jobs that only call poll, flush and run_due. No logic here."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import datetime

from apscheduler.schedulers.blocking import BlockingScheduler

from bot.bootstrap import App
from bot.office.cycle import flush, poll_and_flush
from bot.office.due import run_due

log = logging.getLogger(__name__)


def run_worker(app: App, clock: Callable[[], datetime], on_start: Callable[[], None] | None = None) -> None:
    scheduler = BlockingScheduler(timezone=app.config.campaign.timezone)
    interval = max(app.config.poll_interval_seconds, 1)
    job_defaults = dict(max_instances=1, coalesce=True, misfire_grace_time=interval)
    scheduler.add_job(lambda: poll_and_flush(app, clock), "interval", seconds=interval, id="poll",
                      next_run_time=clock(), **job_defaults)
    scheduler.add_job(lambda: flush(app, clock), "interval", seconds=60, id="flush_outbox", **job_defaults)
    # Reminders, the overdue notice and the digest: queued on every minute, each slot once (bot/core/timetable.py);
    # the flush job sends them, so that no two threads flush the outbox at once.
    scheduler.add_job(lambda: run_due(app, clock, send=False), "cron", second=0, id="due",
                      max_instances=1, coalesce=True, misfire_grace_time=60)

    def stop(signum: int, _frame: object) -> None:
        log.info("signal %s: stopping", signum)
        threading.Thread(target=lambda: scheduler.shutdown(wait=True), daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if on_start is not None:
        on_start()
    scheduler.start()
