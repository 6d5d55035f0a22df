"""Several workers on one PostgreSQL database and one mailbox (Dovecot), each `intake poll --once` a process:

- three at once over 100 varied messages, with 20 SIGKILLs among them: every message stored once, every
  reply sent once (but for the SMTP window today's kill test counts), no stray file, no row left claimed;
- a worker killed while it holds a claim: another passes over it while the lease runs, then takes it over
  and finishes it, and the cursor never passes it meanwhile;
- two staff decisions at once on one unit (an assign and a reprocess) leave its counts right;
- on SQLite a second worker is still refused.

These run on PostgreSQL whatever INTAKE_TEST_DATABASE says (their own cluster), so once in `make test`.
"""

from __future__ import annotations

import collections
import contextlib
import email
import json
import random
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.office.outbox import LEASE
from tests.e2e.harness import INTAKE, Setup, write_config
from tests.e2e.postgres import PostgresCluster
from tests.e2e.servers import Dovecot, SmtpSink, append
from tests.e2e.test_kill import CASE, assert_every_file_once, mailbox, parse_in_reply_to, routed, subject
from tests.e2e.test_poll_e2e import TO, when
from tests.fixtures import clients
from tests.fixtures.files import make_jpeg

pytestmark = pytest.mark.any_database

WORKERS = 3
KILLS = 20
COUNT = 100


def shared_setup(tmp_path: Path, dovecot: Dovecot, sink: SmtpSink, postgres: PostgresCluster, lease: int,
                 extra: str = "") -> Setup:
    """The harness's config on a fresh PostgreSQL database, claims leased for `lease` seconds."""
    config = write_config(tmp_path, dovecot, sink)
    text = config.read_text(encoding="utf-8")
    storage = re.search(r"\[storage\]\n(?:[^\[\n][^\n]*\n)*", text)
    assert storage is not None
    section = (f'[storage]\ndata_dir = "data"\ndatabase_url = "{postgres.create_database("w")}"\n'
               f"claim_lease_seconds = {lease}\n")
    config.write_text(text.replace(storage.group(0), section) + extra, encoding="utf-8")
    return Setup(tmp_path, config, tmp_path / "data", dovecot, sink)


def start(setup: Setup, name: str, *args: str) -> subprocess.Popen[bytes]:
    errors = (setup.dir / f"{name}.err").open("wb")
    return subprocess.Popen([str(INTAKE), "--config", str(setup.config), *args, "poll", "--once"], cwd=setup.dir,
                            stdout=subprocess.DEVNULL, stderr=errors)


def message_id(raw: bytes) -> str:
    value = email.message_from_bytes(raw)["Message-ID"]
    assert value is not None
    return str(value).strip()


