"""The crash-safe order, proved with a real process killed at a chosen moment (tests/e2e/faults.py) against
Dovecot and an SMTP server on loopback.

- A message that kills the process while it is analysed (the OOM killer, a crash in a C library) is claimed
  first: each try is counted, after `limits.max_attempts` (5) it is set aside as failed and shown to staff, and every
  other message is processed and answered.
- A run killed between a message's commit and its mark on the server leaves the cursor past it: the next
  run marks it without fetching it again.
"""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.adapters.config_file import StorageConfig as Config
from bot.core.settings import Limits
from tests.e2e.faults import intake_with_fault
from tests.e2e.harness import Setup, write_config
from tests.e2e.servers import Dovecot, SmtpSink, append, fetch_flags
from tests.e2e.test_poll_e2e import TO, when
from tests.fixtures import clients
from tests.fixtures.files import make_docx, make_jpeg

MAX_ATTEMPTS = Limits().max_attempts
POISON = "poison-7f3a"  # in the Message-ID of the message that kills the process (raw bytes, unencoded)
KEYWORD = "$IntakeDone"


def submission(address: str, unit: str, subject: str, seed: int, message_id: str | None = None) -> bytes:
    return clients.foxmail(from_addr=address, from_name=unit, to=TO, subject=subject, body="请查收。",
                           message_id=message_id,
                           attachments=[(f"{unit}活动照片.jpg", make_jpeg(1_100_000, seed=seed)),
                                        (f"{unit}活动简报.docx", make_docx(f"{unit}活动简报"))],
                           date=when(12, 10))


def test_a_message_that_kills_the_process_while_analysed_is_set_aside_and_the_others_are_answered(
    tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    setup = Setup(tmp_path, write_config(tmp_path, dovecot, smtp_sink), tmp_path / "data", dovecot, smtp_sink)
    append(dovecot, submission("dc-wmb@example.cn", "东城区文明办", "东城区文明办报送材料", 1), when(12, 10))
    append(dovecot, submission("xc-wmb@example.cn", "西城区文明办", "西城区文明办报送材料", 2,
                                f"{POISON}@example.cn"), when(12, 10))
    append(dovecot, submission("nh-xcb@example.cn", "南湖县委宣传部", "南湖县委宣传部报送材料", 3), when(12, 10))

    codes = []
    start = datetime.now(UTC)
    for n in range(MAX_ATTEMPTS + 2):
        # On PostgreSQL a dead run's claim is taken over once its lease has run out (on SQLite at once): each
        # run comes a lease later than the one before.
        now = (start + n * timedelta(seconds=Config.claim_lease_seconds + 1)).isoformat()
        run = intake_with_fault("bot.office.intake.shell:analyse_raw", f"marker:{POISON}", setup.config,
                                "--now", now, "poll", "--once", cwd=tmp_path)
        codes.append(run.returncode)
        if run.returncode == 0:
            break
    # Killed at each of the attempts allowed, then set aside without being analysed again.
    assert codes == [-signal.SIGKILL] * MAX_ATTEMPTS + [0]

    messages = {m["subject"]: m for m in setup.status()["messages"]}
    poisoned = messages["西城区文明办报送材料"]
    assert (poisoned["status"], poisoned["from"], poisoned["files"], poisoned["replied"]) == (
        "needs_attention", "xc-wmb@example.cn", [], False)
    for subject in ("东城区文明办报送材料", "南湖县委宣传部报送材料"):
        assert (messages[subject]["status"], messages[subject]["replied"], len(messages[subject]["files"])) == (
            "accepted", True, 2)
    review = setup.intake_json("review", "--json")
    failed = [e for e in review if e["kind"] == "failed"]
    assert [(e["ref"], e["sender"]) for e in failed] == [(f"M{poisoned['id']}", "xc-wmb@example.cn")]
    assert f"gave up after {MAX_ATTEMPTS} interrupted attempts" in failed[0]["detail"]
    assert sorted(m.rcpt_tos for m in smtp_sink.messages) == [("dc-wmb@example.cn",), ("nh-xcb@example.cn",)]
    # Its raw bytes are kept, so a person can look at it and reprocess it after a fix.
    assert (setup.data / "raw").is_dir() and len(list((setup.data / "raw").rglob("*.eml"))) == 3
    # And the next run has nothing left to do.
    again = setup.intake("--now", (start + 10 * timedelta(seconds=Config.claim_lease_seconds)).isoformat(),
                         "poll", "--once")
    assert "本轮收取 0 封" in again.stdout


def test_a_run_killed_between_the_commit_and_the_mark_marks_the_message_next_time_without_fetching_it(
    tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    setup = Setup(tmp_path, write_config(tmp_path, dovecot, smtp_sink), tmp_path / "data", dovecot, smtp_sink)
    uid = append(dovecot, submission("dc-wmb@example.cn", "东城区文明办", "东城区文明办报送材料", 1), when(12, 10))

    killed = intake_with_fault("bot.office.poll:mark", f"once:{tmp_path / 'killed'}", setup.config,
                               "poll", "--once", cwd=tmp_path)
    assert killed.returncode == -signal.SIGKILL
    assert KEYWORD not in fetch_flags(dovecot)[uid]
    (stored,) = setup.status()["messages"]
    assert stored["status"] == "accepted"

    after = setup.intake("poll", "--once")
    assert "本轮收取 0 封" in after.stdout  # the cursor had passed it: not fetched, not processed again
    assert KEYWORD in fetch_flags(dovecot)[uid]
    (same,) = setup.status()["messages"]
    assert (same["id"], same["replied"]) == (stored["id"], True)
    assert len(smtp_sink.messages) == 1
