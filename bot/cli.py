"""The `intake` command. Staff-facing words come from the message catalogue."""

from __future__ import annotations

import gc
import json
import logging
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from bot.bootstrap import App, build, system_clock
from bot.config import Config, ConfigError, load_config
from bot.model import CATEGORIES
from bot.render import Templates
from bot.roster import RosterError, load_roster
from bot.status import status_report, unit_report
from storage.lock import AlreadyRunning, WorkerLock

if TYPE_CHECKING:
    from bot.outbox import FlushReport

# The mail pipeline (parser, archives, images), IMAP and SMTP are imported inside the commands that use
# them: the report commands staff wait for (status, review, digest, export) need none of them.

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


@app.command()
def run() -> None:
    """The scheduled worker: poll every poll_interval_seconds and flush the outbox, until stopped."""
    from bot.cycle import sweep
    from bot.scheduler import run_worker

    application = open_app()
    tx = application.templates
    lock = worker_lock(application)

    def started() -> None:
        console.print(words(tx, "run_started", seconds=application.config.poll_interval_seconds))

    try:
        sweep(application)
        run_worker(application, state.clock, started)
    finally:
        lock.release()
    console.print(words(tx, "run_stopped"))


@app.command()
def poll(once: Annotated[bool, typer.Option("--once", help="One cycle, then exit")] = False) -> None:
    """Fetch new mail, process it and send pending replies."""
    from bot.cycle import poll_and_flush, sweep

    if not once:
        run()
        return
    application = open_app()
    with worker_lock(application):
        sweep(application)
        report = poll_and_flush(application, state.clock)
    p = report.poll
    console.print(words(
        application.templates, "poll_done",
        fetched=p.fetched if p else 0, stored=p.count("stored") if p else 0,
        duplicate=p.count("duplicate") if p else 0, unrelated=p.count("unrelated") if p else 0,
        failed=p.count("failed") if p else 0, **flush_words(report.flush),
    ))
    if report.error:
        console.print(words(application.templates, "mailbox_error", error=report.error), style="red")
        raise typer.Exit(1)


def worker_lock(application: App) -> WorkerLock:
    """Taken, or exit 3 with a clear message: two workers must never process the same mailbox."""
    lock = WorkerLock(application.config.storage.data_dir)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        console.print(words(application.templates, "already_running", pid=exc.holder), style="red")
        raise typer.Exit(3) from exc
    return lock


def flush_words(report: FlushReport) -> dict[str, int]:
    return {"sent": report.sent, "deferred": report.deferred, "send_failed": report.failed}


def read_messages(path: Path) -> Iterator[tuple[str, bytes]]:
    """The messages in an .eml file or an mbox file, as raw bytes."""
    import mailbox as mbox

    data = path.read_bytes()
    if path.suffix.lower() == ".mbox" or data.startswith(b"From "):
        box = mbox.mbox(str(path), create=False)
        try:
            for index, key in enumerate(box.keys()):
                yield f"{path.name}#{index + 1}", box.get_bytes(key)
        finally:
            box.close()
    else:
        yield path.name, data


@app.command("import")
def import_(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True)],
    received_at: Annotated[str | None, typer.Option(help="Receive time for every message (ISO)")] = None,
    send: Annotated[bool, typer.Option(help="Send the replies now (when [smtp] is set)")] = True,
) -> None:
    """Process .eml or .mbox files exported from a mail client, through the same pipeline."""
    from bot.cycle import flush

    application = open_app()
    fixed = parse_moment(received_at) if received_at else None
    with worker_lock(application):
        results = import_messages(application, files, fixed, state.clock)
    counts = {k: sum(1 for r in results if r == k) for k in ("stored", "duplicate", "unrelated", "failed")}
    console.print(words(application.templates, "import_done", count=len(results), **counts))
    if send:
        report = flush(application, state.clock)
        if report.sent or report.deferred or report.failed:
            console.print(words(application.templates, "poll_done", fetched=0, stored=0, duplicate=0,
                                unrelated=0, failed=0, **flush_words(report)))


def import_messages(application: App, files: list[Path], fixed: datetime | None,
                    clock: Callable[[], datetime]) -> list[str]:
    from bot.intake import Source
    from bot.parse import parse_mail
    from storage.files import sha256_hex

    states: list[str] = []
    for path in files:
        for _label, raw in read_messages(path):
            when = fixed or parse_mail(raw).date or clock()
            source = Source(f"import:{sha256_hex(raw)[:32]}", 0, 0)
            states.append(application.intake.process(raw, when, source, clock()).state)
    return states


