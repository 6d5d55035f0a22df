"""Is a mail automatic (our own, a loop, a bounce, an auto-reply, list traffic)? Then it gets no reply."""

from __future__ import annotations

import re
import unicodedata

from bot.model import Mail

# Set on every mail the bot sends; seeing it again means a loop.
LOOP_HEADER = "X-Report-Intake"

# Subject prefixes of auto-replies; callers may pass their own.
AUTO_REPLY_SUBJECT_PREFIXES: tuple[str, ...] = (
    "自动回复",
    "假期自动回复",
    "Auto:",
    "Automatic reply",
    "Out of Office",
    "自动答复",
    "休假中",  # not bare 休假: "休假期间活动简报" is a real submission
)

# Chinese bounce subjects (NetEase, QQ, Coremail servers); matched anywhere in the subject.
BOUNCE_SUBJECT_MARKERS: tuple[str, ...] = ("系统退信", "退信", "投递失败", "无法投递", "邮件投递失败")
# Auto-reply sentences servers put at the top of the body.
AUTO_REPLY_BODY_MARKERS: tuple[str, ...] = ("这是来自QQ邮箱的假期自动回复邮件", "此邮件为自动回复", "假期自动回复")
REPLY_PREFIXES = re.compile(r"^\s*(?:(?:re|fw|fwd|回复|答复|转发)\s*[:：]\s*)+", re.IGNORECASE)

BOUNCE_LOCAL_PARTS = frozenset(("mailer-daemon", "postmaster"))
AUTO_REPLY_PRECEDENCE = frozenset(("auto_reply",))
LIST_PRECEDENCE = frozenset(("bulk", "list", "junk"))


def automatic_reason(
    mail: Mail,
    own_addresses: tuple[str, ...],
    auto_reply_prefixes: tuple[str, ...] = AUTO_REPLY_SUBJECT_PREFIXES,
) -> str | None:
    """None for a mail a person wrote, else why it is automatic. Checked in this order:
    own-address, loop, bounce, auto-reply, list."""
    if mail.from_addr and mail.from_addr.lower() in {a.strip().lower() for a in own_addresses}:
        return "own-address"
    if mail.header(LOOP_HEADER) is not None:
        return "loop"
    if _is_bounce(mail):
        return "bounce"
    if _is_auto_reply(mail, auto_reply_prefixes):
        return "auto-reply"
    if _is_list(mail):
        return "list"
    return None


def _is_bounce(mail: Mail) -> bool:
    local_part = mail.from_addr.partition("@")[0].lower()
    return (
        mail.content_type == "multipart/report"
        or local_part in BOUNCE_LOCAL_PARTS
        or any(value.strip() == "<>" for value in mail.header_all("return-path"))
        or any(marker in mail.subject for marker in BOUNCE_SUBJECT_MARKERS)
    )


def _is_auto_reply(mail: Mail, prefixes: tuple[str, ...]) -> bool:
    auto_submitted = _token(mail.header("auto-submitted"))
    if auto_submitted and auto_submitted != "no":
        return True
    # X-Auto-Response-Suppress asks others not to auto-reply; it says nothing about this mail.
    if mail.header("x-autoreply") is not None or mail.header("x-autorespond") is not None:
        return True
    if _token(mail.header("precedence")) in AUTO_REPLY_PRECEDENCE:
        return True
    subject = _fold(REPLY_PREFIXES.sub("", mail.subject)).lstrip()
    if any(subject.startswith(_fold(prefix)) for prefix in prefixes if prefix):
        return True
    head = _fold(mail.text[:300])
    return any(_fold(marker) in head for marker in AUTO_REPLY_BODY_MARKERS)


def _is_list(mail: Mail) -> bool:
    if mail.header("list-id") is not None or mail.header("list-unsubscribe") is not None:
        return True
    return _token(mail.header("precedence")) in LIST_PRECEDENCE


def _token(value: str | None) -> str:
    """The bare keyword of a header value: `Auto-Replied; owner-email=...` -> `auto-replied`."""
    return (value or "").split(";")[0].strip().lower()


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


MESSAGE_ID = re.compile(r"^message-id:\s*<?([^\s<>]+)>?", re.IGNORECASE | re.MULTILINE)


def returned_message_ids(mail: Mail) -> tuple[str, ...]:
    """For a bounce: the Message-IDs of the mail it returns (from the returned message or its
    headers, else In-Reply-To / References), without angle brackets."""
    ids: list[str] = []
    for a in mail.attachments:
        if a.content_type in ("message/rfc822", "text/rfc822-headers") or a.filename.lower().endswith(".eml"):
            head = a.payload[:65536].split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
            ids += MESSAGE_ID.findall(head.decode("utf-8", "replace"))
    ids += MESSAGE_ID.findall(mail.text[:65536])
    for name in ("in-reply-to", "references"):
        for value in mail.header_all(name):
            ids += re.findall(r"<([^<>\s]+)>", value)
    return tuple(dict.fromkeys(ids))
