"""Put benchmark mail on disk and into Dovecot (MULTIAPPEND in batches), and reset it between rounds."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench.corpus import BenchMail
from tests.e2e.servers import Dovecot, imap_login

BATCH_BYTES = 64 * 1024 * 1024  # one MULTIAPPEND carries at most about this much
BATCH_COUNT = 500


@dataclass(frozen=True)
class Stored:
    path: Path
    internaldate: datetime
    kind: str
    size: int


def save(mails: Iterable[BenchMail], folder: Path) -> list[Stored]:
    """Write each message to its own file (the mailbox never sits in memory whole)."""
    folder.mkdir(parents=True, exist_ok=True)
    stored = []
    for n, mail in enumerate(mails):
        path = folder / f"{n:06d}.eml"
        path.write_bytes(mail.raw)
        stored.append(Stored(path, mail.internaldate, mail.kind, len(mail.raw)))
    return stored


def append_all(dovecot: Dovecot, mails: Iterable[Stored | BenchMail], user: str | None = None,
               folder: str = "INBOX") -> int:
    """APPEND every message with its INTERNALDATE, many per command; return how many."""
    total = 0
    with imap_login(dovecot, user) as client:
        batch: list[dict[str, object]] = []
        size = 0
        for mail in mails:
            raw = mail.path.read_bytes() if isinstance(mail, Stored) else mail.raw
            batch.append({"msg": raw, "date": mail.internaldate})
            size += len(raw)
            if size >= BATCH_BYTES or len(batch) >= BATCH_COUNT:
                client.multiappend(folder, batch)
                total += len(batch)
                batch, size = [], 0
        if batch:
            client.multiappend(folder, batch)
            total += len(batch)
    return total


def clear_keyword(dovecot: Dovecot, keyword: str, user: str | None = None, folder: str = "INBOX") -> None:
    """Remove the bot's keyword from every message, so each round starts from untouched mail."""
    with imap_login(dovecot, user) as client:
        client.select_folder(folder)
        uids = client.search("ALL")
        if uids:
            client.remove_flags(uids, [keyword.encode("ascii")], silent=True)
