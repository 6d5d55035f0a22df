"""Claims in the ledger as several workers see them, on a real SQLite file (the e2e tests run them on
PostgreSQL with real processes): a claim taken before the bytes are read, passed over while its lease runs,
taken over after it, a worker that lost its claim committing nothing, and a cursor that never passes a
message still claimed."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select, update

from bot.adapters.templates import Templates
from bot.core.pipeline import Context
from bot.core.render.outgoing import Identity
from bot.office.intake.ledger import Claimant, Source, provisional_key
from bot.office.intake.shell import Intake
from storage import tables as t
from storage.db import make_engine, session
from storage.files import FileStore, sha256_hex
from tests.unit.test_intake import CAMPAIGN, NOW, RAW, RECEIVED, ROSTER

LEASE = timedelta(minutes=10)


@pytest.fixture
def base(tmp_path: Path) -> Intake:
    """The intake of a worker alone on a SQLite data folder."""
    engine = make_engine(f"sqlite:///{tmp_path / 'intake.db'}")
    return Intake(Context((CAMPAIGN,), ROSTER, ("bot@163.example",)), engine, FileStore(tmp_path), Templates(),
                  Identity("bot@163.example", "材料收集"))


def worker(base: Intake, name: str) -> Intake:
    """Another worker on the same database and folder, sharing it with others (not alone)."""
    return Intake(base.ctx, base.engine, base.store, base.templates, base.identity,
                  claimant=Claimant(name, LEASE, alone=False))


def cursor(base: Intake) -> int | None:
    with session(base.engine) as s:
        row = s.get(t.CursorRow, "INBOX")
        return row.last_uid if row is not None else None


def message(base: Intake, uid: int) -> t.MessageRow:
    with session(base.engine) as s:
        row = s.exec(select(t.MessageRow).where(t.MessageRow.uid == uid)).one()
        return row


def source(uid: int) -> Source:
    return Source("INBOX", 7, uid, in_mailbox=True)


def test_a_claim_is_passed_over_while_its_lease_runs_and_taken_over_after(base: Intake) -> None:
    a, b = worker(base, "host-a:1"), worker(base, "host-a:2")
    held = a.claim(source(1), provisional_key(source(1)), NOW)
    assert held.row is not None and (held.row.worker, held.row.attempts) == ("host-a:1", 1)
    assert held.row.lease_until == NOW + LEASE
    busy = b.claim(source(1), provisional_key(source(1)), NOW + LEASE - timedelta(seconds=1))
    assert (busy.row, busy.done) == (None, None)  # a's, still
    taken = b.claim(source(1), provisional_key(source(1)), NOW + LEASE + timedelta(seconds=1))
    assert taken.row is not None and (taken.row.worker, taken.row.attempts) == ("host-a:2", 2)
    result = b.process(RAW, RECEIVED, source(1), NOW + LEASE, taken)
    assert result is not None and result.state == "stored" and taken.row.attempts == 2
    done = a.claim(source(1), provisional_key(source(1)), NOW + 2 * LEASE)
    assert done.row is None and done.done is not None and done.done.state == "stored"


def test_a_worker_whose_claim_was_taken_over_commits_nothing(base: Intake) -> None:
    a, b = worker(base, "host-a:1"), worker(base, "host-b:1")
    slow = a.claim(source(1), provisional_key(source(1)), NOW)
    later = NOW + LEASE + timedelta(minutes=1)
    fast = b.claim(source(1), provisional_key(source(1)), later)
    assert fast.row is not None
    assert a.process(RAW, RECEIVED, source(1), NOW, slow) is None  # rolled back: b holds it
    with session(base.engine) as s:
        assert s.exec(select(t.OutboxRow)).all() == [] and s.exec(select(t.ItemRow)).all() == []
        assert s.exec(select(t.MessageRow.state, t.MessageRow.worker)).all() == [("claimed", "host-b:1")]
    result = b.process(RAW, RECEIVED, source(1), later, fast)
    assert result is not None and result.state == "stored"
    with session(base.engine) as s:
        assert len(s.exec(select(t.OutboxRow)).all()) == 1


def test_alone_on_sqlite_a_claimed_row_is_a_dead_runs_and_taken_at_once(base: Intake) -> None:
    dead = worker(base, "host:1").claim(source(1), provisional_key(source(1)), NOW)
    assert dead.row is not None
    assert base.claimant.alone
    again = base.claim(source(1), provisional_key(source(1)), NOW + timedelta(seconds=1))
    assert again.row is not None and again.row.attempts == 2


def test_a_claim_taken_ahead_counts_no_attempt_and_is_given_back_as_found(base: Intake) -> None:
    """The poll claims the next message while this one is processed; a crash in this one must not use up the
    next one's attempts, and a poll that stops early hands the next claim back."""
    ahead = base.claim(source(2), provisional_key(source(2)), NOW, ahead=True)
    assert ahead.row is not None and ahead.row.attempts == 0
    base.give_back(ahead)  # never worked on: gone, as if never claimed
    with session(base.engine) as s:
        assert s.exec(select(t.MessageRow)).all() == []
    again = base.claim(source(2), provisional_key(source(2)), NOW, ahead=True)
    assert again.row is not None
    with session(base.engine) as s:  # an earlier run worked on it once and died
        s.exec(update(t.MessageRow).values(attempts=1, worker="host:1"))  # type: ignore[call-overload]
        s.commit()
    dead = base.claim(source(2), provisional_key(source(2)), NOW, ahead=True)
    assert dead.row is not None and dead.row.attempts == 1
    base.give_back(dead)
    with session(base.engine) as s:
        assert s.exec(select(t.MessageRow.attempts, t.MessageRow.state, t.MessageRow.lease_until)).all() == [
            (1, "claimed", None)]
    turn = base.claim(source(2), provisional_key(source(2)), NOW, ahead=True)
    result = base.process(RAW, RECEIVED, source(2), NOW, turn)  # its turn: the attempt counted now
    assert result is not None and result.state == "stored" and turn.row is not None and turn.row.attempts == 2


