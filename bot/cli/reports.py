"""Report commands of `intake`: status, review, digest, export. The work is in bot/office/ (status, review,
digest, exports), the words in the catalogue's [cli], [review] and [report_cli]."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from bot.adapters.templates import Templates
from bot.bootstrap import App
from bot.cli.app import app, console, flush_words, open_app, state, words, worker_lock
from bot.core.model import CATEGORIES
from bot.core.review import ReviewEntry
from bot.core.settings import CampaignConfig
from bot.office.review import ALL, review_list
from bot.office.status import history, status_all, status_report, unit_report, unsorted_messages

CampaignOption = Annotated[str | None, typer.Option("--campaign", help="One campaign (its slug, from "
                                                                         "`intake campaigns list`)")]


def said(application: App, code: str, **params: object) -> str:
    return application.templates.text("report_cli", code, **params)


def chosen(application: App, slug: str | None) -> tuple[CampaignConfig, ...]:
    """The campaign --campaign names (exit naming the known ones when none has that slug), or every one."""
    return (application.campaign(slug),) if slug else application.campaigns


def one_campaign(application: App, slug: str | None) -> CampaignConfig:
    """The campaign --campaign names; without it the only one (with several, exit asking for --campaign)."""
    campaigns = chosen(application, slug)
    if len(campaigns) != 1:
        known = ", ".join(c.slug for c in application.campaigns)
        console.print(said(application, "campaign_needed", known=known), style="red")
        raise typer.Exit(2)
    return campaigns[0]


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    unit: Annotated[str | None, typer.Option("--unit", help="One unit's files and history")] = None,
    campaign: CampaignOption = None,
) -> None:
    """Each unit's state in each campaign; with --json, the full report (one campaign's, or every campaign's
    and the mail not yet sorted under any)."""
    application = open_app()
    if unit is not None:
        print_unit(application, unit, as_json, chosen(application, campaign))
        return
    if as_json:
        if campaign is not None:
            report = status_report(application.engine, application.roster, application.campaign(campaign))
        else:
            report = status_all(application.engine, application.roster, application.campaigns)
        # One line: with indent, json falls back to its pure-Python encoder (1 s of 3 at 10,000 messages)
        sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
        return
    for one in chosen(application, campaign):
        print_status(unit_report(application.engine, application.roster, one), application.templates)
    if campaign is None and len(application.campaigns) > 1:
        waiting = unsorted_messages(application.engine, None)
        if waiting:
            console.print(said(application, "unsorted_line", count=len(waiting)), style="yellow")


def print_status(report: dict[str, Any], tx: Templates) -> None:
    c = report["campaign"]
    title = f"{c['name']}（{c['notice']}）" if c.get("notice") else c["name"]
    table = Table(title=words(tx, "table_title", campaign=title, complete=c["units_complete"],
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


def print_unit(application: App, name: str, as_json: bool, campaigns: tuple[CampaignConfig, ...]) -> None:
    """One unit's files in each campaign, and its history (`status --unit`)."""
    tx = application.templates
    unit = application.roster.by_name(name)
    if unit is None:
        console.print(tx.text("staff", "unknown_unit", unit=name), style="red")
        raise typer.Exit(1)
    entries: list[tuple[CampaignConfig, dict[str, Any]]] = []
    for campaign in campaigns:
        report = status_report(application.engine, application.roster, campaign)
        entries.append((campaign, next(u for u in report["units"] if u["name"] == unit.name)))
    events = history(application.engine, unit.name)
    tz = application.zone
    for event in events:
        event["at"] = event["at"].astimezone(tz).isoformat() if event["at"] else None
    if as_json:
        if len(entries) == 1:
            out: dict[str, Any] = {**entries[0][1], "history": events}
        else:
            out = {**entries[0][1], "campaigns": {c.slug: e for c, e in entries}, "history": events}
            for key in ("counts", "missing", "complete", "late", "problems", "files", "required", "last_received_at"):
                out.pop(key, None)
        sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=2) + "\n")
        return
    console.print(tx.text("staff", "unit_title", unit=unit.name, group=unit.group,
                          emails="、".join(unit.emails) or "-"))
    for campaign, entry in entries:
        files = Table(title=tx.text("staff", "files_title", count=len(entry["files"]))
                      + (f" · {campaign.title()}" if len(entries) > 1 else ""))
        for code in ("id", "file", "category", "size", "message"):
            files.add_column(tx.text("staff", f"col_{code}"))
        for f in entry["files"]:
            files.add_row(f"F{f['id']}", Text(f["source"] or f["name"]), tx.label(f["category"]), str(f["bytes"]),
                          str(f["message_id"] or ""))
        console.print(files)
    table = Table(title=tx.text("staff", "history_title"))
    table.add_column(tx.text("staff", "col_at"), no_wrap=True)
    table.add_column(tx.text("staff", "col_event"))
    for event in events:
        code = event["what"] if event["what"] != "action" else "action_" + event["command"].replace("-", "_")
        table.add_row((event["at"] or "")[:16].replace("T", " "), Text(tx.text("history", code, **event)))
    console.print(table)


