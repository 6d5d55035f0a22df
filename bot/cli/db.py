"""`intake db upgrade`: bring the database of a data folder made by an older release up to date, in place."""

from __future__ import annotations

import typer

from bot.adapters.templates import Templates
from bot.cli.app import app, console, load, words
from storage.db import make_engine
from storage.lock import AlreadyRunning, WorkerLock
from storage.schema import upgrade

db_app = typer.Typer(no_args_is_help=True, help="The database of the data folder.")
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def upgrade_cmd() -> None:
    """Upgrade the database schema to this release's, keeping every row (not while a worker runs)."""
    config = load()
    tx = Templates(config.templates_dir)
    lock = WorkerLock(config.storage.data_dir)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        console.print(words(tx, "already_running", pid=exc.holder), style="red")
        raise typer.Exit(3) from exc
    try:
        engine = make_engine(config.storage.database_url, prepare=False)
        before, now = upgrade(engine, config.campaigns[0].slug if config.campaigns else None)
        engine.dispose()
    finally:
        lock.release()
    code = "schema_current" if before == now else "schema_upgraded"
    console.print(words(tx, code, before=before or "-", now=now))