def test_a_claim_whose_bytes_never_arrived_is_given_back_uncounted(base: Intake) -> None:
    """The connection failed before the message was read: its claim is free at once, and the attempt the claim
    counted is taken back (a fetch that fails is not a crash of the message's work)."""
    fresh = base.claim(source(3), provisional_key(source(3)), NOW)
    assert fresh.row is not None and fresh.row.attempts == 1
    base.give_back(fresh)
    with session(base.engine) as s:
        assert s.exec(select(t.MessageRow)).all() == []  # never worked on: as if never claimed
    with session(base.engine) as s:  # an earlier run worked on it once and died; a worker of another host
        base.claim(source(3), provisional_key(source(3)), NOW)
        s.exec(update(t.MessageRow).values(attempts=1, worker="host:1", lease_until=None))  # type: ignore[call-overload]
        s.commit()
    other = worker(base, "b:1")
    taken = other.claim(source(3), provisional_key(source(3)), NOW)
    assert taken.row is not None and taken.row.attempts == 2
    other.give_back(taken)
    with session(base.engine) as s:
        assert s.exec(select(t.MessageRow.attempts, t.MessageRow.state, t.MessageRow.lease_until)).all() == [
            (1, "claimed", None)]


def test_the_cursor_never_passes_a_message_still_claimed(base: Intake) -> None:
    a, b = worker(base, "a:1"), worker(base, "b:1")
    held = a.claim(source(1), provisional_key(source(1)), NOW)
    assert held.row is not None
    unrelated = RAW.replace("东城区报送".encode(), b"lunch")  # any mail: the cursor is what counts here
    for uid in (2, 3):
        claim = b.claim(source(uid), provisional_key(source(uid)), NOW)
        assert b.process(unrelated if uid == 3 else RAW, RECEIVED, source(uid), NOW, claim) is not None
    assert cursor(base) == 0  # 2 and 3 are done, 1 is not
    assert a.process(RAW, RECEIVED, source(1), NOW, held) is not None
    assert cursor(base) == 3  # past everything done above it too
    assert [message(base, uid).lease_until for uid in (1, 2, 3)] == [None, None, None]


def test_a_message_gone_before_it_was_read_leaves_no_claim(base: Intake) -> None:
    a = worker(base, "a:1")
    claim = a.claim(source(4), provisional_key(source(4)), NOW)
    a.release(claim)
    with session(base.engine) as s:
        assert s.exec(select(t.MessageRow)).all() == []


def test_beside_other_workers_the_sweep_spares_young_files(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    old, young = tmp_path / "idv" / "u" / "photo" / "old.jpg", tmp_path / "idv" / "u" / "photo" / "young.jpg"
    for path in (old, young):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    past = time.time() - 3600
    os.utime(old, (past, past))
    removed = store.sweep("idv", set(), before=datetime.now(UTC) - timedelta(minutes=10))
    assert removed == ["idv/u/photo/old.jpg"]
    assert young.exists() and not old.exists()
    assert store.sweep("idv", set()) == ["idv/u/photo/young.jpg"]  # alone: every unreferenced file


def test_placing_a_file_again_makes_it_young(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    relative = store.place(("idv", "u", "photo"), "a.jpg", b"data", sha256_hex(b"data"))
    path = tmp_path / relative
    past = time.time() - 3600
    os.utime(path, (past, past))
    assert store.place(("idv", "u", "photo"), "a.jpg", b"data", sha256_hex(b"data")) == relative
    assert path.stat().st_mtime > past + 3000


@pytest.mark.parametrize("shared", [False, True])
def test_the_folder_lock_is_taken_only_on_sqlite(tmp_path: Path, shared: bool) -> None:
    from storage.lock import AlreadyRunning, WorkerLock

    with WorkerLock(tmp_path, shared=shared):
        second = WorkerLock(tmp_path, shared=shared)
        if shared:
            second.acquire()
            second.release()
        else:
            with pytest.raises(AlreadyRunning):
                second.acquire()


def test_storage_shared_only_for_a_database_server() -> None:
    from bot.adapters.config_file import StorageConfig

    sqlite = StorageConfig(Path("data"), "sqlite:///data/base.db")
    assert not sqlite.shared
    assert replace(sqlite, database_url="postgresql+psycopg://intake@db/intake").shared
