"""A reply to one message, queued in the outbox in the message's own transaction: what it says (the files
taken, the problems, notes, the unit's state), its fixed Message-ID, and the limits that keep the bot
from ever starting a mail loop."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam
from sqlmodel import Session, select

from bot.core.mail.reply_prefixes import reply_topic
from bot.core.pipeline import ASK_CAMPAIGN, ASK_SENDER, CLOSED, QUESTION, Context, Decision
from bot.core.render.formats import local_moment
from bot.core.render.outgoing import Identity, outgoing_message_id, reference
from bot.core.render.reply import UNSORTED_TAG, FileLine, ReplyInput, UnitSummary, render_reply
from bot.core.render.texts import Texts
from bot.core.routing import open_for
from bot.core.settings import ReplyLimits
from bot.office.intake.filing import summary
from bot.office.outbox import queue_outgoing
from storage import tables as t
from storage.files import safe_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Replier:
    """What a reply needs besides the message: the context, the templates, who writes, the limits."""

    ctx: Context
    templates: Texts
    identity: Identity
    limits: ReplyLimits

    def queue(self, s: Session, row: t.MessageRow, decision: Decision, placed: dict[int, str], texts: list[str],
              now: datetime, forced: bool = False, fresh: bool = False) -> None:
        """Queue the reply (not committed); a reply over the limits is not queued and staff are told. `fresh`:
        the message was never answered (its first record)."""
        analysis = decision.analysis
        mail = analysis.mail
        if not forced and over_reply_limit(s, self.limits, mail.from_addr, mail.subject, analysis.received_at):
            row.review = ",".join(filter(None, [row.review, "reply-limit"]))
            log.warning("no reply to %s: reply limit reached (loop or flood?)", mail.from_addr)
            return
        kind = decision.outcome.reply
        if kind == ASK_SENDER and asked_before(s, mail.from_addr):
            log.info("no reply to %s: asked once already what to send", mail.from_addr)
            return
        campaign = analysis.campaign
        # A stranger is never shown a unit's state, whichever unit the mail names.
        if kind == ASK_SENDER:
            state = UnitSummary(None, {}, ())
        elif campaign is None:
            state = UnitSummary(analysis.match.unit, {}, ())
        else:
            state = summary(s, analysis.match.unit, self.ctx.roster, campaign)
        kept = kind in (ASK_CAMPAIGN, CLOSED)  # kept, not counted: the unit still sees what arrived
        received = tuple(FileLine(i.shown, i.category.value, i.size) for i in decision.items
                         if (i.counted or kept) and i.index in placed)
        notices = () if campaign is not None else (
            analysis.route.asked or open_for(self.ctx.campaigns, analysis.match.unit, self.ctx.roster,
                                             analysis.received_at))
        reply_input = ReplyInput(
            kind=decision.outcome.reply, to_addr=mail.from_addr, to_name=mail.from_name,
            original_subject=mail.subject, original_message_id=mail.message_id,
            original_references=mail.header("references"), received=received,
            problems=tuple(zip(decision.problems, texts, strict=True)), notes=self.notes(decision, placed),
            summary=state, reference=reference(campaign.reference_prefix, row.id or 0) if campaign else "",
            question=(analysis.question or "") if kind == QUESTION else "", notices=notices,
        )
        earlier = 0 if fresh else len(s.exec(select(t.OutboxRow.id).where(t.OutboxRow.message_row_id == row.id)).all())
        again = f".{earlier + 1}" if earlier else ""  # a resend or a reply after reprocessing
        message_id = outgoing_message_id(campaign.slug if campaign else UNSORTED_TAG, self.identity, row.id,
                                         f"{decision.outcome.reply}{again}")
        reply = render_reply(self.templates, reply_input, campaign, self.identity, message_id, now)
        queue_outgoing(s, decision.outcome.reply, reply.to_addr, reply.subject, message_id, reply.raw, now,
                       message_row_id=row.id)
        row.reply_kind = decision.outcome.reply

    def notes(self, decision: Decision, placed: dict[int, str]) -> tuple[str, ...]:
        campaign = decision.analysis.campaign
        tx = self.templates
        notes: list[str] = []
        closed = decision.outcome.reply == CLOSED
        if campaign and decision.late and not closed and not any(p.code == "late_rejected" for p in decision.problems):
            notes.append(tx.text("notes", "late", received=local_moment(decision.analysis.received_at, campaign),
                                 deadline=local_moment(campaign.deadline, campaign)))
        for item in decision.items:
            if item.skipped is None and item.already_stored:
                notes.append(tx.text("notes", "already_stored", file=item.shown))
            stored = placed.get(item.index)
            if stored is not None and safe_name(item.filename) != item.filename and not item.source:
                notes.append(tx.text("notes", "renamed", original=item.filename, stored=stored.rsplit("/", 1)[-1]))
        return tuple(notes)


def asked_before(s: Session, address: str) -> bool:
    """Whether this address was already asked which unit it is and what to send (once per address)."""
    return s.exec(select(t.OutboxRow.id).where(t.OutboxRow.to_addr == address, t.OutboxRow.kind == ASK_SENDER)
                  ).first() is not None


def over_reply_limit(s: Session, limits: ReplyLimits, address: str, subject: str, received_at: datetime) -> bool:
    """At most N replies to one address for mail received within a window, and fewer for the same subject:
    whatever goes wrong elsewhere (an auto-responder we do not recognise), the bot never starts a loop. The
    window is on the mail's receive time, not the reply's, so a first run over a backlog of weeks answers
    every mail, while a loop (mail arriving as fast as we answer) is cut."""
    window = timedelta(hours=limits.window_hours)
    received = received_at.astimezone(UTC)
    recent = [previous for previous, in s.connection().execute(
        _REPLIED_SUBJECTS, {"address": address, "since": received - window, "until": received + window})]
    same = sum(1 for previous in recent if reply_topic(previous or "") == reply_topic(subject))
    return len(recent) >= limits.max_per_sender or same >= limits.max_same_subject


# Built once, in Core, run on the session's connection: every reply runs it.
_message, _outbox = t.MESSAGE, t.OUTBOX
_REPLIED_SUBJECTS = (select(_message.c.subject)
                     .join(_outbox, _outbox.c.message_row_id == _message.c.id)
                     .where(_outbox.c.to_addr == bindparam("address"), _message.c.received_at >= bindparam("since"),
                            _message.c.received_at <= bindparam("until")))
