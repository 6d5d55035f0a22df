"""What sends mail (the `Mailer` protocol the outbox uses, the error a send raises), and the folder mailer that
writes .eml files instead (the demo). The SMTP mailer is bot/adapters/smtp.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from storage.files import safe_name


class SendError(Exception):
    """A send failed. `permanent` means retrying the same mail cannot help (5xx)."""

    def __init__(self, message: str, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class Mailer(Protocol):
    def send(self, sender: str, recipient: str, raw: bytes, message_id: str) -> None: ...

    def close(self) -> None: ...


@dataclass
class FolderMailer:
    """Writes each mail as an .eml file instead of sending it (the demo, dry runs)."""

    folder: Path

    def send(self, sender: str, recipient: str, raw: bytes, message_id: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = safe_name(f"{message_id.strip('<>')}.eml")
        (self.folder / name).write_bytes(raw)

    def close(self) -> None:
        return None
