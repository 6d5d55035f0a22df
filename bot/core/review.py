"""What needs a staff decision, as values: the kinds of entry, an entry, and the references staff type
(M12 a message, F40 a file, L3 a large-file link, R7 outgoing mail that answered no message). Pure."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

MESSAGE, FILE, LINK, REPLY = "M", "F", "L", "R"

# Entry kinds, in the order staff see them (most urgent first). Their Chinese labels are in the
# message catalogue, section [review_kinds].
FAILED = "failed"  # processing raised: kept with its traceback
SEND_FAILED = "send_failed"  # a reply the SMTP server refused for good
BOUNCED_REPLY = "bounced_reply"  # a reply that came back as a bounce
SENDER_AUTH_FAILED = "sender_auth_failed"  # a registered address failing DMARC/SPF: nothing counted
QUESTION = "question"  # a unit asked something (a mail without files): staff answer and mark it answered
UNASSIGNED = "unassigned"  # campaign mail no unit could be found for
UNSORTED = "unsorted"  # mail no campaign could be chosen for: staff file it (intake assign M12 --campaign SLUG)
CAMPAIGN_CLOSED = "campaign_closed"  # material for a campaign that had closed: kept, uncounted
CAMPAIGN_ANSWER = "campaign_answer"  # a unit's answer to "which notice is this for?"
UNREGISTERED_SENDER = "unregistered_sender"  # unit found by name, not by a registered address
REPLY_LIMIT = "reply_limit"  # no reply sent: too many to that address or thread
UNCLASSIFIED_FILE = "unclassified_file"  # category "other"
PHOTO_COMPRESSED = "photo_compressed"  # looks like a WeChat/QQ copy
LARGE_FILE_LINK = "large_file_link"  # 超大附件: the file itself was not received
KINDS = (FAILED, SEND_FAILED, BOUNCED_REPLY, SENDER_AUTH_FAILED, QUESTION, UNASSIGNED, UNSORTED, CAMPAIGN_ANSWER,
         CAMPAIGN_CLOSED, UNREGISTERED_SENDER, REPLY_LIMIT, UNCLASSIFIED_FILE, PHOTO_COMPRESSED, LARGE_FILE_LINK)

_REF = re.compile(r"\s*([MFLRmflr]?)(\d+)\s*")


@dataclass(frozen=True)
class ReviewEntry:
    ref: str  # "M12", "F31", "L2", "R7"
    kind: str  # one of KINDS
    message: int | None  # the message row it came from
    unit: str | None
    sender: str  # the mail address of the message (or the reply's recipient)
    subject: str
    received_at: str | None  # ISO, campaign time zone
    file: str  # the file or link name it concerns, "" for a whole message
    detail: str  # what the row says: the error, the problem text, the link, the match
    campaign: str | None = None  # the slug of the campaign its message is filed under (None: unsorted)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def key(self) -> str:
        """What staff mark done: this entry's kind for this reference (a mail can need several decisions)."""
        return entry_key(self.ref, self.kind)


def entry_key(ref: str, kind: str) -> str:
    return f"{ref}:{kind}"


def parse_ref(text: str) -> tuple[str, int]:
    """("M", 12) from "M12", "m12" or "12"; ValueError otherwise."""
    match = _REF.fullmatch(text)
    if match is None:
        raise ValueError(f"not a review reference: {text!r} (e.g. M12, F31, L2, R7)")
    return (match.group(1).upper() or MESSAGE), int(match.group(2))
