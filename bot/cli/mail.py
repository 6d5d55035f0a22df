"""Mail commands of `intake`: run, poll, import, inspect. The mail pipeline (parser, archives, images),
IMAP and SMTP are imported inside the commands: the report commands staff wait for need none of them."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.bootstrap import App, system_clock
from bot.cli.app import app, console, flush_words, load, open_app, parse_moment, state, words, worker_lock_or_exit


@app.command()
def run() -> None:
    """The scheduled worker: poll every poll_interval_seconds and flush the outbox, until stopped."""
    from bot.worker.scheduler import run_worker

    application = open_app()
    tx = application.templates
    lock = worker_lock_or_exit(application)

    def started() -> None:
        console.print(words(tx, "run_started", seconds=application.config.poll_interval_seconds))

    try:
        application.sweep(system_clock())  # file ages are the machine's: not --now
        run_worker(application, state.clock, started)
    finally:
        lock.release()
    console.print(words(tx, "run_stopped"))


@app.command()
def poll(once: Annotated[bool, typer.Option("--once", help="One cycle, then exit")] = False) -> None:
    """Fetch new mail, process it and send pending replies."""
    from bot.worker.jobs import poll_and_flush

    if not once:
        run()
        return
    application = open_app()
    with worker_lock_or_exit(application):
        application.sweep(system_clock())  # file ages are the machine's: not --now
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
    from bot.worker.jobs import flush

    application = open_app()
    fixed = parse_moment(received_at) if received_at else None
    with worker_lock_or_exit(application):
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
    from bot.core.mail.parse import parse_mail
    from bot.office.intake.ledger import Source, header_block
    from storage.files import sha256_hex

    states: list[str] = []
    for path in files:
        for _label, raw in read_messages(path):
            when = fixed or parse_mail(header_block(raw)).date or clock()  # the headers are enough for the date
            source = Source(f"import:{sha256_hex(raw)[:32]}", 0, 0)
            result = application.intake.process(raw, when, source, clock())
            states.append(result.state if result is not None else "claimed")  # another worker's, at this moment
    return states


@app.command()
def inspect(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True)],
    as_json: Annotated[bool, typer.Option("--json", help="A JSON array, one object per file")] = False,
    received_at: Annotated[str | None, typer.Option(help="Receive time (ISO); default: the Date header")] = None,
) -> None:
    """Show what the bot would decide for each message, storing and sending nothing."""
    from bot.office.inspect import inspect_message
    from storage.db import database_exists

    config = load()
    if not database_exists(config.storage.database_url):
        # Nothing processed yet: judge against the roster file alone, in a database in memory, writing nothing.
        config = replace(config, storage=replace(config.storage, database_url="sqlite://"))
    application = open_app(config)
    fixed = parse_moment(received_at) if received_at else None
    out: list[dict[str, Any]] = []
    for path in files:
        try:
            for label, raw in read_messages(path):
                entry = {"file": label if label != path.name else str(path)}
                entry.update(inspect_message(application.intake, raw, fixed, state.clock(), application.templates))
                out.append(entry)
        except Exception as exc:  # a message it cannot read still gets an object, never a traceback
            out.append({"file": str(path), "ok": False, "error": f"{type(exc).__name__}: {exc}",
                        "would_reply": False})
    if as_json:
        sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=2) + "\n")
        return
    for entry in out:
        console.print_json(json.dumps(entry, ensure_ascii=False))
