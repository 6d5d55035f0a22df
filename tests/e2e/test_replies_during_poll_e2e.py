"""Replies leave while the poll goes on (bot/office/outbox.py, SendingAlongside): over a backlog, a unit hears
back soon after its mail is recorded, not after the last message. Proved in a real `intake poll --once` against
Dovecot and the SMTP sink: the analysis of the last of three messages waits (up to 10 s) for the sink to hold a
reply, and notes whether one came. Sent only after the poll, none could come."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.e2e.harness import Setup, intake_observed, write_config
from tests.e2e.servers import Dovecot, SmtpSink, append
from tests.e2e.test_crash_order_e2e import submission
from tests.e2e.test_poll_e2e import when

pytestmark = pytest.mark.any_database

LAST = "last-of-three"  # in the Message-ID of the last message

# The analysis of the message whose bytes hold observer_args[1] waits until the file observer_args[0] exists.
OBSERVER = """
import os, time
from bot.office.intake import shell

replied, marker = observer_args[0], observer_args[1].encode()
analyse = shell.analyse_raw

def waiting_analyse(raw, *args, **kwargs):
    if marker in raw:
        deadline = time.monotonic() + 10
        while not os.path.exists(replied) and time.monotonic() < deadline:
            time.sleep(0.01)
        seen.append(os.path.exists(replied))
    return analyse(raw, *args, **kwargs)

shell.analyse_raw = waiting_analyse
"""


def test_a_reply_leaves_while_later_messages_are_still_processed(
    tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    setup = Setup(tmp_path, write_config(tmp_path, dovecot, smtp_sink), tmp_path / "data", dovecot, smtp_sink)
    append(dovecot, submission("dc-wmb@example.cn", "东城区文明办", "东城区文明办报送材料", 1), when(12, 10))
    append(dovecot, submission("xc-wmb@example.cn", "西城区文明办", "西城区文明办报送材料", 2), when(12, 10))
    append(dovecot, submission("nh-xcb@example.cn", "南湖县委宣传部", "南湖县委宣传部报送材料", 3,
                               f"{LAST}@example.cn"), when(12, 10))
    replied = tmp_path / "replied"

    def watch() -> None:
        try:
            smtp_sink.wait_for(1, timeout=60)
        except TimeoutError:
            return
        replied.touch()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    run, seen = intake_observed(OBSERVER, [str(replied), LAST], setup.config, "poll", "--once", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert seen == [True]  # a reply had reached the sink before the last was analysed
    assert sorted(m["status"] for m in setup.status()["messages"]) == ["accepted"] * 3
    assert sorted(", ".join(m.rcpt_tos) for m in smtp_sink.messages) == [
        "dc-wmb@example.cn", "nh-xcb@example.cn", "xc-wmb@example.cn"]  # each once
