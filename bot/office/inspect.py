"""`intake inspect`: what the bot would decide for a message, storing and sending nothing. The decision is
the intake's own (`Intake.preview`): the same context, roster in force, staff decisions and unit state
as `intake poll`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.core.mail.parse import parse_mail
from bot.core.pipeline import NO_REPLY
from bot.core.render.texts import Texts
from bot.office.intake.ledger import header_block
from bot.office.intake.shell import Intake


def inspect_message(intake: Intake, raw: bytes, received_at: datetime | None, fallback_time: datetime,
                    templates: Texts) -> dict[str, Any]:
    """What `intake inspect --json` prints for one message. Without `received_at`, the Date header is taken
    as the receive time (or `fallback_time` when it has none)."""
    when = received_at or parse_mail(header_block(raw)).date or fallback_time
    decision = intake.preview(raw, when)
    analysis = decision.analysis
    mail = analysis.mail
    campaign = analysis.campaign
    would_reply = analysis.relevant and decision.outcome.reply != NO_REPLY and bool(mail.from_addr)
    failure = next((d for d in mail.defects if d.startswith("unparsable")), None)
    return {
        "ok": failure is None,
        "error": failure,
        "has_headers": bool(mail.headers),
        "message_id": mail.message_id,
        "from": mail.from_addr,
        "subject": mail.subject,
        "received_at": when.isoformat(),
        "campaign_mail": analysis.relevant,
        "relevance": analysis.relevance,
        "campaign": analysis.route.slug if analysis.relevant else None,
        "campaign_reason": analysis.route.reason if analysis.relevant else None,
        "automatic": analysis.automatic,
        "unit": analysis.match.unit,
        "match": {"how": analysis.match.how, "matched": analysis.match.matched, "where": analysis.match.where,
                  "needs_review": analysis.match.needs_review},
        "late": decision.late,
        "attachments": [
            {"name": i.filename, "category": i.category.value, "reason": i.reason, "kind": i.facts.kind,
             "bytes": i.size, "sha256": i.sha256, "counted": i.counted, "skipped": i.skipped}
            for i in decision.items
        ],
        "problems": [
            {"code": p.code, "file": p.file, "text": templates.problem_text(p, campaign, when)}
            for p in decision.problems
        ] if analysis.relevant and campaign is not None else [],
        "reply": decision.outcome.reply if would_reply else NO_REPLY,
        "status": decision.outcome.disposition if analysis.relevant else "unrelated",
        "review": list(decision.outcome.review) if analysis.relevant else [],
        "would_reply": would_reply,
        "defects": list(mail.defects),
    }
