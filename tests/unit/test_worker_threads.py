"""The worker's jobs run one at a time on one thread, so the application's mutable state (the roster in force,
the intake's context) has one owner and needs no lock."""

from __future__ import annotations

import threading
import time
from zoneinfo import ZoneInfo

from bot.worker.scheduler import Job, build_scheduler


def test_the_poll_the_flush_and_the_minute_job_never_run_at_the_same_time() -> None:
    lock = threading.Lock()
    running: list[str] = []
    overlaps: list[tuple[str, ...]] = []
    threads: set[int] = set()
    runs = {"poll": 0, "flush_outbox": 0, "due": 0}

    def job(name: str) -> None:
        with lock:
            running.append(name)
            threads.add(threading.get_ident())
            if len(running) > 1:
                overlaps.append(tuple(running))
        time.sleep(0.03)  # long enough for the other jobs to come due meanwhile
        with lock:
            running.remove(name)
            runs[name] += 1

    jobs = [Job(name, lambda name=name: job(name), "interval", {"seconds": 0.05}) for name in runs]
    scheduler = build_scheduler(jobs, ZoneInfo("Asia/Shanghai"))
    worker = threading.Thread(target=scheduler.start, daemon=True)
    worker.start()
    time.sleep(1.5)
    scheduler.shutdown(wait=True)
    worker.join(5)
    assert overlaps == []
    assert len(threads) == 1
    assert all(count >= 3 for count in runs.values()), runs
