"""Start-up sweep: remove stored files that no row refers to (left by a run killed between writing a file
and committing its row). Beside other workers, only files older than `before`: a younger one may be a file
another worker has written and not yet committed."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.office.intake.filing import UNSORTED_FOLDER
from storage import tables as t
from storage.db import session
from storage.files import FileStore, safe_name

log = logging.getLogger(__name__)


def sweep_unreferenced(engine: Engine, store: FileStore, campaign_slugs: list[str],
                       before: datetime | None = None) -> list[str]:
    """In each campaign's folder and the unsorted one."""
    with session(engine) as s:
        referenced = {p for p in s.exec(select(t.ItemRow.path).where(t.ItemRow.path.is_not(None))).all() if p}
    removed = [path for folder in (*campaign_slugs, UNSORTED_FOLDER) for path in store.sweep(safe_name(folder),
                                                                                            referenced, before)]
    for path in removed:
        log.warning("removed a file no row refers to: %s", path)
    return removed
