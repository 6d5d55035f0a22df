"""The scheduled worker: APScheduler runs the jobs (bot/worker/jobs.py) on ONE thread.

One thread owns the application's mutable state (the roster in force, the intake's context): the poll, the
outbox flush and the minute job never run at the same time, so none of them needs a lock. A job that
comes due while another runs waits for it (a long poll delays the minute job; its slots catch up, see
bot/core/timetable.py). SIGTERM or SIGINT stops the worker after the running job.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler

from bot.bootstrap import App
from bot.worker.jobs import flush, poll_and_flush, run_due

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    id: str
    run: Callable[[], object]
    trigger: str  # "interval" or "cron", with its options
    options: Mapping[str, Any] = field(default_factory=dict)
    misfire_grace_time: int = 60


def worker_jobs(app: App, clock: Callable[[], datetime]) -> list[Job]:
    interval = max(app.config.poll_interval_seconds, 1)
    return [
        Job("poll", lambda: poll_and_flush(app, clock), "interval", {"seconds": interval, "next_run_time": clock()},
            misfire_grace_time=interval),
        Job("flush_outbox", lambda: flush(app, clock), "interval", {"seconds": 60}),
        # Reminders, the overdue notice and the digest: queued on every minute, each slot once; the flush job
        # (or the next poll) sends them.
        Job("due", lambda: run_due(app, clock, send=False), "cron", {"second": 0}),
    ]


def build_scheduler(jobs: Sequence[Job], timezone: tzinfo) -> BlockingScheduler:
    """A scheduler whose jobs all run on one thread, one at a time."""
    scheduler = BlockingScheduler(timezone=timezone, executors={"default": ThreadPoolExecutor(max_workers=1)})
    for job in jobs:
        scheduler.add_job(job.run, job.trigger, id=job.id, max_instances=1, coalesce=True,
                          misfire_grace_time=job.misfire_grace_time, **job.options)
    return scheduler


def run_worker(app: App, clock: Callable[[], datetime], on_start: Callable[[], None] | None = None) -> None:
    scheduler = build_scheduler(worker_jobs(app, clock), app.zone)

    def stop(signum: int, _frame: object) -> None:
        log.info("signal %s: stopping", signum)
        threading.Thread(target=lambda: scheduler.shutdown(wait=True), daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if on_start is not None:
        on_start()
    scheduler.start()
