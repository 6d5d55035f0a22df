"""The outbox flusher on a real SQLite file: each row is sent by one flusher only."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.adapters.mailer import SendError
from bot.office.outbox import LEASE, SendingAlongside, flush_outbox, next_attempt
from storage import tables as t
from storage.db import make_engine, session

NOW = datetime(2020, 12, 10, 2, 0, tzinfo=UTC)


class RecordingMailer:
    """Records what it sends; on its first send, another flusher (say a staff command) runs meanwhile."""

    def __init__(self, engine: object, sent: list[str]) -> None:
        self.engine = engine
        self.sent = sent
        self.interrupted = False

    def send(self, sender: str, recipient: str, raw: bytes, message_id: str) -> None:
        if not self.interrupted:
            self.interrupted = True
            flush_outbox(self.engine, RecordingMailer(self.engine, self.sent), sender, NOW)  # type: ignore[arg-type]
        self.sent.append(message_id)

    def close(self) -> None:
        pass


def outbox_of(rows: int, folder: Path) -> Engine:
    """A database whose outbox holds `rows` pending receipts with Message-IDs <0@x>, <1@x> …"""
    engine = make_engine(f"sqlite:///{folder / 'intake.db'}")
    with session(engine) as s:
        for i in range(rows):
            s.add(t.OutboxRow(kind="receipt", to_addr=f"u{i}@example.cn", subject="s", header_message_id=f"<{i}@x>",
                              raw=b"x", next_attempt_at=NOW, created_at=NOW))
        s.commit()
    return engine


def test_two_flushers_at_once_send_each_row_once(tmp_path: Path) -> None:
    engine = outbox_of(5, tmp_path)
    sent: list[str] = []
    flush_outbox(engine, RecordingMailer(engine, sent), "bot@example.cn", NOW)  # type: ignore[arg-type]
    assert sorted(sent) == [f"<{i}@x>" for i in range(5)]
    with session(engine) as s:
        assert [r.state for r in s.exec(select(t.OutboxRow)).all()] == ["sent"] * 5


class RefusingAfter:
    """Accepts `accept` mails, then answers 451 (a server that became unwell)."""

    def __init__(self, accept: int) -> None:
        self.accept = accept
        self.sent: list[str] = []

    def send(self, sender: str, recipient: str, raw: bytes, message_id: str) -> None:
        if len(self.sent) >= self.accept:
            raise SendError("451 try later", permanent=False)
        self.sent.append(message_id)

    def close(self) -> None:
        pass


def test_a_batch_records_each_sent_row_with_its_lease_and_the_refused_one_with_its_retry_time(tmp_path: Path) -> None:
    engine = outbox_of(40, tmp_path)
    mailer = RefusingAfter(accept=30)
    report = flush_outbox(engine, mailer, "bot@example.cn", NOW)  # type: ignore[arg-type]
    assert (report.sent, report.deferred) == (30, 1)
    with session(engine) as s:
        rows = s.exec(select(t.OutboxRow).order_by(t.OutboxRow.id)).all()
    assert [(r.state, r.attempts, r.next_attempt_at) for r in rows[:30]] == [("sent", 1, NOW + LEASE)] * 30
    assert (rows[30].state, rows[30].attempts, rows[30].next_attempt_at) == ("pending", 1, next_attempt(NOW, 1))
    assert [(r.state, r.attempts, r.next_attempt_at) for r in rows[31:]] == [("pending", 0, NOW)] * 9


class SlowMailer(RefusingAfter):
    """RefusingAfter that also records closes and the threads it sent from."""

    def __init__(self, accept: int) -> None:
        super().__init__(accept)
        self.closes = 0
        self.threads: set[str] = set()

    def send(self, sender: str, recipient: str, raw: bytes, message_id: str) -> None:
        self.threads.add(threading.current_thread().name)
        super().send(sender, recipient, raw, message_id)

    def close(self) -> None:
        self.closes += 1


def queue_more(engine: Engine, first: int, count: int) -> None:
    with session(engine) as s:
        for i in range(first, first + count):
            s.add(t.OutboxRow(kind="receipt", to_addr=f"u{i}@example.cn", subject="s", header_message_id=f"<{i}@x>",
                              raw=b"x", next_attempt_at=NOW, created_at=NOW))
        s.commit()


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_sending_alongside_sends_while_the_caller_works_over_one_connection(tmp_path: Path) -> None:
    engine = outbox_of(3, tmp_path)
    mailer = SlowMailer(accept=100)
    with SendingAlongside(engine, mailer, "bot@example.cn", lambda: NOW, interval=0.05) as sending:
        assert wait_until(lambda: len(mailer.sent) == 3)  # sent before the caller is done
        queue_more(engine, 3, 2)
        assert wait_until(lambda: len(mailer.sent) == 5)
        assert mailer.closes == 0  # one connection across the passes
        assert mailer.threads == {"outbox"}
    assert mailer.sent == [f"<{i}@x>" for i in range(5)]  # each once, in order
    assert (sending.report.sent, sending.report.deferred, sending.report.failed) == (5, 0, 0)
    assert mailer.closes == 1
    with session(engine) as s:
        assert [r.state for r in s.exec(select(t.OutboxRow)).all()] == ["sent"] * 5


def test_sending_alongside_sends_what_is_left_at_the_end_on_the_callers_thread(tmp_path: Path) -> None:
    engine = outbox_of(2, tmp_path)
    mailer = SlowMailer(accept=100)
    with SendingAlongside(engine, mailer, "bot@example.cn", lambda: NOW, interval=60) as sending:
        queue_more(engine, 2, 1)
        time.sleep(0.2)
        assert mailer.sent == []  # the thread's first pass is a minute away
    assert mailer.sent == ["<0@x>", "<1@x>", "<2@x>"]
    assert mailer.threads == {threading.current_thread().name}
    assert sending.report.sent == 3
    assert mailer.closes == 1


def test_sending_alongside_stops_for_the_cycle_once_the_server_defers(tmp_path: Path) -> None:
    engine = outbox_of(4, tmp_path)
    mailer = SlowMailer(accept=2)
    with SendingAlongside(engine, mailer, "bot@example.cn", lambda: NOW, interval=0.05) as sending:
        assert wait_until(lambda: sending.report.deferred == 1)
        time.sleep(0.3)  # passes that would have come: none does
    assert mailer.sent == ["<0@x>", "<1@x>"]
    assert (sending.report.sent, sending.report.deferred) == (2, 1)  # no last pass after the deferral
    assert mailer.closes == 1
    with session(engine) as s:
        rows = s.exec(select(t.OutboxRow).order_by(t.OutboxRow.id)).all()
    assert [(r.state, r.attempts) for r in rows] == [("sent", 1), ("sent", 1), ("pending", 1), ("pending", 0)]
    assert rows[2].next_attempt_at == next_attempt(NOW, 1)


def test_sending_alongside_sends_nothing_more_when_the_caller_fails(tmp_path: Path) -> None:
    engine = outbox_of(0, tmp_path)
    mailer = SlowMailer(accept=100)
    with pytest.raises(RuntimeError, match="poll failed"), \
            SendingAlongside(engine, mailer, "bot@example.cn", lambda: NOW, interval=60) as sending:
        queue_more(engine, 0, 2)
        raise RuntimeError("poll failed")
    assert mailer.sent == []  # the next cycle sends them
    assert sending.report.sent == 0
    assert mailer.closes == 1
