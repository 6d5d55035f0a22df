"""A bounce of a mail the bot sent is recorded against that outbox row, for staff (`review` lists it
under the message the reply answered)."""

from __future__ import annotations

from sqlmodel import Session, select

from bot.core.mail.triage import returned_message_ids
from bot.core.pipeline import Analysis
from storage import tables as t

BOUNCED_REPLY = "bounced-reply"  # the review reason on the bounce's own row


def record_bounce(s: Session, row: t.MessageRow, analysis: Analysis) -> None:
    if analysis.automatic != "bounce":
        return
    ids = [f"<{mid}>" for mid in returned_message_ids(analysis.mail)]
    if not ids:
        return
    for entry in s.exec(select(t.OutboxRow).where(t.OutboxRow.header_message_id.in_(ids))).all():
        entry.bounce_row_id = row.id
        s.add(entry)
        row.review = BOUNCED_REPLY
