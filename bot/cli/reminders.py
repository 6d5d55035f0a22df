"""`intake remind`: the reminders and overdue notices due now, or with --dry-run who would get what."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.app import app, console, flush_words, open_app, state, worker_lock


@app.command()
def remind(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show who would get what now, and why; send nothing")]
    = False,
    campaign: Annotated[str | None, typer.Option("--campaign", help="With --dry-run: show one campaign (its slug, "
                                                                   "from `intake campaigns list`)")] = None,
) -> None:
    """Queue the reminders and overdue notices of every campaign due now and send them, one mail per unit;
    --dry-run only shows them."""
    from bot.core.render.reminder_dry_run import describe_all
    from bot.worker.jobs import flush

    application = open_app()
    tx, now = application.templates, state.clock()
    if campaign is not None and not dry_run:
        console.print(tx.text("remind", "campaign_dry_run_only"), style="red", markup=False, highlight=False)
        raise typer.Exit(2)
    if dry_run:
        reminders = application.reminders()
        if campaign is not None:
            plans = [reminders.plan_for(application.campaign(campaign), now)]
        else:
            plans = reminders.plan_now(now)
        for line in describe_all(tx, plans, now, headed=len(application.campaigns) > 1):
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
