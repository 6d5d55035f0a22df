"""`intake demo`, the embedded default: the real pipeline over the sample mail shipped with the project.

No mail server is needed: messages are read from the packaged .eml files (received at their Date), the
replies are written as .eml files instead of being sent, and the next morning's digest is written too.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sys
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import func, select

from bot.adapters.config_file import StorageConfig, load_config
from bot.bootstrap import App, build
from bot.cli.app import app as cli
from bot.cli.app import console, words
from bot.cli.reports import print_review, print_status
from bot.office.review import review_list
from bot.office.status import unit_report
from storage import tables as t
from storage.db import session
from storage.files import sha256_hex


def samples_dir() -> Path:
    return Path(str(resources.files("bot.samples")))


def run_demo(out: Path) -> tuple[App, Path]:
    """Process the samples into `out`; the app and the folder of replies."""
    from bot.adapters.mailer import FolderMailer
    from bot.core.mail.parse import parse_mail
    from bot.office.intake.ledger import Source
    from bot.office.outbox import flush_outbox

    out = out.resolve()
    if out.exists():
        if not (out / "intake.db").exists() and any(out.iterdir()):
            raise SystemExit(f"{out} exists and is not a demo folder; choose another --out")
        shutil.rmtree(out)
    config = load_config(samples_dir() / "demo.toml")
    config = replace(config, storage=StorageConfig(out, f"sqlite:///{out / 'intake.db'}"))
    app = build(config)
    outbox = out / "outbox"
    mailer = FolderMailer(outbox)
    last = min(c.opens for c in config.campaigns)
    for path in sorted(samples_dir().glob("*.eml")):
        raw = path.read_bytes()
        received = parse_mail(raw).date or last
        last = max(last, received)
        now = received + timedelta(minutes=1)
        app.intake.process(raw, received, Source(f"import:{sha256_hex(raw)[:32]}", 0, 0), now)
        flush_outbox(app.engine, mailer, app.identity.address, now)
    return app, outbox


def demo_digest(app: App, outbox: Path) -> Path:
    """The staff digest the morning after the last sample (HTML and XLSX under digests/, its mail in
    the outbox folder); the HTML's path."""
    from bot.adapters.mailer import FolderMailer
    from bot.office.outbox import flush_outbox

    with session(app.engine) as s:
        last = s.exec(select(func.max(t.MessageRow.received_at))).one()
    tz = app.zone
    day = (last or app.campaigns[0].opens).astimezone(tz).date() + timedelta(days=1)
    morning = datetime.combine(day, app.config.schedule.digest_time or time(8, 30), tz)
    _row, html, _xlsx = app.digests().queue_files(morning)
    flush_outbox(app.engine, FolderMailer(outbox), app.identity.address, morning)
    return html


DEMO_ACCOUNT = "demo"


def console_config(out: Path) -> Path:
    """A config for the staff console over the demo's data (`intake --config <out>/console.toml web`): the
    demo's campaigns and roster, its data folder, and no [smtp] (replies staff cause wait in the outbox)."""
    text = (samples_dir() / "demo.toml").read_text(encoding="utf-8")
    text = text[:text.index("[smtp]")]
    text = text.replace('data_dir = "demo-output"', 'data_dir = "."').replace(
        'file = "units.csv"', f"file = {json.dumps(str(samples_dir() / 'units.csv'), ensure_ascii=False)}")
    path = out / "console.toml"
    path.write_text(text, encoding="utf-8")
    return path


def demo_account(app: App) -> str:
    """The demo's staff account, with a fresh password (printed once)."""
    from bot.office.accounts import add_account

    password = secrets.token_urlsafe(9)
    add_account(app.engine, DEMO_ACCOUNT, password, "staff", datetime.now(UTC), actor="demo")
    return password


@cli.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's data (wiped first)")] = Path("demo-output"),
) -> None:
    """Run the real pipeline over the sample mail shipped with the project; no server needed."""

    application, replies = run_demo(out)
    digest = demo_digest(application, replies)
    for campaign in application.campaigns:
        print_status(unit_report(application.engine, application.roster, campaign), application.templates)
    print_review(review_list(application.engine, application.zone), application)
    data_dir = application.config.storage.data_dir
    console.print(words(
        application.templates, "demo_done", data_dir=data_dir, raw=data_dir / "raw",
        files=" ".join(str(data_dir / c.slug) for c in application.campaigns), outbox=replies,
        db=data_dir / "intake.db", digest=digest,
    ))
    config = console_config(data_dir)
    web = load_config(config).web
    command = _shown(Path(sys.argv[0]).absolute()) if Path(sys.argv[0]).name == "intake" else "intake"
    console.print(words(application.templates, "demo_console", command=command, config=_shown(config),
                        name=DEMO_ACCOUNT,
                        password=demo_account(application), url=f"http://{web.host}:{web.port}/"))


def _shown(path: Path) -> Path:
    """The path as the user would type it: relative to the working folder when inside it."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path
