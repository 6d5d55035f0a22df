"""Crash safety: `intake poll --once` killed with SIGKILL at random moments, again and again, over a mailbox
that collects for two campaigns at once.

At the end every message is stored exactly once, under the campaign it was routed to (or kept unsorted and
its unit asked), no partial file is left, every message that deserves a reply got one, and duplicate replies
are counted (the only window that can double a reply is between the SMTP server's acceptance and the outbox
record).
"""

from __future__ import annotations

import collections
import json
import random
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.office.outbox import LEASE
from tests.e2e.harness import INTAKE, Setup, write_config
from tests.e2e.servers import Dovecot, SmtpSink, append
from tests.e2e.test_poll_e2e import TO, when
from tests.fixtures import archives, clients
from tests.fixtures.files import make_docx, make_jpeg

UNITS = [("dc-wmb@example.cn", "东城区文明办"), ("xc-wmb@example.cn", "西城区文明办"),
         ("nh-xcb@example.cn", "南湖县委宣传部"), ("zyfw@example.cn", "市志愿服务指导中心")]
KILLS = 20
COUNT = 50
# A second campaign beside the harness's idv-2020, open at the same time, asking 西城区文明办 and
# 市志愿服务指导中心: 西城's mail naming it goes there, its mail naming neither is kept and the unit asked.
CASE = """
[[campaigns]]
name = "志愿服务典型案例征集"
slug = "case-2020"
opens = 2020-12-03T00:00:00+08:00
deadline = 2021-01-08T18:00:00+08:00
required = ["case_study"]
units = ["西城区文明办", "市志愿服务指导中心"]
keywords = ["典型案例"]
"""


def subject(i: int) -> str:
    unit = UNITS[i % len(UNITS)][1]
    return f"{unit}报送材料（第{i}批）" + ("·典型案例" if i % 8 == 1 else "")


def routed(i: int) -> tuple[str | None, str]:
    """Where message i is filed, and why: 西城 (asked by both) by its words or asked; 市志愿服务指导中心 by the
    first campaign's keyword 志愿 in its name; the others are asked only by the first campaign."""
    if i % 8 == 1:
        return "case-2020", "keyword:subject"
    if i % 8 == 5:
        return None, "ask:several-open"
    if i % 4 == 3:
        return "idv-2020", "keyword:subject"
    return "idv-2020", "only-open"


def mailbox(count: int) -> list[bytes]:
    writers = [clients.foxmail, clients.netease_webmail, clients.outlook, clients.iphone]
    mails = []
    for i in range(count):
        address, unit = UNITS[i % len(UNITS)]
        files = [(f"{unit}活动照片{i}.jpg", make_jpeg(1_100_000, seed=100 + i))]
        if i % 3 == 0:
            files.append((f"{unit}活动简报{i}.docx", make_docx(f"{unit}活动简报{i}")))
        if i % 5 == 0:
            files.append((f"材料{i}.zip", archives.windows_zip({f"典型事例/事例{i}.docx": make_docx("典型事例")})))
        if i % 7 == 0:
            files.append((f"小图{i}.jpg", make_jpeg(200_000, width=640, height=480, seed=300 + i)))
        mails.append(writers[i % len(writers)](
            from_addr=address, from_name=unit, to=TO, subject=subject(i), body="请查收。",
            attachments=files, date=when(12, 5 + i % 20)))
    mails.append(clients.plain_mail(from_addr="friend@qq.example", from_name="朋友", to=TO, subject="周末聚餐",
                                    body="有空吗", date=when(12, 9)))
    return mails


