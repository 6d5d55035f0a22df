"""Is a mail automatic (our own, a loop, a bounce, an auto-reply, list traffic)? Then it gets no reply.

Headers first (RFC 3834 Auto-Submitted, Precedence, multipart/report, an empty Return-Path), then the
words Chinese mail systems put in the subject and at the top of the body. Every word list is a module
constant that callers may replace.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from email import policy
from email.parser import BytesHeaderParser

from bot.core.model import Mail

# Set on every mail the bot sends; seeing it again means a loop.
LOOP_HEADER = "X-Report-Intake"

# Subject prefixes of auto-replies (after Re:/回复:/答复: are stripped); callers may pass their own.
AUTO_REPLY_SUBJECT_PREFIXES: tuple[str, ...] = (
    "自动回复",
    "假期自动回复",
    "Auto:",
    "Automatic reply",
    "Out of Office",
    "自动答复",
    "休假中",  # not bare 休假: "休假期间活动简报" is a real submission
)
# Subject prefixes of bounces; "退信" only as a prefix ("关于退信的说明" could be a person's).
BOUNCE_SUBJECT_PREFIXES: tuple[str, ...] = (
    "退信",
    "Undelivered Mail Returned to Sender",
    "Undeliverable:",
    "Delivery Status Notification (Failure)",
    "Mail delivery failed",
    "Returned mail:",
)
# Unmistakable bounce words (NetEase, QQ, Coremail servers), matched anywhere in the subject.
BOUNCE_SUBJECT_MARKERS: tuple[str, ...] = ("系统退信", "投递失败", "邮件投递失败", "无法投递")
# Sentences servers put at the top of the body.
AUTO_REPLY_BODY_MARKERS: tuple[str, ...] = (
    "这是来自QQ邮箱的假期自动回复邮件", "此邮件为自动回复", "本邮件为自动回复", "这是一封自动回复邮件",
)
BOUNCE_BODY_MARKERS: tuple[str, ...] = ("系统退信", "很抱歉您发送的邮件被退回", "您发送的邮件被退回")
BODY_HEAD_LINES = 5  # how many non-empty lines count as "the top of the body"

REPLY_PREFIXES = re.compile(r"^\s*(?:(?:re|fw|fwd|回复|答复|转发)\s*[:：]\s*)+", re.IGNORECASE)
BOUNCE_LOCAL_PARTS = frozenset(("mailer-daemon", "postmaster"))
AUTO_REPLY_PRECEDENCE = frozenset(("auto_reply",))
LIST_PRECEDENCE = frozenset(("bulk", "list", "junk"))
# Parts that carry back the returned mail or its headers (RFC 3462, RFC 6533).
RETURNED_TYPES = frozenset(("message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers"))


@dataclass(frozen=True)
class Markers:
    """The word lists triage looks for, replaceable as a whole or one by one (dataclasses.replace)."""

    bounce_subject_prefixes: tuple[str, ...] = BOUNCE_SUBJECT_PREFIXES
    bounce_subject_markers: tuple[str, ...] = BOUNCE_SUBJECT_MARKERS
    auto_reply_body: tuple[str, ...] = AUTO_REPLY_BODY_MARKERS
    bounce_body: tuple[str, ...] = BOUNCE_BODY_MARKERS


def automatic_reason(
    mail: Mail,
    own_addresses: tuple[str, ...],
    auto_reply_prefixes: tuple[str, ...] = AUTO_REPLY_SUBJECT_PREFIXES,
    markers: Markers = Markers(),
) -> str | None:
    """None for a mail a person wrote, else why it is automatic. Checked in this order:
    own-address, loop, bounce, auto-reply, list."""
    if mail.from_addr and mail.from_addr.lower() in {a.strip().lower() for a in own_addresses}:
        return "own-address"
    if mail.header(LOOP_HEADER) is not None:
        return "loop"
    subject = _fold(REPLY_PREFIXES.sub("", mail.subject)).lstrip()
    head = _body_head(mail.text)
    if _is_bounce(mail, subject, head, markers):
        return "bounce"
    if _is_auto_reply(mail, subject, head, auto_reply_prefixes, markers):
        return "auto-reply"
    if _is_list(mail):
        return "list"
    return None


def _is_bounce(mail: Mail, subject: str, head: str, markers: Markers) -> bool:
    local_part = mail.from_addr.partition("@")[0].lower()
    return (
        mail.content_type == "multipart/report"
        or local_part in BOUNCE_LOCAL_PARTS
        or any(value.strip() == "<>" for value in mail.header_all("return-path"))
        or _starts_with_any(subject, markers.bounce_subject_prefixes)
        or _contains_any(subject, markers.bounce_subject_markers)
        or _contains_any(head, markers.bounce_body)
    )


def _is_auto_reply(mail: Mail, subject: str, head: str, prefixes: tuple[str, ...], markers: Markers) -> bool:
    auto_submitted = _token(mail.header("auto-submitted"))
    if auto_submitted and auto_submitted != "no":
        return True
    # X-Auto-Response-Suppress asks others not to auto-reply (Outlook sets it on everyday mail): it says nothing
    # about this mail.
    if mail.header("x-autoreply") is not None or mail.header("x-autorespond") is not None:
        return True
    if _token(mail.header("precedence")) in AUTO_REPLY_PRECEDENCE:
        return True
    return _starts_with_any(subject, prefixes) or _contains_any(head, markers.auto_reply_body)


def _is_list(mail: Mail) -> bool:
    if mail.header("list-id") is not None or mail.header("list-unsubscribe") is not None:
        return True
    return _token(mail.header("precedence")) in LIST_PRECEDENCE


def _body_head(text: str) -> str:
    lines = [line for line in text[:20_000].splitlines() if line.strip()]
    return _fold("\n".join(lines[:BODY_HEAD_LINES]))


def _starts_with_any(folded: str, words: tuple[str, ...]) -> bool:
    return any(folded.startswith(_fold(word)) for word in words if word)


def _contains_any(folded: str, words: tuple[str, ...]) -> bool:
    return any(_fold(word) in folded for word in words if word)


def _token(value: str | None) -> str:
    """The bare keyword of a header value: `Auto-Replied; owner-email=...` -> `auto-replied`."""
    return (value or "").split(";")[0].strip().lower()


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


# ---------------------------------------------------------------- what a bounce returns

_ANGLED = re.compile(r"<([^<>\s]+)>")
_MESSAGE_ID_LINE = re.compile(r"^\s*message-id\s*:\s*<([^<>\s]+)>", re.IGNORECASE | re.MULTILINE)


def returned_message_ids(mail: Mail) -> tuple[str, ...]:
    """For a bounce: the Message-IDs of the mail it returns, without angle brackets. From the returned
    message or its headers (message/rfc822, text/rfc822-headers); else a `Message-ID:` line the server
    quoted in its text; else the bounce's own In-Reply-To / References."""
    ids: list[str] = []
    for attachment in mail.attachments:
        if attachment.content_type in RETURNED_TYPES or attachment.filename.lower().endswith(".eml"):
            ids += _header_ids(attachment.payload)
    if not ids:
        ids += _MESSAGE_ID_LINE.findall(mail.text[:65536])
    if not ids:
        for name in ("in-reply-to", "references"):
            for value in mail.header_all(name):
                ids += _ANGLED.findall(value)
    return tuple(dict.fromkeys(ids))


def _header_ids(payload: bytes) -> list[str]:
    """The Message-ID of a returned message or header block, parsed by the standard library."""
    head = payload[:262_144].lstrip(b"\r\n")
    try:
        headers = BytesHeaderParser(policy=policy.compat32).parsebytes(head)
    except Exception:
        return []
    ids: list[str] = []
    for value in headers.get_all("message-id") or []:
        text = str(value).strip()
        ids += _ANGLED.findall(text) or ([text] if text and " " not in text else [])
    return ids
