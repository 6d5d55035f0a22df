"""A reply to a unit's mail (receipt, problem list, or a question which unit it is), from the templates and
the message catalogue. Pure: values in, bytes out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.core.mail.reply_prefixes import is_answer
from bot.core.model import CATEGORIES, Problem
from bot.core.questions import facts_asked
from bot.core.render.formats import filesize, local_moment
from bot.core.render.outgoing import AUTO_REPLIED, Identity, OutgoingMail, compose
from bot.core.render.texts import Texts
from bot.core.settings import CampaignConfig

UNSORTED_TAG = "unsorted"  # the loop header and Message-IDs of replies about mail with no campaign yet


@dataclass(frozen=True)
class FileLine:
    name: str
    category: str
    size: int


@dataclass(frozen=True)
class UnitSummary:
    """A unit's cumulative state after this message: what every receipt reports."""

    unit: str | None
    counts: dict[str, int]
    missing: tuple[str, ...]


@dataclass(frozen=True)
class ReplyInput:
    """Everything a reply says."""

    kind: str  # receipt | problems | ask_unit | ask_sender | question
    to_addr: str
    to_name: str
    original_subject: str
    original_message_id: str | None
    original_references: str | None
    received: tuple[FileLine, ...]
    problems: tuple[tuple[Problem, str], ...]  # problem and its rendered text
    notes: tuple[str, ...]
    summary: UnitSummary
    reference: str = ""  # IDV2020-0031: quoted in the subject so a thread can be traced
    question: str = ""  # what the sender asked (a question reply quotes it)
    notices: tuple[CampaignConfig, ...] = ()  # with no campaign chosen: the notices the sender may answer


def render_reply(
    templates: Texts,
    reply: ReplyInput,
    campaign: CampaignConfig | None,
    identity: Identity,
    message_id: str,
    now: datetime,
) -> OutgoingMail:
    """The reply about mail filed under `campaign` (None: no campaign chosen yet; it lists `reply.notices`)."""
    context = dict(
        kind=reply.kind,
        greeting=reply.summary.unit or reply.to_name or templates.text("words", "greeting"),
        campaign=campaign,
        notice=campaign.title() if campaign else "",
        notices=[{"title": c.title(), "deadline": local_moment(c.deadline, c)} for c in reply.notices],
        closed=local_moment(campaign.closes, campaign) if campaign else "",
        received=reply.received,
        problems=[{"code": p.code, "file": p.file, "text": text} for p, text in reply.problems],
        notes=reply.notes,
        summary=reply.summary,
        categories=[c.value for c in CATEGORIES],
        labels=templates.catalogue["categories"],
        deadline=local_moment(campaign.deadline, campaign) if campaign else "",
        signature=identity.name,
        reference=reply.reference,
        question=reply.question,
        facts=facts_asked(reply.question) if reply.question else (),
        min_photo=filesize(campaign.min_photo_bytes if campaign else
                           min((c.min_photo_bytes for c in reply.notices), default=CampaignConfig.min_photo_bytes)),
        collect_address=identity.address,
    )
    about = campaign.name if campaign else identity.name
    original = reply.original_subject.strip() or templates.text("subjects", "default", campaign=about)
    subject = original if is_answer(original) else templates.text("subjects", "reply", subject=original)
    if reply.reference and reply.reference not in subject:
        subject = templates.text("subjects", "reference", subject=subject, reference=reply.reference)
    parent = f"<{reply.original_message_id}>" if reply.original_message_id else ""
    references = " ".join([*(reply.original_references or "").split()[-10:], parent]) if parent else ""
    raw = compose(identity, [(reply.to_name, reply.to_addr)], subject, message_id, now,
                  campaign.slug if campaign else UNSORTED_TAG, AUTO_REPLIED,
                  templates.render(f"{reply.kind}.txt", **context),
                  templates.render(f"{reply.kind}.html", **context),
                  in_reply_to=parent, references=references)
    return OutgoingMail(reply.to_addr, subject, message_id, raw)
