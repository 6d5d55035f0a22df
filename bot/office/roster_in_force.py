"""The roster in force: the latest imported roster with staff decisions applied.

The file named in config is imported whenever its content has never been imported before, so editing
it works as staff expect; `intake units import FILE` imports another. Either way the import is
recorded with its source and hash, and staff decisions (exemptions, taught addresses) survive it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from bot.adapters.roster_file import load_roster
from bot.core.model import Unit
from bot.core.overrides import Overrides, apply_to_roster
from bot.core.roster import Roster, RosterError
from storage import tables as t
from storage.db import session


def roster_from_json(text: str) -> Roster:
    return Roster(tuple(Unit(name=u["name"], aliases=tuple(u["aliases"]), emails=tuple(u["emails"]),
                             group=u["group"], required=u["required"], blocked=tuple(u.get("blocked", ())))
                        for u in json.loads(text)))


def roster_json(roster: Roster) -> str:
    fields = ("name", "aliases", "emails", "group", "required", "blocked")
    return json.dumps([{k: v for k, v in asdict(u).items() if k in fields} for u in roster.units], ensure_ascii=False)


def import_roster(s: Session, path: Path, now: datetime, roster: Roster | None = None) -> t.RosterRow:
    """Parse `path` (RosterError when it is wrong) and make it the roster in force. The caller commits."""
    data = Path(path).read_bytes()
    parsed = roster if roster is not None else load_roster(path)
    row = t.RosterRow(imported_at=now, source=str(path), sha256=hashlib.sha256(data).hexdigest(),
                      units_json=roster_json(parsed))
    s.add(row)
    s.flush()
    return row


def sync_config_roster(engine: Engine, units_file: Path, now: datetime) -> None:
    """Import the config's roster file when this content was never imported (it was edited, or it is new)."""
    try:
        data = units_file.read_bytes()
    except OSError as exc:
        if has_roster(engine):
            return  # the file is gone but an imported roster is in force
        raise RosterError(f"{units_file}: cannot read the roster: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    with session(engine) as s:
        if s.exec(select(t.RosterRow.id).where(t.RosterRow.sha256 == digest)).first() is not None:
            return
        import_roster(s, units_file, now)
        s.commit()


def has_roster(engine: Engine) -> bool:
    with session(engine) as s:
        return s.exec(select(t.RosterRow.id)).first() is not None


def load_overrides(s: Session) -> Overrides:
    rows = s.exec(select(t.OverrideRow.kind, t.OverrideRow.key, t.OverrideRow.value).order_by(t.OverrideRow.id))
    return Overrides.from_rows(rows.all())


def base_roster(s: Session) -> Roster:
    row = s.exec(select(t.RosterRow).order_by(t.RosterRow.id.desc())).first()
    if row is None:
        raise RosterError("no roster has been imported")
    return roster_from_json(row.units_json)


def roster_in_force(engine: Engine, base: Roster | None = None) -> Roster:
    """The latest imported roster (or `base`) with staff decisions applied."""
    with session(engine) as s:
        return apply_to_roster(base if base is not None else base_roster(s), load_overrides(s))


def fingerprint(engine: Engine) -> tuple[int, int]:
    """Changes whenever the roster in force may have changed."""
    with session(engine) as s:
        latest = s.exec(select(func.max(t.RosterRow.id))).one() or 0
        decided = s.exec(select(func.max(t.OverrideRow.id))).one() or 0
    return int(latest), int(decided)
