"""The outbox flusher on a real SQLite file: each row is sent by one flusher only."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.adapters.mailer import SendError
from bot.office.outbox import LEASE, flush_outbox, next_attempt
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
