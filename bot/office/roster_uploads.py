"""A roster file uploaded in the console, kept until staff apply it: parsed first (a wrong file is refused
with the roster's own error), stored under data/web/uploads/<sha256>/<its safe name>, applied by its hash."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from bot.core.roster import Roster, RosterError, roster_from_bytes
from bot.core.roster_diff import RosterDiff, roster_diff
from bot.office.roster_in_force import base_roster
from storage.db import session
from storage.files import safe_name, sha256_hex, write_atomic

MAX_BYTES = 5 * 1024 * 1024
_TOKEN = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Staged:
    token: str  # the file's SHA-256: what the apply form sends back
    name: str
    diff: RosterDiff


def stage(engine: Engine, folder: Path, data: bytes, filename: str) -> Staged:
    """Parse the upload and keep it; what it would change against the roster in force (RosterError when
    the file is wrong or too large)."""
    name = safe_name(filename, "units.csv")
    if len(data) > MAX_BYTES:
        raise RosterError(f"{name}: larger than {MAX_BYTES // (1024 * 1024)} MB; a roster is a small table")
    new = roster_from_bytes(data, name)
    token = sha256_hex(data)
    write_atomic(folder / token / name, data)
    return Staged(token, name, roster_diff(current(engine), new))


def current(engine: Engine) -> Roster:
    """The imported roster in force, before staff decisions (what a new file replaces)."""
    with session(engine) as s:
        return base_roster(s)


def staged_file(folder: Path, token: str) -> Path:
    """The kept upload with this token (RosterError when there is none)."""
    if not _TOKEN.fullmatch(token):
        raise RosterError("no such upload")
    files = sorted((folder / token).glob("*")) if (folder / token).is_dir() else []
    if len(files) != 1 or sha256_hex(files[0].read_bytes()) != token:
        raise RosterError("no such upload")
    return files[0]
