"""One message ahead: while a message is processed, the next one's bytes arrive (office/poll.py), and no more
than that one. Proved in a real `intake poll --once` against Dovecot: the analysis of the first message waits
(up to 10 s) for the second to arrive, then notes which had arrived. Without the prefetch the second never
comes while the first is analysed; with an unbounded one, the third would have come too."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import Setup, intake_observed, write_config
from tests.e2e.servers import Dovecot, SmtpSink, append
from tests.e2e.test_crash_order_e2e import submission
from tests.e2e.test_poll_e2e import when

pytestmark = pytest.mark.any_database  # working alone is what prefetches: the SQLite pass

FIRST = "first-of-three"  # in the Message-ID of the first message

# Counts the fetches; the analysis of the message whose bytes hold observer_args[0] waits for the second.
OBSERVER = """
import time
from bot.adapters import mailbox
from bot.office.intake import shell

marker = observer_args[0].encode()
arrived = []
fetch = mailbox.ImapMailbox.fetch

def counted_fetch(self, uid):
    result = fetch(self, uid)
    arrived.append(uid)
    return result

analyse = shell.analyse_raw

def waiting_analyse(raw, *args, **kwargs):
    if marker in raw:
        deadline = time.monotonic() + 10
        while len(arrived) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.5)  # room for a third fetch, were there one
        seen.append(list(arrived))
    return analyse(raw, *args, **kwargs)

mailbox.ImapMailbox.fetch = counted_fetch
shell.analyse_raw = waiting_analyse
"""


def test_the_next_message_arrives_while_one_is_processed_and_only_the_next(
    tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    setup = Setup(tmp_path, write_config(tmp_path, dovecot, smtp_sink), tmp_path / "data", dovecot, smtp_sink)
    append(dovecot, submission("dc-wmb@example.cn", "东城区文明办", "东城区文明办报送材料", 1,
                               f"{FIRST}@example.cn"), when(12, 10))
    append(dovecot, submission("xc-wmb@example.cn", "西城区文明办", "西城区文明办报送材料", 2), when(12, 10))
    append(dovecot, submission("nh-xcb@example.cn", "南湖县委宣传部", "南湖县委宣传部报送材料", 3), when(12, 10))
    run, seen = intake_observed(OBSERVER, [FIRST], setup.config, "poll", "--once", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert seen == [[1, 2]]  # the second had arrived, the third had not
    assert sorted(m["status"] for m in setup.status()["messages"]) == ["accepted"] * 3
    assert len(smtp_sink.messages) == 3
