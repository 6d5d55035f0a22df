"""Does a mail ask something? A unit writing to the contact address without files is often asking a question
(请问活动简报需要加盖公章吗？), not failing to submit. Pure; the word lists are configuration with defaults.

`question_of` gives the lines of the subject and the sender's own text (quoted mail left out) that ask
something; `facts_asked` which of the campaign's own facts the reply can state (the deadline, the photo size,
attachments rather than links, where to send).
"""

from __future__ import annotations

from bot.core.identify import split_quoted
from bot.core.model import Mail

QUESTION_MARKERS: tuple[str, ...] = (
    "?", "？", "请问", "咨询", "是否", "能否", "可否", "可不可以", "能不能", "要不要", "需不需要", "怎么", "如何", "吗",
)
FACT_WORDS: dict[str, tuple[str, ...]] = {
    "deadline": ("截止", "什么时候", "何时", "几号", "期限", "延期", "时间"),
    "photo_size": ("照片", "原图", "图片", "大小", "像素", "压缩", "mb", "兆"),
    "attachments": ("超大附件", "链接", "网盘", "附件", "打包", "压缩包"),
    "where": ("邮箱", "发到", "发送到", "报送到", "哪里", "地址"),
}
MAX_QUESTION_CHARS = 500


def question_of(mail: Mail, markers: tuple[str, ...] = QUESTION_MARKERS) -> str | None:
    """The lines of the sender's own words that ask something (the subject first when it asks), or None."""
    own, _quoted = split_quoted(mail.text[:20_000])
    lines = [line.strip() for line in (mail.subject, *own.splitlines()) if line.strip()]
    asking = [line for line in lines if any(marker in line for marker in markers)]
    if not asking:
        return None
    return "\n".join(dict.fromkeys(asking))[:MAX_QUESTION_CHARS]


def facts_asked(question: str, words: dict[str, tuple[str, ...]] = FACT_WORDS) -> tuple[str, ...]:
    """The campaign facts the question touches, in the order of `words`."""
    folded = question.casefold()
    return tuple(fact for fact, terms in words.items() if any(term in folded for term in terms))
