"""`intake campaigns`: the notices the mailbox collects for, managed without editing the config (list, add,
close, reopen). The work is in bot/office/campaigns_in_force.py, the words in the catalogue's [campaigns]."""

from __future__ import annotations

import json
import sys
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from bot.adapters.config_file import ConfigError, campaign_tables
from bot.bootstrap import App
from bot.cli.app import By, actor, app, console, open_app, parse_moment, state
from bot.core.settings import CampaignConfig
from bot.office.campaigns_in_force import add_campaign, set_closed
from bot.office.decisions import record
from storage.db import session

campaigns_app = typer.Typer(no_args_is_help=True, help="The notices (campaigns) the mailbox collects for.")
app.add_typer(campaigns_app, name="campaigns")


def said(application: App, code: str, **params: object) -> str:
    return application.templates.text("campaigns", code, **params)


def phase(campaign: CampaignConfig, now: datetime) -> str:
    """not_open | open | late (after the deadline, still taking mail) | closed."""
    if now < campaign.opens:
        return "not_open"
    if now > campaign.closes or (campaign.closed_at is not None and now >= campaign.closed_at):
        return "closed"
    return "open" if now <= campaign.deadline else "late"


def describe(campaign: CampaignConfig, now: datetime) -> dict[str, Any]:
    tz = campaign.timezone
    return {
        "slug": campaign.slug, "name": campaign.name, "notice": campaign.notice,
        "opens": campaign.opens.astimezone(tz).isoformat(), "deadline": campaign.deadline.astimezone(tz).isoformat(),
        "closes": campaign.closes.astimezone(tz).isoformat(), "closed_by_staff": campaign.closed_at is not None,
        "phase": phase(campaign, now), "units": list(campaign.units), "required": list(campaign.required),
        "keywords": list(campaign.keywords), "reference_prefix": campaign.reference_prefix,
    }


@campaigns_app.command("list")
def list_cmd(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every campaign: its window, whether it takes mail now, the units it asks."""
    application = open_app()
    now = state.clock()
    rows = [describe(c, now) for c in application.campaigns]
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(title=said(application, "title", count=len(rows)))
    for code in ("slug", "name", "notice", "opens", "deadline", "closes", "phase", "units"):
        table.add_column(said(application, f"col_{code}"))
    for row in rows:
        table.add_row(row["slug"], Text(row["name"]), Text(row["notice"]), row["opens"][:16].replace("T", " "),
                      row["deadline"][:16].replace("T", " "), row["closes"][:16].replace("T", " "),
                      said(application, f"phase_{row['phase']}"),
                      Text("、".join(row["units"]) or said(application, "all_required")))
    console.print(table)


@campaigns_app.command("add")
def add_cmd(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="A TOML file: a [campaign] table, [[campaigns]] tables, or the keys")],
    by: By = None,
) -> None:
    """Add campaigns from FILE, or replace the keys of those with the same slug (a closing stays)."""
    application = open_app()
    now = state.clock()
    try:
        tables = campaign_tables(tomllib.loads(file.read_text(encoding="utf-8")))
        with session(application.engine) as s:
            for _label, table in tables:
                campaign = add_campaign(s, application.config, table, file.name, now)
                record(s, now, actor(by), "campaign-add", campaign=campaign.slug, file=file.name)
                console.print(said(application, "added", slug=campaign.slug, name=campaign.title()))
            s.commit()
    except (ConfigError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        console.print(said(application, "file_error", file=file.name, error=str(exc)), style="red")
        raise typer.Exit(2) from exc


def _close(slug: str, at: datetime | None, by: str | None, reopen: bool) -> None:
    application = open_app()
    now = state.clock()
    try:
        with session(application.engine) as s:
            set_closed(s, slug, None if reopen else (at or now), now)
            record(s, now, actor(by), "campaign-reopen" if reopen else "campaign-close", campaign=slug,
                   at=None if reopen else (at or now).isoformat())
            s.commit()
    except LookupError as exc:
        known = ", ".join(c.slug for c in application.campaigns) or "-"
        console.print(application.templates.text("staff", "unknown_campaign", slug=slug, known=known), style="red")
        raise typer.Exit(1) from exc
    console.print(said(application, "reopened" if reopen else "closed", slug=slug,
                       at=(at or now).astimezone(application.zone).strftime("%Y-%m-%d %H:%M")))


@campaigns_app.command("close")
def close_cmd(
    slug: Annotated[str, typer.Argument(help="The campaign's slug")],
    at: Annotated[str | None, typer.Option("--at", help="Close at this moment instead of now (ISO)")] = None,
    by: By = None,
) -> None:
    """Stop taking mail for the campaign (now, or --at): later mail for it is kept and its sender told it closed."""
    _close(slug, parse_moment(at) if at else None, by, reopen=False)


@campaigns_app.command("reopen")
def reopen_cmd(slug: Annotated[str, typer.Argument(help="The campaign's slug")], by: By = None) -> None:
    """Take mail for a closed campaign again (until its deadline and late days, as configured)."""
    _close(slug, None, by, reopen=True)
