"""The embedded default: the real pipeline over the sample mail shipped with the project.

No mail server is needed: messages are read from the packaged .eml files (received at their Date)
and the replies are written as .eml files instead of being sent.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from importlib import resources
from pathlib import Path

from sqlmodel import func, select

from bot.adapters.config_file import StorageConfig, load_config
from bot.adapters.mailer import FolderMailer
from bot.bootstrap import App, build
from bot.core.mail.parse import parse_mail
from bot.office.digest import queue_digest_files
from bot.office.intake import Source
from bot.office.outbox import flush_outbox
from storage import tables as t
from storage.db import session
from storage.files import sha256_hex


def samples_dir() -> Path:
    return Path(str(resources.files("bot.samples")))


def run_demo(out: Path) -> tuple[App, Path]:
    """Process the samples into `out`; the app and the folder of replies."""
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
    last = config.campaign.opens
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
    with session(app.engine) as s:
        last = s.exec(select(func.max(t.MessageRow.received_at))).one()
    tz = app.config.campaign.timezone
    day = (last.replace(tzinfo=UTC) if last else app.config.campaign.opens).astimezone(tz).date() + timedelta(days=1)
    morning = datetime.combine(day, app.config.schedule.digest_time or time(8, 30), tz)
    _row, html, _xlsx = queue_digest_files(app, morning)
    flush_outbox(app.engine, FolderMailer(outbox), app.identity.address, morning)
    return html
