"""The embedded default: the real pipeline over the sample mail shipped with the project.

No mail server is needed: messages are read from the packaged .eml files (received at their Date)
and the replies are written as .eml files instead of being sent.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import timedelta
from importlib import resources
from pathlib import Path

from bot.bootstrap import App, build
from bot.config import StorageConfig, load_config
from bot.digest import queue_digest_files
from bot.intake import Source
from bot.mailer import FolderMailer
from bot.outbox import flush_outbox
from bot.parse import parse_mail
from storage.files import sha256_hex


def samples_dir() -> Path:
    return Path(str(resources.files("bot.samples")))


def run_demo(out: Path) -> tuple[App, Path, Path]:
    """Process the samples into `out`; the app, the folder of replies and the staff digest written."""
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
    # The next morning's staff digest (HTML and XLSX under digests/, and its mail in the outbox).
    _row, digest, _xlsx = queue_digest_files(app, now + timedelta(hours=12))
    flush_outbox(app.engine, mailer, app.identity.address, now + timedelta(hours=12))
    return app, outbox, digest