@app.command()
def inspect(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True)],
    as_json: Annotated[bool, typer.Option("--json", help="A JSON array, one object per file")] = False,
    received_at: Annotated[str | None, typer.Option(help="Receive time (ISO); default: the Date header")] = None,
) -> None:
    """Show what the bot would decide for each message, storing and sending nothing."""
    from bot.bootstrap import identity_of
    from bot.pipeline import Context
    from bot.preview import preview

    config = load()
    try:
        roster = load_roster(config.units_file)
    except (RosterError, OSError) as exc:
        console.print(words(Templates(config.templates_dir), "roster_error", error=str(exc)), style="red")
        raise typer.Exit(2) from exc
    templates = Templates(config.templates_dir)
    ctx = Context(config.campaign, roster, (identity_of(config).address,))
    fixed = parse_moment(received_at) if received_at else None
    out: list[dict[str, Any]] = []
    for path in files:
        try:
            for label, raw in read_messages(path):
                entry = {"file": label if label != path.name else str(path)}
                entry.update(preview(raw, fixed, state.clock(), ctx, templates))
                out.append(entry)
        except Exception as exc:  # a message it cannot read still gets an object, never a traceback
            out.append({"file": str(path), "ok": False, "error": f"{type(exc).__name__}: {exc}",
                        "would_reply": False})
    if as_json:
        sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=2) + "\n")
        return
    for entry in out:
        console.print_json(json.dumps(entry, ensure_ascii=False))


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    unit: Annotated[str | None, typer.Option("--unit", help="One unit's files and history")] = None,
) -> None:
    """Each unit's state; with --json, the full report."""
    application = open_app()
    if unit is not None:
        from bot.cli_staff import print_unit

        print_unit(application, unit, as_json)
        return
    if as_json:
        report = status_report(application.engine, application.roster, application.config.campaign)
        # One line: with indent, json falls back to its pure-Python encoder (1 s of 3 at 10,000 messages)
        sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
        return
    print_status(unit_report(application.engine, application.roster, application.config.campaign),
                 application.templates)


def print_status(report: dict[str, Any], tx: Templates) -> None:
    c = report["campaign"]
    table = Table(title=words(tx, "table_title", campaign=c["name"], complete=c["units_complete"],
                              required=c["units_required"]))
    table.add_column(words(tx, "unit"), no_wrap=True)
    table.add_column(words(tx, "group"))
    table.add_column(words(tx, "required"))
    for category in CATEGORIES:
        table.add_column(tx.text("short_categories", category.value), justify="right")
    table.add_column(words(tx, "missing"))
    table.add_column(words(tx, "late"))
    for unit in report["units"]:
        style = "green" if unit["complete"] and unit["required"] else ("red" if unit["required"] else "dim")
        missing = "、".join(tx.text("short_categories", m) for m in unit["missing"]) or words(
            tx, "complete" if unit["required"] else "not_required")
        table.add_row(
            unit["name"], unit["group"], words(tx, "yes" if unit["required"] else "no"),
            *(str(unit["counts"][cat.value]) for cat in CATEGORIES),
            missing, words(tx, "yes") if unit["late"] else "", style=style,
        )
    console.print(table)
    console.print(words(tx, "messages_line", messages=c["messages"], attention=c["needs_attention"],
                        unrelated=c["unrelated_seen"]))


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's data (wiped first)")] = Path("demo-output"),
) -> None:
    """Run the real pipeline over the sample mail shipped with the project; no server needed."""
    from bot.cli_reports import print_review
    from bot.demo import demo_digest, run_demo
    from bot.review import review_list

    application, replies = run_demo(out)
    digest = demo_digest(application, replies)
    print_status(unit_report(application.engine, application.roster, application.config.campaign),
                 application.templates)
    print_review(review_list(application.engine, application.config.campaign.timezone), application)
    data_dir = application.config.storage.data_dir
    console.print(words(
        application.templates, "demo_done", data_dir=data_dir, raw=data_dir / "raw",
        files=data_dir / application.config.campaign.slug, outbox=replies, db=data_dir / "intake.db", digest=digest,
    ))


@app.command()
def remind(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show who would get what now, and why; send nothing")]
    = False,
) -> None:
    """Queue the reminders and overdue notices due now and send them; --dry-run only shows them."""
    from bot.cycle import flush
    from bot.remind import plan_now, queue_reminders, slots
    from bot.remind_preview import describe

    application = open_app()
    tx, now = application.templates, state.clock()
    if dry_run:
        reminders, overdue = slots(application)
        moments = (*reminders, *((overdue,) if overdue else ()))
        for line in describe(tx, plan_now(application, now), moments, application.config.campaign, now):
            console.print(line, markup=False, highlight=False)
        return
    lock = WorkerLock(application.config.storage.data_dir)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        console.print(tx.text("remind", "already_running", pid=exc.holder), style="red")
        raise typer.Exit(3) from exc
    try:
        report = queue_reminders(application, now)
        sent = flush(application, state.clock)
    finally:
        lock.release()
    console.print(tx.text("remind", "done", mails=report.mails, units=len(report.queued_units),
                          skipped=report.skipped, no_address=len(report.no_address), **flush_words(sent)))


def main() -> None:
    # What is imported by now lives until exit: kept out of every collection, the collector skips it during
    # the run and the interpreter's final collections skip it at exit (0.13 s of a 0.6 s start-and-exit).
    gc.freeze()
    app()


import bot.cli_reports  # noqa: E402, F401  (registers review, digest and export on `app`)
import bot.cli_staff  # noqa: E402, F401  (registers the staff commands on `app`)

if __name__ == "__main__":
    main()
