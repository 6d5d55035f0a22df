"""The `intake` command's shared parts: the Typer app, the console, the global options and opening the
application. Each group of commands lives in its own module of this package and registers itself on `app`;
bot/cli/main.py imports them all. Staff-facing words come from the message catalogue."""

from __future__ import annotations

import getpass
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from bot.adapters.config_file import Config, ConfigError, load_config
from bot.adapters.templates import Templates
from bot.bootstrap import App, build, system_clock
from bot.core.roster import RosterError
from storage.lock import AlreadyRunning, WorkerLock
from storage.schema import SchemaOutOfDate

if TYPE_CHECKING:
    from bot.office.outbox import FlushReport

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Email intake bot for report campaigns.")
console = Console(soft_wrap=True)
if not console.is_terminal:  # piped or captured: rich would assume 80 columns and cut Chinese names
    console = Console(soft_wrap=True, width=160)


class State:
    config_path: Path = Path("config.toml")
    now: datetime | None = None

    def clock(self) -> datetime:
        return (self.now or system_clock()).astimezone(UTC)  # the database keeps UTC


state = State()


@app.callback()
def main_options(
    config: Annotated[Path, typer.Option("--config", "-c", help="TOML config file")] = Path("config.toml"),
    now: Annotated[str | None, typer.Option(help="Pretend the time is this ISO moment", hidden=True)] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("mailparser").setLevel(logging.ERROR)  # it warns about every part it does not handle
    state.config_path = config
    state.now = parse_moment(now) if now else None


By = Annotated[str | None, typer.Option("--by", help="Who is making the change (kept in the history); "
                                                     "default: $INTAKE_STAFF or the login name")]


def actor(by: str | None) -> str:
    if by:
        return by
    try:
        return os.environ.get("INTAKE_STAFF") or getpass.getuser()
    except (KeyError, OSError):
        return "staff"


def parse_moment(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO date-time: {value!r}") from exc
    if moment.tzinfo is None:
        raise typer.BadParameter(f"give a time zone offset, e.g. {value}+08:00")
    return moment


def words(templates: Templates, code: str, **params: Any) -> str:
    return templates.text("cli", code, **params)


def load(config_path: Path | None = None) -> Config:
    try:
        return load_config(config_path or state.config_path)
    except ConfigError as exc:
        console.print(words(Templates(), "config_error", error=str(exc)), style="red")
        raise typer.Exit(2) from exc


def open_app(config: Config | None = None) -> App:
    config = config or load()
    try:
        return build(config)
    except RosterError as exc:
        console.print(words(Templates(config.templates_dir), "roster_error", error=str(exc)), style="red")
        raise typer.Exit(2) from exc
    except OSError as exc:
        console.print(words(Templates(config.templates_dir), "roster_error", error=str(exc)), style="red")
        raise typer.Exit(2) from exc
    except SchemaOutOfDate as exc:
        console.print(words(Templates(config.templates_dir), "schema_out_of_date", current=exc.current or "-",
                            head=exc.head), style="red")
        raise typer.Exit(2) from exc


def worker_lock(application: App, section: str = "cli", refused: str = "already_running") -> WorkerLock | None:
    """The data folder's worker lock (one worker on a SQLite database), or None after saying, in the
    catalogue's words ([section] refused), that another holds it. On a database server several workers may
    run at once: the ledger's claims, the outbox's leases and the reminder ledger keep them apart, and the
    lock is not taken."""
    lock = WorkerLock(application.config.storage.data_dir, shared=application.config.storage.shared)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        console.print(application.templates.text(section, refused, pid=exc.holder), style="red")
        return None
    return lock


def worker_lock_or_exit(application: App) -> WorkerLock:
    """The worker lock, or exit 3: on SQLite, `run`, `poll` and `import` must not run beside a worker."""
    lock = worker_lock(application)
    if lock is None:
        raise typer.Exit(3)
    return lock


def flush_words(report: FlushReport) -> dict[str, int]:
    return {"sent": report.sent, "deferred": report.deferred, "send_failed": report.failed}
