"""`intake demo`: the real pipeline over the sample mail shipped with the project; no server needed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli.app import app, console, words
from bot.cli.reports import print_review, print_status
from bot.office.status import unit_report


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's data (wiped first)")] = Path("demo-output"),
) -> None:
    """Run the real pipeline over the sample mail shipped with the project; no server needed."""
    from bot.office.demo import demo_digest, run_demo
    from bot.office.review import review_list

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