@app.command("review")
def review_cmd(as_json: Annotated[bool, typer.Option("--json", help="A JSON array, one object per entry")] = False,
               campaign: CampaignOption = None) -> None:
    """What a person must decide, each with the id staff commands take (M message, F file, L link)."""
    application = open_app()
    slug = application.campaign(campaign).slug if campaign else ALL
    entries = review_list(application.engine, application.zone, slug)
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
    several = len(application.campaigns) > 1
    for key in ("ref", "kind", "campaign", "unit", "sender", "received", "file", "detail"):
        if key != "campaign" or several:
            table.add_column(tx.text("review", key), no_wrap=key in ("ref", "kind"))
    for e in entries:
        received = (e.received_at or "")[:16].replace("T", " ")
        where = [e.campaign or tx.text("review", "unsorted")] if several else []
        # What senders wrote (addresses, file names, a question) is text, never rich markup.
        table.add_row(e.ref, tx.text("review_kinds", e.kind), *where, e.unit or "", Text(e.sender), received,
                      Text(e.file), Text(e.detail))
    console.print(table)
    console.print(tx.text("review", "ref_note"))


@app.command("digest")
def digest_cmd(
    out: Annotated[Path | None, typer.Option("--out", help="Write the digest (HTML, .xlsx beside it); send nothing")]
    = None,
    send: Annotated[bool, typer.Option("--send", help="Queue it for staff.digest_to and send it now")] = False,
) -> None:
    """The staff digest, now: progress, every unit, what arrived since the last one, what needs a decision."""
    from bot.office.digest import write_digest

    application = open_app()
    if out is None and not send:
        console.print(said(application, "digest_needs_option"), style="red")
        raise typer.Exit(2)
    now = state.clock()
    if out is not None:
        html, xlsx = write_digest(application.digests().build(now), out)
        console.print(said(application, "digest_written", html=html, xlsx=xlsx))
    if not send:
        return
    row_id, html, xlsx = application.digests().queue_files(now)
    if row_id is None:
        console.print(said(application, "digest_no_recipients", html=html, xlsx=xlsx))
        return
    console.print(said(application, "digest_queued", html=html, xlsx=xlsx, to=", ".join(application.config.digest_to)))
    from bot.worker.jobs import flush

    lock = worker_lock(application, "report_cli", "digest_worker_sends")  # the worker sends it
    if lock is None:
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
    campaign: CampaignOption = None,
) -> None:
    """Export the unit table (XLSX, ready to print) and/or every stored file (ZIP with a manifest)."""
    from bot.office.exports import write_xlsx, write_zip
    from bot.office.status import status_report, unit_report

    application = open_app()
    if xlsx is None and zip_file is None:
        console.print(said(application, "export_needs_option"), style="red")
        raise typer.Exit(2)
    one = one_campaign(application, campaign)
    if xlsx is not None:
        units = unit_report(application.engine, application.roster, one)
        write_xlsx(units, application.templates, state.clock(), one.timezone, xlsx)
        console.print(said(application, "export_xlsx_done", path=xlsx, units=len(units["units"])))
    if zip_file is not None:
        report = status_report(application.engine, application.roster, one)
        packed = write_zip(report, application.store, application.templates, one.timezone, zip_file)
        console.print(said(application, "export_zip_done", path=zip_file, files=len(packed)))
