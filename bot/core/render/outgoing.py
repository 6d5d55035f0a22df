"""Every mail the bot sends, built one way: who writes, the headers that mark it as automatic and as ours
(so that no auto-responder answers it and the bot never answers itself), a plain-text body with an HTML
alternative. Pure: values in, bytes out."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import encode_rfc2231, format_datetime, formataddr

from bot.core.mail.triage import LOOP_HEADER

AUTO_REPLIED = "auto-replied"  # RFC 3834: an answer to a mail (receipts, problem lists)
AUTO_GENERATED = "auto-generated"  # RFC 3834: sent on its own (reminders, the digest)


@dataclass(frozen=True)
class Identity:
    """Who the bot writes as."""

    address: str
    name: str


@dataclass(frozen=True)
class OutgoingMail:
    """A mail ready for the outbox: its headers are fixed before it enters."""

    to_addr: str
    subject: str
    message_id: str
    raw: bytes


@dataclass(frozen=True)
class Attached:
    """A file sent with a mail (the digest's workbook)."""

    data: bytes
    content_type: str  # "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    filename: str


Recipient = tuple[str, str]  # (display name, address); the name may be ""


def compose(identity: Identity, to: Sequence[Recipient], subject: str, message_id: str, now: datetime,
            loop_tag: str, auto_submitted: str, text: str, html: str, *, in_reply_to: str = "",
            references: str = "", attached: Attached | None = None) -> bytes:
    """The bytes an SMTP server receives (CRLF line ends): the headers, the plain text with its HTML
    alternative (UTF-8, base64), threading headers when given, and a file when given.

    Written directly rather than through `email.message.EmailMessage`, whose header registry and generator
    took 8 ms a reply; tests/unit/test_outgoing.py reads every form back as the standard library wrote it."""
    headers = [
        ("From", _mailbox(identity.name, identity.address)),
        ("To", _recipients(to)),
        ("Subject", _words(subject)),
        ("Date", [format_datetime(now)]),
        ("Message-ID", [message_id]),
        ("Auto-Submitted", [auto_submitted]),
        ("X-Auto-Response-Suppress", ["All"]),
        (LOOP_HEADER, _words(loop_tag)),
    ]
    if in_reply_to:
        headers.append(("In-Reply-To", in_reply_to.split()))
    if references:
        headers.append(("References", references.split()))
    headers.append(("MIME-Version", ["1.0"]))
    boundary = "=_intake_" + hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()[:24]
    alternative = _multipart("alternative", boundary + "_a", [_text_part("plain", text), _text_part("html", html)])
    if attached is None:
        body = alternative
    else:
        body = _multipart("mixed", boundary + "_m", [alternative, _file_part(attached)])
    return b"".join(_folded(name, tokens) for name, tokens in headers) + body


def _recipients(to: Sequence[Recipient]) -> list[str]:
    tokens: list[str] = []
    for name, address in to:
        if tokens:
            tokens[-1] += ","
        tokens += _mailbox(name, address)
    return tokens


def _mailbox(name: str, address: str) -> list[str]:
    """`name <address>` as header tokens, the name in encoded words when it is not ASCII (an address that is
    not ASCII cannot be written in a header: it goes in encoded words too, undeliverable but never a broken
    header)."""
    if not address.isascii():
        return _encoded_words(address)
    if not name:
        return [address]
    if name.isascii():
        return formataddr((name, address)).split(" ")
    return [*_encoded_words(name, most=45), f"<{address}>"]  # a name of up to 15 Chinese characters in one word


def _words(value: str) -> list[str]:
    """A free-text value as header tokens: ASCII as it is (split at spaces), else RFC 2047 encoded words.
    A line break in the value (decoded from a sender's subject) becomes a space: never a new header line."""
    value = re.sub(r"[\r\n]+", " ", value)
    return value.split(" ") if value.isascii() else _encoded_words(value)


def _encoded_words(text: str, most: int = 39) -> list[str]:
    """`text` as UTF-8 base64 encoded words of at most `most` bytes each (39: 64 characters a word, so that one
    fits beside "Subject:" in 78; at most 45, RFC 2047's 75 characters), never splitting a character."""
    words, chunk = [], b""
    for char in text:
        encoded = char.encode("utf-8", "surrogatepass")
        if len(chunk) + len(encoded) > most:
            words.append(chunk)
            chunk = b""
        chunk += encoded
    words.append(chunk)
    return [f"=?utf-8?b?{base64.b64encode(w).decode('ascii')}?=" for w in words]


def _folded(name: str, tokens: list[str], width: int = 78) -> bytes:
    """`Name: token token …`, a line break before a token that would pass `width` (unfolding, which drops the
    CRLF and keeps the space, gives the value back). The first token stays beside the name. A line break inside
    a token (an address as a sender wrote it) is a space: no value ever starts a header of its own."""
    line, lines = f"{name}:", []
    for n, token in enumerate(re.sub(r"[\r\n]+", " ", token) for token in tokens):
        if n and len(line) + 1 + len(token) > width:
            lines.append(line)
            line = ""
        line += " " + token
    lines.append(line)
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def _multipart(subtype: str, boundary: str, parts: list[bytes]) -> bytes:
    """A multipart entity: its Content-Type, then each part between boundary lines (base64 bodies and our
    own headers never contain "_", so the boundary cannot occur inside a part)."""
    head = f'Content-Type: multipart/{subtype};\r\n boundary="{boundary}"\r\n\r\n'.encode("ascii")
    delimiter = f"--{boundary}\r\n".encode("ascii")
    return head + b"".join(delimiter + part + b"\r\n" for part in parts) + f"--{boundary}--\r\n".encode("ascii")


def _text_part(subtype: str, text: str) -> bytes:
    """A UTF-8 text part in base64; its lines end in LF before encoding, as the standard library writes them."""
    data = b"\n".join(text.encode("utf-8").splitlines()) + b"\n"
    return (f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            .encode("ascii") + _base64_lines(data))


def _file_part(attached: Attached) -> bytes:
    name = encode_rfc2231(attached.filename, "utf-8")
    return (f"Content-Type: {attached.content_type}\r\nContent-Transfer-Encoding: base64\r\n"
            f"Content-Disposition: attachment; filename*={name}\r\n\r\n".encode("ascii")
            + _base64_lines(attached.data))


def _base64_lines(data: bytes) -> bytes:
    """Base64 in lines of 76 characters, each ended with CRLF."""
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def outgoing_message_id(slug: str, identity: Identity, *parts: object) -> str:
    """The Message-ID of a mail the bot sends, fixed before it is queued: <intake.<slug>.<parts…>@<domain>>.
    A reply's first part is the ledger id of the message it answers (see `answered_row_id`)."""
    domain = identity.address.rpartition("@")[2] or "localhost"
    return f"<intake.{slug}.{'.'.join(str(p) for p in parts)}@{domain}>"


def answered_row_ids(header_text: str) -> list[int]:
    """The ledger ids of the messages our replies answered, from Message-IDs `outgoing_message_id` made
    (in a mail's In-Reply-To or References), whichever campaign they were about."""
    return [int(found) for found in re.findall(r"<intake\.[A-Za-z0-9_-]+\.(\d+)\.", header_text)]


def reference(prefix: str, row_id: int) -> str:
    """The short reference a unit can quote, in every reply's subject: IDV2020-0031."""
    return f"{prefix}-{row_id:04d}"


def referenced_row_id(prefix: str, text: str) -> int | None:
    """The ledger id in a reference `reference` made, found in `text` (a subject)."""
    quoted = re.search(rf"\b{re.escape(prefix)}-(\d{{4,}})\b", text)
    return int(quoted.group(1)) if quoted else None
