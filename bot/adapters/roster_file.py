"""The roster file: read from disk, parsed by the pure bot.core.roster."""

from __future__ import annotations

from pathlib import Path

from bot.core.roster import Roster, RosterError, roster_from_bytes


def load_roster(path: Path) -> Roster:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RosterError(f"{path}: cannot read the roster: {exc}") from exc
    return roster_from_bytes(data, str(path))
