"""`intake users`: the web console's staff accounts (add, list, disable, enable, passwd). The work is in
bot/office/accounts.py, the words in the catalogue's [users]. A password is asked twice at a hidden prompt, or
read from one line of standard input with --password-stdin (for scripts); it is never an argument."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from bot.bootstrap import App
from bot.cli.app import By, actor, app, console, open_app, state
from bot.office.accounts import (
    PASSWORD_MIN,
    ROLES,
    Account,
    AccountError,
    add_account,
    check_new,
    disable_account,
    enable_account,
    get_account,
    list_accounts,
    set_password,
)

users_app = typer.Typer(no_args_is_help=True, help="Staff accounts of the web console.")
app.add_typer(users_app, name="users")

PasswordStdin = Annotated[bool, typer.Option("--password-stdin",
                                             help="Read the password from one line of standard input")]


def said(application: App, code: str, **params: object) -> str:
    return application.templates.text("users", code, **params)


def refused(application: App, exc: AccountError) -> typer.Exit:
    console.print(said(application, exc.code, **exc.params), style="red")
    return typer.Exit(2)


def password(application: App, name: str, from_stdin: bool) -> str:
    """The new password: one line of standard input (without its line end), or asked twice, hidden."""
    if from_stdin:
        return sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    return str(typer.prompt(said(application, "password_prompt", name=name, min=PASSWORD_MIN), hide_input=True,
                            confirmation_prompt=said(application, "password_again")))


def change(before: Callable[[App], str], then: Callable[[App, str], Any]) -> None:
    """Check what can be checked before a password is asked (`before` gives the name), then make the change;
    an AccountError in the staff's words, exit 2."""
    application = open_app()
    try:
        name = before(application)
        then(application, name)
    except AccountError as exc:
        raise refused(application, exc) from exc


def moment(application: App, at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(application.zone).isoformat(timespec="seconds")


def describe(application: App, account: Account) -> dict[str, Any]:
    return {"name": account.name, "role": account.role, "disabled": account.disabled,
            "created_at": moment(application, account.created_at),
            "changed_at": moment(application, account.changed_at)}


@users_app.command("list")
def list_cmd(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every account: its role, whether it may sign in, when it was added and last changed (no password)."""
    application = open_app()
    rows = [describe(application, a) for a in list_accounts(application.engine)]
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    if not rows:
        console.print(said(application, "none"))
        return
    table = Table(title=said(application, "title", count=len(rows)))
    for code in ("name", "role", "state", "created", "changed"):
        table.add_column(said(application, f"col_{code}"))
    for row in rows:
        table.add_row(Text(row["name"]), said(application, f"role_{row['role']}"),
                      said(application, "state_disabled" if row["disabled"] else "state_active"),
                      row["created_at"][:16].replace("T", " "),
                      (row["changed_at"] or "-")[:16].replace("T", " "))
    console.print(table)


@users_app.command("add")
def add_cmd(
    name: Annotated[str, typer.Argument(help="The account's name (1–64 characters, no spaces)")],
    role: Annotated[str, typer.Option("--role", help=f"{' or '.join(ROLES)}: viewer may only read")] = ROLES[0],
    password_stdin: PasswordStdin = False,
    by: By = None,
) -> None:
    """Add an account; its password is asked twice (hidden), or read from standard input."""

    def add(application: App, kept: str) -> None:
        secret = password(application, kept, password_stdin)
        account = add_account(application.engine, kept, secret, role, state.clock(), actor=actor(by))
        console.print(said(application, "added", name=account.name, role=said(application, f"role_{account.role}")))

    change(lambda a: check_new(a.engine, name, role), add)


@users_app.command("disable")
def disable_cmd(name: Annotated[str, typer.Argument(help="The account's name")], by: By = None) -> None:
    """The account can no longer sign in (it is kept, with its history)."""

    def disable(application: App, kept: str) -> None:
        disable_account(application.engine, kept, state.clock(), actor=actor(by))
        console.print(said(application, "disabled", name=kept))

    change(lambda a: get_account(a.engine, name).name, disable)


@users_app.command("enable")
def enable_cmd(name: Annotated[str, typer.Argument(help="The account's name")], by: By = None) -> None:
    """A disabled account can sign in again."""

    def enable(application: App, kept: str) -> None:
        enable_account(application.engine, kept, state.clock(), actor=actor(by))
        console.print(said(application, "enabled", name=kept))

    change(lambda a: get_account(a.engine, name).name, enable)


@users_app.command("passwd")
def passwd_cmd(
    name: Annotated[str, typer.Argument(help="The account's name")],
    password_stdin: PasswordStdin = False,
    by: By = None,
) -> None:
    """Give the account a new password, asked twice (hidden) or read from standard input."""

    def passwd(application: App, kept: str) -> None:
        secret = password(application, kept, password_stdin)
        set_password(application.engine, kept, secret, state.clock(), actor=actor(by))
        console.print(said(application, "password_set", name=kept))

    change(lambda a: get_account(a.engine, name).name, passwd)
