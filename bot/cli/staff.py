"""Staff commands of `intake`: assign, reclassify, exempt, resend, reprocess, units. Registered on the
main app when bot.cli.app is imported; the work is in bot/office/decisions.py, the words in the catalogue's [staff]."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bot.bootstrap import App
from bot.cli.app import By, actor, app, console, open_app, state, words
from bot.core.model import CATEGORIES
from bot.core.review import parse_ref
from bot.core.roster import RosterError
from bot.office.decisions import (
    Done,
    StaffError,
    all_campaign_messages,
    answered,
    assign,
    exempt,
    import_units,
    mark_done,
    reclassify,
    reprocess,
    resend,
)

units_app = typer.Typer(no_args_is_help=True, help="The roster of units.")
app.add_typer(units_app, name="units")



def number(text: str) -> int:
    """12, M12 or F12 (the ids `status` and `review` show)."""
    try:
        return parse_ref(text.strip().lstrip("#"))[1]
    except ValueError as exc:
        raise typer.BadParameter(f"not an id: {text!r}") from exc


def act(change: Callable[[App], Done]) -> None:
    """Run one staff change; its confirmation or its error in the staff's words."""
    application = open_app()
    try:
        done = change(application)
    except StaffError as exc:
        console.print(application.templates.text("staff", exc.code, **exc.params), style="red")
        raise typer.Exit(1) from exc
    console.print(application.templates.text("staff", done.code, **done.params))
    flushed = flush_now(application)
    if flushed:
        console.print(application.templates.text("staff", "sent", count=flushed))


def flush_now(application: App) -> int:
    from bot.worker.jobs import flush

    return flush(application, state.clock).sent


@app.command("assign")
def assign_cmd(
    message: Annotated[str, typer.Argument(help="Message id (from `intake review` or `status`)")],
    unit: Annotated[str | None, typer.Argument(help="Unit name or alias")] = None,
    campaign: Annotated[str | None, typer.Option("--campaign", help="File it under this campaign (slug)")] = None,
    learn_address: Annotated[bool, typer.Option("--learn-address", help="The sender's address becomes the unit's")]
    = False,
    notify: Annotated[bool, typer.Option("--notify", help="Send the sender a receipt for it now")] = False,
    by: By = None,
) -> None:
    """This message belongs to UNIT (an unassigned mail, or one matched to the wrong unit) and/or to the
    campaign SLUG (mail the bot could not sort, or sorted wrongly): its files move there."""
    if unit is None and campaign is None:
        raise typer.BadParameter("give a UNIT and/or --campaign SLUG")
    act(lambda a: assign(a, number(message), unit, actor(by), state.clock(), learn_address, notify, campaign))


@app.command("reclassify")
def reclassify_cmd(
    file: Annotated[str, typer.Argument(help="File id (from `intake review` or `status --unit`)")],
    category: Annotated[str, typer.Argument(help=", ".join(c.value for c in CATEGORIES))],
    by: By = None,
) -> None:
    """Put a file in another category (brief, photo, case_study, other)."""
    act(lambda a: reclassify(a, number(file), category, actor(by), state.clock()))


@app.command("exempt")
def exempt_cmd(
    unit: Annotated[str, typer.Argument(help="Unit name or alias")],
    undo: Annotated[bool, typer.Option("--undo", help="The unit must submit again")] = False,
    by: By = None,
) -> None:
    """The unit need not submit this campaign: no reminders, not counted as missing."""
    act(lambda a: exempt(a, unit, actor(by), state.clock(), undo))


@app.command("resend")
def resend_cmd(message: Annotated[str, typer.Argument(help="Message id")], by: By = None) -> None:
    """Answer a message again (its receipt or problem list, with the unit's state as it is now)."""
    act(lambda a: resend(a, number(message), actor(by), state.clock()))


@app.command("answered")
def answered_cmd(
    message: Annotated[str, typer.Argument(help="Message id of the question (from `intake review`)")],
    undo: Annotated[bool, typer.Option("--undo", help="The question is open again")] = False,
    by: By = None,
) -> None:
    """A unit's question has been answered: it leaves the review list and the digest."""
    act(lambda a: answered(a, number(message), actor(by), state.clock(), undo))


@app.command("done")
def done_cmd(
    ref: Annotated[str, typer.Argument(help="The entry's reference in `intake review` (M12, F40, L2, R7)")],
    kind: Annotated[str | None, typer.Option("--kind", help="Which of the reference's entries (e.g. "
                                                            "large_file_link), when it has several")] = None,
    undo: Annotated[bool, typer.Option("--undo", help="The entry needs a decision again")] = False,
    by: By = None,
) -> None:
    """Staff dealt with a review entry (a large-file link fetched by hand, a compressed photo accepted …): it
    leaves the review list and the digest."""
    act(lambda a: mark_done(a, ref, kind, actor(by), state.clock(), undo))


@app.command("reprocess")
def reprocess_cmd(
    messages: Annotated[list[str] | None, typer.Argument(help="Message ids")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every stored campaign message")] = False,
    reply: Annotated[bool, typer.Option("--reply", help="Answer each message again")] = False,
    by: By = None,
) -> None:
    """Run stored mail through the pipeline again (after a fix or a roster change): no copies of files,
    and no replies unless --reply (a message that never had one gets it)."""
    if not messages and not all_:
        raise typer.BadParameter("give message ids or --all")

    def change(a: App) -> Done:
        ids = all_campaign_messages(a) if all_ else [number(m) for m in messages or ()]
        return reprocess(a, ids, actor(by), state.clock(), reply)

    act(change)


@units_app.command("import")
def units_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV or XLSX roster")],
    by: By = None,
) -> None:
    """Load a roster: it replaces the one in force (exemptions and taught addresses are kept)."""
    application = open_app()
    try:
        done = import_units(application, file, actor(by), state.clock())
    except RosterError as exc:
        console.print(words(application.templates, "roster_error", error=str(exc)), style="red")
        raise typer.Exit(2) from exc
    console.print(application.templates.text("staff", done.code, **done.params))


@units_app.command("list")
def units_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The roster in force: names, aliases, addresses, required or exempt."""
    application = open_app()
    units = [{"name": u.name, "aliases": list(u.aliases), "emails": list(u.emails), "group": u.group,
              "required": u.required, "exempt": u.exempt} for u in application.roster.units]
    if as_json:
        sys.stdout.write(json.dumps(units, ensure_ascii=False, indent=2) + "\n")
        return
    tx = application.templates
    table = Table(title=tx.text("staff", "units_title", count=len(units)))
    for code in ("unit", "aliases", "emails", "group", "required"):
        table.add_column(tx.text("staff", f"col_{code}"))
    for u in units:
        required = tx.text("staff", "exempt_word") if u["exempt"] else words(tx, "yes" if u["required"] else "no")
        table.add_row(u["name"], "、".join(u["aliases"]), "\n".join(u["emails"]) or "-", u["group"], required)
    console.print(table)