def test_killed_at_random_moments_every_message_is_stored_once_and_answered(
    tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    rng = random.Random(20201231)
    config = write_config(tmp_path, dovecot, smtp_sink)
    with config.open("a", encoding="utf-8") as handle:  # each address sends a dozen mails or more here
        handle.write("\n[replies]\nmax_per_sender = 100\nmax_same_subject = 100\n")
        # The kills land near the end of start-up, while the first message of a run is worked on, so one
        # message can be hit several times by chance: allow more interrupted tries than there are kills (a
        # message that kills the process itself is set aside after limits.max_attempts: test_crash_order_e2e).
        handle.write("\n[limits]\nmax_attempts = 100\n")
    # On PostgreSQL a killed run's claim is taken over, and its leftovers swept, once the lease has run out:
    # one second here, as on SQLite, where both happen at the next run.
    text = config.read_text(encoding="utf-8").replace("[storage]\n", "[storage]\nclaim_lease_seconds = 1\n")
    config.write_text(text.replace("[campaign]\n", "[[campaigns]]\n") + CASE, encoding="utf-8")
    setup = Setup(tmp_path, config, tmp_path / "data", dovecot, smtp_sink)
    pool = mailbox(COUNT + 150)  # runs that finish before their kill get more work: the kills keep landing
    unrelated, campaign = pool[-1], pool[:-1]
    append(dovecot, unrelated, when(12, 9))
    appended = 0

    def add(n: int) -> None:
        nonlocal appended
        for index in range(appended, min(appended + n, len(campaign))):
            append(dovecot, campaign[index], when(12, 5 + index % 20))
        appended = min(appended + n, len(campaign))

    setup.intake("poll", "--once")  # creates the database
    add(COUNT)
    # The kills must land inside runs, whatever this machine's speed and load: each run is killed a random
    # moment (up to half a second) after it has claimed its first message.
    kills, finished = 0, []
    while kills < KILLS:
        errors = tmp_path / f"run-{kills}-{len(finished)}.err"
        with errors.open("wb") as stderr:
            proc = subprocess.Popen([str(INTAKE), "--config", str(setup.config), "poll", "--once"], cwd=tmp_path,
                                    stdout=subprocess.DEVNULL, stderr=stderr)
            while proc.poll() is None and not setup.query(
                    rf"SELECT 1 FROM message WHERE worker LIKE '%\:{proc.pid}'"):  # host:pid
                time.sleep(0.02)
            time.sleep(rng.uniform(0, 0.5))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait()
        if proc.returncode != -signal.SIGKILL:  # the run ended on its own: it must have ended well
            assert proc.returncode == 0, errors.read_text(encoding="utf-8", errors="replace")
            finished.append(appended)
            assert appended < len(campaign), f"{kills} kills in {len(finished)} whole runs"
            add(25)  # give it more work, so the kills keep landing mid-run
    assert kills == KILLS

    # Let it finish once the outbox lease is over: a run killed between claiming a reply and recording it
    # leaves that row leased (bot.office.outbox.LEASE), sent again only after the lease.
    later = (datetime.now(UTC) + LEASE + timedelta(minutes=1)).isoformat()
    setup.intake("--now", later, "poll", "--once")
    setup.intake("--now", later, "poll", "--once")  # and a quiet run after that changes nothing

    status = setup.status()
    messages = [m for report in status["campaigns"] for m in report["messages"]] + status["unsorted"]
    assert len(messages) == appended
    assert [m["status"] for m in messages].count("duplicate") == 0
    assert sorted((m["subject"], m["campaign"], m["campaign_reason"]) for m in messages) == sorted(
        (subject(i), *routed(i)) for i in range(appended))
    assert [r["campaign"]["unrelated_seen"] for r in status["campaigns"]] == [1, 1]
    assert_every_file_once(setup, messages, appended)
    # Every message deserving a reply got one; duplicates (accepted by SMTP, not yet recorded) are counted.
    assert all(m["replied"] for m in messages)
    assert sorted(m["reply"] for m in status["unsorted"]) == ["ask_campaign"] * sum(
        routed(i)[0] is None for i in range(appended))
    answered = collections.Counter(parse_in_reply_to(m.data) for m in smtp_sink.messages)
    assert len(answered) == appended
    duplicates = sum(n - 1 for n in answered.values())
    assert duplicates <= kills
    print(json.dumps({"messages": appended, "kills": kills, "whole_runs": len(finished),
                      "replies": len(smtp_sink.messages), "duplicate_replies": duplicates}))


def assert_every_file_once(setup: Setup, messages: list[dict[str, Any]], count: int) -> None:
    """Every file of the first `count` mails of `mailbox` stored once: rows and disk agree, nothing partial."""
    paths = [f["path"] for m in messages for f in m["files"] if f["path"]]
    assert len(paths) == len(set(paths))
    on_disk = sorted(str(p.relative_to(setup.data)) for top in ("idv-2020", "case-2020", "未归类")
                     for p in (setup.data / top).rglob("*") if p.is_file())
    assert on_disk == sorted(paths)
    assert not list(setup.data.rglob(".tmp-*"))
    expected_files = sum(1 + (i % 3 == 0) + (i % 5 == 0) + (i % 7 == 0) for i in range(count))
    assert sum(len(m["files"]) for m in messages) == expected_files


def parse_in_reply_to(data: bytes) -> str:
    for line in data.split(b"\r\n"):
        if line.lower().startswith(b"in-reply-to:"):
            return line.split(b":", 1)[1].strip().decode()
    return ""
