"""Reply and forward prefixes of a subject (Re:, Fwd:, 回复：, 答复：, 转发：), in one place. Pure."""

from __future__ import annotations

import re

# Any run of reply or forward prefixes at the start of a subject.
REPLY_PREFIXES = re.compile(r"^\s*(?:(?:re|fw|fwd|回复|答复|转发)\s*[:：]\s*)+", re.IGNORECASE)
_ANSWER = re.compile(r"^\s*(?:re|回复|答复)\s*[:：]", re.IGNORECASE)


def reply_topic(subject: str) -> str:
    """A subject without reply and forward prefixes: the thread it belongs to."""
    return REPLY_PREFIXES.sub("", subject).strip()


def is_answer(subject: str) -> bool:
    """The subject already says it answers something (Re:, 回复：, 答复：), so a reply keeps it as it is."""
    return _ANSWER.match(subject) is not None