def wait_for(check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_three_workers_killed_at_random_store_every_message_once(
    tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink, postgres: PostgresCluster
) -> None:
    rng = random.Random(20201205)
    setup = shared_setup(tmp_path, dovecot, smtp_sink, postgres, lease=3, extra=(
        "\n[replies]\nmax_per_sender = 100\nmax_same_subject = 100\n\n[limits]\nmax_attempts = 100\n"))
    setup.config.write_text(setup.config.read_text(encoding="utf-8").replace("[campaign]\n", "[[campaigns]]\n")
                            + CASE, encoding="utf-8")
    started = time.monotonic()
    setup.intake("poll", "--once")  # creates the database; times a run with nothing to do
    idle = time.monotonic() - started
    pool = mailbox(COUNT)
    unrelated, campaign = pool[-1], pool[:-1]
    append(dovecot, unrelated, when(12, 9))
    for index, raw in enumerate(campaign):
        append(dovecot, raw, when(12, 5 + index % 20))

    # Three slots each run `poll --once` again and again; a killer picks, at random moments, a run that holds
    # a claim (it is working on a message) and kills it.
    runs: list[subprocess.Popen[bytes]] = []
    kills, whole, ended = 0, 0, []
    lock = threading.Lock()
    stop = threading.Event()

    def slot(n: int) -> None:
        nonlocal whole
        count = 0
        while not stop.is_set():
            proc = start(setup, f"slot{n}-{count}")
            count += 1
            with lock:
                runs.append(proc)
            proc.wait()
            with lock:
                ended.append(proc.returncode)
                whole += proc.returncode == 0

    threads = [threading.Thread(target=slot, args=(n,), daemon=True) for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 300
    while kills < KILLS and time.monotonic() < deadline:
        time.sleep(rng.uniform(0.05, 0.6))
        holders = {int(w.rsplit(":", 1)[1]) for (w,) in setup.query(
            "SELECT worker FROM message WHERE state = 'claimed'")}
        with lock:
            working = [p for p in runs if p.poll() is None and p.pid in holders]
        if working:
            rng.choice(working).send_signal(signal.SIGKILL)
            kills += 1
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    assert kills == KILLS
    assert all(code in (0, -signal.SIGKILL) for code in ended), ended

    # Three workers at once again, after the claims' and the outbox's leases: they take over what the killed
    # runs held and finish; then a quiet run.
    time.sleep(3)  # what the killed runs left is older than the claims' lease: the sweep may take it
    later = (datetime.now(UTC) + LEASE + timedelta(minutes=1)).isoformat()
    last = [start(setup, f"final{n}", "--now", later) for n in range(WORKERS)]
    assert [p.wait(timeout=300) for p in last] == [0] * WORKERS
    setup.intake("--now", later, "poll", "--once")

    status = setup.status()
    messages = [m for report in status["campaigns"] for m in report["messages"]] + status["unsorted"]
    assert len(messages) == COUNT
    assert [m["status"] for m in messages].count("duplicate") == 0
    assert sorted((m["subject"], m["campaign"], m["campaign_reason"]) for m in messages) == sorted(
        (subject(i), *routed(i)) for i in range(COUNT))
    assert setup.query("SELECT state, count(*) FROM message GROUP BY state ORDER BY state") == [
        ("stored", COUNT), ("unrelated", 1)]
    assert setup.query("SELECT count(*) FROM message WHERE lease_until IS NOT NULL") == [(0,)]
    workers = setup.query("SELECT count(DISTINCT worker) FROM message")[0][0]
    assert workers >= 2  # the work was shared (a row names the worker that finished it)
    retried = setup.query("SELECT count(*) FROM message WHERE attempts > 1")[0][0]
    assert retried >= 1  # kills landed on claimed messages, taken over by another run
    assert setup.query("SELECT last_uid FROM cursor") == [(COUNT + 1,)]
    assert_every_file_once(setup, messages, COUNT)
    # Every message deserving a reply got one; only a kill between the SMTP server's acceptance and the
    # outbox record can repeat one.
    assert all(m["replied"] for m in messages)
    answered = collections.Counter(parse_in_reply_to(m.data) for m in smtp_sink.messages)
    assert len(answered) == COUNT
    duplicates = sum(n - 1 for n in answered.values())
    assert duplicates <= kills
    print(json.dumps({"messages": COUNT, "kills": kills, "whole_runs": whole, "idle_run_s": round(idle, 2),
                      "workers_seen": workers, "taken_over": retried, "replies": len(smtp_sink.messages),
                      "duplicate_replies": duplicates}))


def test_a_claim_whose_worker_died_is_taken_over_after_its_lease(
    tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink, postgres: PostgresCluster
) -> None:
    setup = shared_setup(tmp_path, dovecot, smtp_sink, postgres, lease=600)
    setup.intake("poll", "--once")
    photos = [(f"东城区文明办活动照片{n}.jpg", make_jpeg(8_000_000, seed=n)) for n in range(6)]
    big = clients.foxmail(from_addr="dc-wmb@example.cn", from_name="东城区文明办", to=TO,
                          subject="东城区文明办国际志愿者日照片", body="请查收。", attachments=photos, date=when(12, 6))
    small = clients.netease_webmail(from_addr="xc-wmb@example.cn", from_name="西城区文明办", to=TO,
                                    subject="西城区文明办志愿活动照片", body="请查收。",
                                    attachments=[("西城照片.jpg", make_jpeg(1_200_000, seed=9))], date=when(12, 7))
    append(dovecot, big, when(12, 6))
    append(dovecot, small, when(12, 7))

    # Worker A claims the first message and dies while working on it.
    a = start(setup, "a")
    claimed = wait_for(lambda: setup.query(
        "SELECT uid, worker, attempts FROM message WHERE state = 'claimed' AND attempts = 1"))
    a.send_signal(signal.SIGKILL)
    a.wait()
    assert claimed == [(1, claimed[0][1], 1)]

    # Worker B, within the lease: leaves A's claim alone, takes the other message; the cursor stays below
    # the claimed one.
    setup.intake("poll", "--once")
    rows = setup.query("SELECT uid, state, worker, attempts FROM message ORDER BY uid")
    assert rows[0] == (1, "claimed", claimed[0][1], 1)
    assert rows[1][:2] == (2, "stored") and rows[1][2] != claimed[0][1]
    assert setup.query("SELECT last_uid FROM cursor") == [(0,)]
    assert [parse_in_reply_to(m.data) for m in smtp_sink.messages] == [message_id(small)]

    # After the lease: B takes it over and finishes it; a second try counted, one reply, the cursor past both.
    later = (datetime.now(UTC) + timedelta(seconds=601)).isoformat()
    setup.intake("--now", later, "poll", "--once")
    rows = setup.query("SELECT uid, state, worker, attempts, lease_until FROM message ORDER BY uid")
    assert [(uid, state, attempts, lease) for uid, state, _, attempts, lease in rows] == [
        (1, "stored", 2, None), (2, "stored", 1, None)]
    assert rows[0][2] != claimed[0][1]
    assert setup.query("SELECT last_uid FROM cursor") == [(2,)]
    assert sorted(parse_in_reply_to(m.data) for m in smtp_sink.messages) == sorted([message_id(big), message_id(small)])
    files = sorted(p.name for p in (setup.data / "idv-2020" / "东城区文明办").rglob("*") if p.is_file())
    assert files == sorted(name for name, _ in photos)


def test_on_sqlite_a_second_worker_is_still_refused(tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink) -> None:
    config = write_config(tmp_path, dovecot, smtp_sink)
    text = config.read_text(encoding="utf-8")
    config.write_text(re.sub(r'database_url = "[^"]*"\n', "", text), encoding="utf-8")  # SQLite, whatever the pass
    setup = Setup(tmp_path, config, tmp_path / "data", dovecot, smtp_sink)
    setup.intake("poll", "--once")
    from storage.lock import WorkerLock

    with WorkerLock(setup.data):  # a worker is running
        refused = setup.intake("poll", "--once", check=False)
    assert refused.returncode == 3
    assert "另一个收取程序正在运行" in refused.stdout, refused.stdout


def test_an_assign_and_a_reprocess_at_once_leave_the_units_counts_right(
    tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink, postgres: PostgresCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staff assign one stranger's mail to 东城区文明办 while another reprocesses a second stranger's mail that
    the roster now gives to 东城, both with the same photo: it counts once. Each judgement holds the unit's
    lock; without it both would read the unit before either wrote, and both would count the photo."""
    from bot.adapters.config_file import load_config
    from bot.bootstrap import build
    from bot.office import decisions
    from bot.office.intake import shell

    setup = shared_setup(tmp_path, dovecot, smtp_sink, postgres, lease=600)
    photo = [("国际志愿者日活动照片.jpg", make_jpeg(1_300_000, seed=77))]
    for n, sender in enumerate(("a1@qq.example", "b2@qq.example")):
        append(dovecot, clients.foxmail(from_addr=sender, from_name="", to=TO, subject="国际志愿者日志愿活动照片",
                                        body="请查收。", attachments=photo, date=when(12, 6 + n)), when(12, 6 + n))
    setup.intake("poll", "--once")
    first, second = (row_id for row_id, in setup.query("SELECT id FROM message ORDER BY uid"))
    assert setup.query("SELECT unit FROM message") == [(None,), (None,)]
    units = setup.dir / "units.csv"  # the second sender is 东城's after all
    roster = units.read_text(encoding="utf-8-sig")
    units.write_text(roster.replace("dc-wmb@example.cn", "dc-wmb@example.cn;b2@qq.example"), encoding="utf-8-sig")

    # Each judgement waits (up to 3 s) for the other to have read the unit too, the worst interleaving.
    meet = threading.Barrier(2, timeout=3)
    judged = shell.unit_state

    def unit_state_then_meet(*args: Any, **kwargs: Any) -> Any:
        state = judged(*args, **kwargs)
        with contextlib.suppress(threading.BrokenBarrierError):
            meet.wait()
        return state

    monkeypatch.setattr(shell, "unit_state", unit_state_then_meet)
    config = load_config(setup.config)
    console, command = build(config), build(config)  # two processes' worth: the console and `intake reprocess`
    now = datetime.now(UTC)
    errors: list[BaseException] = []

    def run(action: Callable[[], object]) -> None:
        try:
            action()
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    both = [threading.Thread(target=run, args=(lambda: decisions.assign(console, first, "东城区文明办", "张三", now),)),
            threading.Thread(target=run, args=(lambda: decisions.reprocess(command, [second], "李四", now),))]
    for thread in both:
        thread.start()
    for thread in both:
        thread.join(timeout=60)
    assert errors == []

    dongcheng_rows = [(first, "东城区文明办"), (second, "东城区文明办")]
    assert setup.query("SELECT id, unit FROM message ORDER BY id") == dongcheng_rows
    counted = setup.query("SELECT count(*) FROM item WHERE unit = '东城区文明办' AND counted AND path IS NOT NULL")
    assert counted == [(1,)]
    dongcheng = next(u for u in setup.status()["units"] if u["name"] == "东城区文明办")
    assert dongcheng["counts"] == {"brief": 0, "photo": 1, "case_study": 0, "other": 0}


def test_postgresql_commits_with_the_durability_sqlite_has(postgres: PostgresCluster) -> None:
    """Asynchronous commit, as SQLite's WAL with synchronous=NORMAL: a killed worker loses nothing (the kill
    tests above), and no commit waits for a WAL flush beside the files' fsyncs."""
    from sqlalchemy import text

    from storage.db import make_engine

    engine = make_engine(postgres.create_database("sync"))
    try:
        with engine.connect() as c:
            assert c.execute(text("SHOW synchronous_commit")).scalar_one() == "off"
    finally:
        engine.dispose()
