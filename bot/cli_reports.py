"""Report commands of `intake`: review, digest, export. Registered on the main app when bot.cli is
imported; the work is in bot/review.py, bot/digest.py, bot/export.py and bot/export_zip.py, the words
in the catalogue's [review] and [report_cli]."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bot.bootstrap import App
from bot.cli import app, console, flush_words, open_app, state
from bot.review import ReviewEntry, review_list
from storage.lock import AlreadyRunning, WorkerLock


def said(application: App, code: str, **params: object) -> str:
    return application.templates.text("report_cli", code, **params)


@app.command("review")
def review_cmd(as_json: Annotated[bool, typer.Option("--json", help="A JSON array, one object per entry")] = False,
               ) -> None:
    """What a person must decide, each with the id staff commands take (M message, F file, L link)."""
    application = open_app()
    entries = review_list(application.engine, application.config.campaign.timezone)
    if as_json:
        out = [{**e.as_dict(), "kind_label": application.templates.text("review_kinds", e.kind)} for e in entries]
        sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=2) + "\n")
        return
    print_review(entries, application)


def print_review(entries: list[ReviewEntry], application: App) -> None:
    tx = application.templates
    if not entries:
        console.print(tx.text("review", "empty"))
        return
    table = Table(title=tx.text("review", "title", count=len(entries)))
    for key in ("ref", "kind", "unit", "sender", "received", "file", "detail"):
        table.add_column(tx.text("review", key), no_wrap=key in ("ref", "kind"))
    for e in entries:
        received = (e.received_at or "")[:16].replace("T", " ")
        table.add_row(e.ref, tx.text("review_kinds", e.kind), e.unit or "", e.sender, received, e.file, e.detail)
    console.print(table)
    console.print(tx.text("review", "ref_note"))


@app.command("digest")
def digest_cmd(
    out: Annotated[Path | None, typer.Option("--out", help="Write the digest (HTML, .xlsx beside it); send nothing")]
    = None,
    send: Annotated[bool, typer.Option("--send", help="Queue it for staff.digest_to and send it now")] = False,
) -> None:
    """The staff digest, now: progress, every unit, what arrived since the last one, what needs a decision."""
    from bot.digest import build_digest, queue_digest_files, write_digest

    application = open_app()
    if out is None and not send:
        console.print(said(application, "digest_needs_option"), style="red")
        raise typer.Exit(2)
    now = state.clock()
    if out is not None:
        html, xlsx = write_digest(build_digest(application, now), out)
        console.print(said(application, "digest_written", html=html, xlsx=xlsx))
    if not send:
        return
    row_id, html, xlsx = queue_digest_files(application, now)
    if row_id is None:
        console.print(said(application, "digest_no_recipients", html=html, xlsx=xlsx))
        return
    console.print(said(application, "digest_queued", html=html, xlsx=xlsx, to=", ".join(application.config.digest_to)))
    from bot.cycle import flush

    lock = WorkerLock(application.config.storage.data_dir)
    try:
        lock.acquire()
    except AlreadyRunning:
        console.print(said(application, "digest_worker_sends"))  # two flushers could send a row twice
        return
    try:
        report = flush(application, state.clock)
    finally:
        lock.release()
    console.print(said(application, "digest_flushed", **flush_words(report)))


@app.command("export")
def export_cmd(
    xlsx: Annotated[Path | None, typer.Option("--xlsx", help="报送情况统计表: one row per unit")] = None,
    zip_file: Annotated[Path | None, typer.Option("--zip", help="Every stored file by unit and category, "
                                                                "with manifest.csv")] = None,
) -> None:
    """Export the unit table (XLSX, ready to print) and/or every stored file (ZIP with a manifest)."""
    from bot.export import write_xlsx
    from bot.export_zip import write_zip
    from bot.status import status_report, unit_report

    application = open_app()
    if xlsx is None and zip_file is None:
        console.print(said(application, "export_needs_option"), style="red")
        raise typer.Exit(2)
    campaign = application.config.campaign
    if xlsx is not None:
        units = unit_report(application.engine, application.roster, campaign)
        write_xlsx(units, application.templates, state.clock(), campaign.timezone, xlsx)
        console.print(said(application, "export_xlsx_done", path=xlsx, units=len(units["units"])))
    if zip_file is not None:
        report = status_report(application.engine, application.roster, campaign)
        packed = write_zip(report, application.store, application.templates, campaign.timezone, zip_file)
        console.print(said(application, "export_zip_done", path=zip_file, files=len(packed)))
