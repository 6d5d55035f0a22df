"""`intake remind`: the reminders and overdue notices due now, or with --dry-run who would get what."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.app import app, console, flush_words, open_app, state, worker_lock


@app.command()
def remind(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show who would get what now, and why; send nothing")]
    = False,
) -> None:
    """Queue the reminders and overdue notices due now and send them; --dry-run only shows them."""
    from bot.core.render.reminder_dry_run import describe
    from bot.worker.jobs import flush

    application = open_app()
    tx, now = application.templates, state.clock()
    if dry_run:
        reminders, overdue = application.reminders().slots()
        moments = (*reminders, *((overdue,) if overdue else ()))
        for line in describe(tx, application.reminders().plan_now(now), moments, application.config.campaign, now):
            console.print(line, markup=False, highlight=False)
        return
    lock = worker_lock(application, "remind", "already_running")
    if lock is None:
        raise typer.Exit(3)
    try:
        report = application.reminders().queue(now)
        sent = flush(application, state.clock)
    finally:
        lock.release()
    console.print(tx.text("remind", "done", mails=report.mails, units=len(report.queued_units),
                          skipped=report.skipped, no_address=len(report.no_address), **flush_words(sent)))
