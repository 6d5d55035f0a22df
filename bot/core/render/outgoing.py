"""Every mail the bot sends, built one way: who writes, the headers that mark it as automatic and as ours
(so that no auto-responder answers it and the bot never answers itself), a plain-text body with an HTML
alternative. Pure: values in, bytes out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr

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


def compose(identity: Identity, to: str, subject: str, message_id: str, now: datetime, loop_tag: str,
            auto_submitted: str, text: str, html: str) -> EmailMessage:
    """The message with its headers and both bodies; the caller may add threading headers or attachments."""
    message = EmailMessage()
    message["From"] = formataddr((identity.name, identity.address))
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = auto_submitted
    message["X-Auto-Response-Suppress"] = "All"
    message[LOOP_HEADER] = loop_tag
    message.set_content(text, cte="base64")
    message.add_alternative(html, subtype="html", cte="base64")
    return message


def wire_bytes(message: EmailMessage) -> bytes:
    """The bytes an SMTP server receives (CRLF line ends)."""
    return message.as_bytes(policy=SMTP)


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
