"""Database engine and sessions. Built by the wiring code, never at import time."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Select, event, select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, create_engine

from storage import tables  # noqa: F401  (registers the tables on SQLModel.metadata)


def make_engine(url: str, prepare: bool = True) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and foreign keys, PostgreSQL asynchronous commits
    (the same durability). With `prepare`, a new database
    is created at the schema's latest version and an older one refused (storage/schema.py)."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
    elif url.startswith("postgresql"):
        # The durability SQLite has above (WAL, synchronous=NORMAL): a transaction is never half applied, a
        # killed worker loses nothing, and only a crash of the database server's machine may lose the last
        # commits (the message is then processed again). Without it every commit waits for a WAL flush, which
        # competes with the fsync of the files on the same disk.
        engine = create_engine(url, connect_args={"options": "-c synchronous_commit=off"})
    else:
        engine = create_engine(url)
    if prepare:
        from storage.schema import prepare as prepare_schema

        prepare_schema(engine)
    return engine


def database_exists(url: str) -> bool:
    """Whether the database at `url` is there already (a SQLite file that exists; any other server is)."""
    if not url.startswith("sqlite:///"):
        return url != "sqlite://"
    path = url.removeprefix("sqlite:///")
    return bool(path) and path != ":memory:" and Path(path).exists()


def session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)


def advisory_lock(s: Session, name: str) -> None:
    """Hold the lock called `name` until the session's transaction ends, across processes and machines: a
    PostgreSQL advisory lock. SQLite needs none: one worker, and one writer at a time."""
    if s.get_bind().dialect.name == "postgresql":
        s.connection().execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"), {"name": name})


@contextmanager
def held(engine: Engine, name: str) -> Iterator[None]:
    """Hold the lock called `name` for the block, across processes: on PostgreSQL a session advisory lock on
    a connection of its own; SQLite needs none (one worker; its writers wait on the database lock)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as connection:
        key = {"name": name}
        connection.execute(text("SELECT pg_advisory_lock(hashtextextended(:name, 0))"), key)
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(hashtextextended(:name, 0))"), key)
            connection.commit()


def plain(table: type[SQLModel], *only: str) -> Select[Any]:
    """SELECT the columns of `table` named in `only` (default: every one) as light rows with the same
    attribute names: reports read tens of thousands of rows, and building a model instance for each costs
    ten times more than the query."""
    columns = table.__table__.columns  # type: ignore[attr-defined]
    return select(*([columns[name] for name in only] if only else columns))


@contextmanager
def collector_paused() -> Iterator[None]:
    """No garbage collection while a report builds tens of thousands of small dicts that all live to its
    end: the collector would walk them again and again for nothing (a fifth of the report's time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
