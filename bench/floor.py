"""The floors: the least any correct implementation must do with the same mailbox.

Plain imapclient fetching every message (BODY.PEEK[], one at a time, as the bot does), the standard
library `email` parser extracting the attachments, SHA-256 of each and a write to disk. No archive is
opened, nothing classified, no database, no reply, no fsync. The parser is the standard library's at its
quickest: compat32, fed the bytes in slices (`email.message_from_bytes` first makes a str and a StringIO of
the whole message, which costs time and four to five times the message in memory). Run as a subprocess so
that it is timed end to end like `intake poll --once` (interpreter start-up included); prints one JSON line.

With `--wire`, the wire floor: what archiving costs anyway, with no parsing at all. Every message fetched the
same way, its SHA-256, and one write of its raw bytes with fsync (the raw archive's own cost), written the way
the bot writes it (`storage.durable.write_new`: past the page cache where the file system allows it, which is
the quickest way this machine has). The pipeline cannot be faster than this on this machine.

With `--store`, the store floor: the wire floor's work, then the message parsed by the bot's own parser
(`bot.core.mail.parse.parse_mail`, the scanner) and every attachment's SHA-256 and one fsync'd write of its
bytes: the data work the pipeline cannot avoid (it keeps the raw message and every file), with none of its
bookkeeping (no archive opened, nothing classified, no database, no reply), one thing after another.

    python -m bench.floor --host H --port P --user U --password W --out DIR [--wire | --store]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from email import policy
from email.feedparser import BytesFeedParser
from pathlib import Path

from imapclient import IMAPClient

from storage.durable import write_new

SLICE = 1 << 16


def extract(raw: bytes, out: Path, number: int) -> tuple[int, int]:
    """Write every attachment of one message under `out`; return (files, bytes)."""
    parser = BytesFeedParser(policy=policy.compat32)
    for start in range(0, len(raw), SLICE):
        parser.feed(raw[start:start + SLICE])
    message = parser.close()
    count = size = 0
    for part in message.walk():
        if part.is_multipart() or part.get_content_disposition() is None and part.get_filename() is None:
            continue
        payload = part.get_payload(decode=True)
        if not payload:
            continue
        digest = hashlib.sha256(payload).hexdigest()
        (out / f"{number}-{count}-{digest[:16]}").write_bytes(payload)
        count += 1
        size += len(payload)
    return count, size


def archive(raw: bytes, out: Path) -> tuple[int, int]:
    """The wire floor's work on one message: its hash, and its raw bytes written once and fsync'd."""
    write_new(out / f"{hashlib.sha256(raw).hexdigest()}.eml", raw)
    return 1, len(raw)


def store(raw: bytes, out: Path) -> tuple[int, int]:
    """The store floor's work on one message: the wire floor's, then every attachment parsed out, hashed and
    written once with fsync."""
    from bot.core.mail.parse import parse_mail

    archive(raw, out)
    count = size = 0
    for attachment in parse_mail(raw).attachments:
        write_new(out / f"{attachment.sha256}-{count}", attachment.payload)
        count += 1
        size += attachment.size
    return count, size


def run(host: str, port: int, user: str, password: str, out: Path, folder: str = "INBOX",
        wire: bool = False, keep: bool = False) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    messages = raw_bytes = files = file_bytes = 0
    client = IMAPClient(host, port=port, ssl=False, timeout=60)
    # imapclient's default (5) makes imaplib repr every literal; see bot.adapters.mailbox.quiet_imaplib
    client._imap.debug = 0
    try:
        client.login(user, password)
        client.select_folder(folder, readonly=True)
        for uid in sorted(client.search("ALL")):
            item = client.fetch([uid], ["BODY.PEEK[]", "INTERNALDATE"]).get(uid)
            if item is None or b"BODY[]" not in item:
                continue
            raw = bytes(item[b"BODY[]"])
            n, size = store(raw, out) if keep else archive(raw, out) if wire else extract(raw, out, uid)
            messages += 1
            raw_bytes += len(raw)
            files += n
            file_bytes += size
    finally:
        client.logout()
    return {"messages": messages, "raw_bytes": raw_bytes, "files": files, "file_bytes": file_bytes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--out", type=Path, required=True)
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--wire", action="store_true", help="the wire floor: fetch, hash, one fsync'd write")
    kind.add_argument("--store", action="store_true", help="the store floor: the wire floor, and every attachment "
                      "parsed out, hashed and written with fsync")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.host, args.port, args.user, args.password, args.out, wire=args.wire,
                         keep=args.store)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
