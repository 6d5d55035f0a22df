"""`intake db upgrade`: bring the database of a data folder made by an older release up to date, in place;
`intake db copy --to URL`: copy it whole to another, empty database (SQLite to PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.adapters.templates import Templates
from bot.cli.app import app, console, load, words
from storage.db import make_engine
from storage.lock import AlreadyRunning, WorkerLock
from storage.schema import upgrade

db_app = typer.Typer(no_args_is_help=True, help="The database of the data folder.")
app.add_typer(db_app, name="db")


def folder_lock(data_dir: Path, tx: Templates) -> WorkerLock:
    """The data folder's worker lock, or exit 3 saying who holds it: the database changes under no worker."""
    lock = WorkerLock(data_dir)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        console.print(words(tx, "already_running", pid=exc.holder), style="red")
        raise typer.Exit(3) from exc
    return lock


@db_app.command("upgrade")
def upgrade_cmd() -> None:
    """Upgrade the database schema to this release's, keeping every row (not while a worker runs)."""
    config = load()
    tx = Templates(config.templates_dir)
    lock = folder_lock(config.storage.data_dir, tx)
    try:
        engine = make_engine(config.storage.database_url, prepare=False)
        before, now = upgrade(engine, config.campaigns[0].slug if config.campaigns else None)
        engine.dispose()
    finally:
        lock.release()
    code = "schema_current" if before == now else "schema_upgraded"
    console.print(words(tx, code, before=before or "-", now=now))


@db_app.command("copy")
def copy_cmd(
    to: Annotated[str, typer.Option("--to", help="The empty database to copy into, e.g. "
                                                 "postgresql+psycopg://intake@db.example/intake")],
) -> None:
    """Copy every row of the data folder's database into an empty one (not while a worker runs); then point
    storage.database_url at it. The data folder's files stay where they are."""
    from sqlalchemy.exc import ArgumentError, OperationalError

    from storage.copy import CopyRefused, copy_database

    config = load()
    tx = Templates(config.templates_dir)
    lock = folder_lock(config.storage.data_dir, tx)
    try:
        source = make_engine(config.storage.database_url)
        copied = copy_database(source, to)
        source.dispose()
    except CopyRefused as exc:
        console.print(words(tx, f"db_copy_{exc.code}", **exc.params), style="red")
        raise typer.Exit(2) from exc
    except (OperationalError, ArgumentError) as exc:
        console.print(words(tx, "db_copy_refused", error=str(exc).splitlines()[0]), style="red")
        raise typer.Exit(2) from exc
    finally:
        lock.release()
    console.print(words(tx, "db_copied", rows=copied.rows, tables=len(copied.tables),
                        detail="、".join(f"{name} {count}" for name, count in copied.tables.items() if count)))
