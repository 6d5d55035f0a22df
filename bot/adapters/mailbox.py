"""The IMAP adapter: the only code that talks IMAP (imapclient)."""

from __future__ import annotations

import contextlib
import logging
import ssl
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from bot import __version__
from bot.adapters.config_file import ImapConfig

log = logging.getLogger(__name__)

FETCH_BATCH = 200  # UIDs per header FETCH during a resynchronisation


class MailboxError(RuntimeError):
    """The mailbox cannot be used; the message says why in words a person can act on."""


@dataclass(frozen=True)
class FolderState:
    name: str
    uidvalidity: int
    uidnext: int | None
    keywords_allowed: bool


@dataclass(frozen=True)
class Fetched:
    uid: int
    raw: bytes
    internaldate: datetime


class ImapMailbox:
    """One session with the collection mailbox: connect, log in, say who we are, select the folder."""

    def __init__(self, config: ImapConfig, ssl_context: ssl.SSLContext | None = None) -> None:
        self.config = config
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.client: IMAPClient | None = None
        self.folder: FolderState | None = None

    def __enter__(self) -> ImapMailbox:
        self.connect()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def connect(self) -> None:
        cfg = self.config
        try:
            client = IMAPClient(
                cfg.host, port=cfg.port, ssl=cfg.security == "ssl",
                ssl_context=self.ssl_context, timeout=cfg.timeout_seconds,
            )
            quiet_imaplib(client)
            if cfg.security == "starttls":
                client.starttls(self.ssl_context)
            client.normalise_times = False
            client.login(cfg.username, cfg.password)
        except IMAPClientError as exc:
            raise MailboxError(f"IMAP login to {cfg.host}:{cfg.port} as {cfg.username} failed: {exc}") from exc
        # NetEase 163/126 refuse SELECT ("Unsafe Login") until the client identifies itself.
        if client.has_capability("ID"):
            try:
                client.id_({"name": "report-intake", "version": __version__, "vendor": "report-intake"})
            except IMAPClientError as exc:
                log.warning("IMAP ID command refused: %s", exc)
        self.client = client

    def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):  # the connection may already be gone; nothing to save
                self.client.logout()
            self.client = None

    def _client(self) -> IMAPClient:
        if self.client is None:
            raise MailboxError("not connected")
        return self.client

    def open_folder(self, name: str | None = None) -> FolderState:
        """Select a folder (by its real name, Chinese included: imapclient encodes modified UTF-7)."""
        client = self._client()
        name = name or self.config.folder
        try:
            info = client.select_folder(name)
        except IMAPClientError as exc:
            text = str(exc)
            if "Unsafe Login" in text:
                raise MailboxError(
                    f"the server refused SELECT {name!r} as an unsafe login ({text}); "
                    "enable IMAP for third-party clients and use the authorisation code (授权码)"
                ) from exc
            raise MailboxError(f"cannot open folder {name!r}: {text}") from exc
        flags = info.get(b"PERMANENTFLAGS", ())
        self.folder = FolderState(
            name=name,
            uidvalidity=int(info[b"UIDVALIDITY"]),
            uidnext=int(info[b"UIDNEXT"]) if b"UIDNEXT" in info else None,
            keywords_allowed=b"\\*" in flags,
        )
        return self.folder

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above the cursor; `N:*` also returns the highest UID when there is nothing new."""
        uids = self._client().search(["UID", f"{last_uid + 1}:*"])
        return sorted(u for u in uids if u > last_uid)

    def uids_since(self, day: date) -> list[int]:
        """UIDs of mail that arrived on or after `day` (INTERNALDATE), for a first run or a resync."""
        return sorted(self._client().search(["SINCE", day]))

    def fetch(self, uid: int) -> Fetched | None:
        """The raw bytes and INTERNALDATE; PEEK leaves the person's \\Seen flag as it was."""
        data = self._client().fetch([uid], ["BODY.PEEK[]", "INTERNALDATE"])
        item = data.get(uid)
        if item is None or b"BODY[]" not in item:
            return None  # expunged meanwhile
        return Fetched(uid, bytes(item[b"BODY[]"]), item[b"INTERNALDATE"])

    def message_ids(self, uids: list[int]) -> dict[int, bytes]:
        """The Message-ID header lines of many messages at once: the keys of their claims, cheaply."""
        result: dict[int, bytes] = {}
        client = self._client()
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start:start + FETCH_BATCH]
            for uid, item in client.fetch(batch, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]).items():
                for key, value in item.items():
                    if key.startswith(b"BODY[HEADER.FIELDS"):
                        result[uid] = bytes(value)
        return result

    def mark_processed(self, uid: int) -> bool:
        """Move to the processed folder when one is configured, else set our private keyword
        where the server allows keywords. Returns whether anything was done on the server."""
        client = self._client()
        folder = self.folder
        if self.config.processed_folder:
            target = self.config.processed_folder
            if not client.folder_exists(target):
                client.create_folder(target)
            if client.has_capability("MOVE"):
                client.move([uid], target)
            else:
                client.copy([uid], target)
                client.delete_messages([uid])
                if client.has_capability("UIDPLUS"):
                    client.uid_expunge([uid])
                else:
                    client.expunge()
            return True
        if folder is not None and folder.keywords_allowed:
            client.add_flags([uid], [self.config.keyword.encode("ascii")], silent=True)
            return True
        return False


def quiet_imaplib(client: IMAPClient) -> None:
    """imapclient sets imaplib's debug level to 5 and hands its messages to a logger, so imaplib formats
    a repr of every response, literals included, whether or not anything is logged: fetching a 51 MB
    message then briefly holds three copies of it (169 MB) and spends CPU on the repr, and the LOGIN line
    with the password is formatted too. Level 0 unless that logger really is at DEBUG."""
    if not logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG):
        client._imap.debug = 0
