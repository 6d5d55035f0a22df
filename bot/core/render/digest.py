"""The staff digest as a mail: progress, every unit × category, what arrived since the last digest, and the
needs-a-decision list — HTML with a plain-text alternative and 报送情况统计表.xlsx attached. Pure: the unit
report, the arrivals, the review list and the moments in; text and bytes out. bot/office/digest.py gathers
them and queues the mail."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.core.model import CATEGORIES
from bot.core.render.formats import local_moment
from bot.core.render.outgoing import AUTO_GENERATED, Identity, compose, wire_bytes
from bot.core.render.texts import Texts
from bot.core.render.workbook import build_workbook, problems_text, state_text, workbook_bytes
from bot.core.review import ReviewEntry
from bot.core.settings import CampaignConfig

XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
# A mail stays readable: past these the digest says how many more there are (intake review lists all).
MAX_ARRIVALS = 200
MAX_REVIEW = 100
NEEDS_ATTENTION = "needs_attention"  # an arrival's status that staff must look at


@dataclass
class Arrival:
    """A campaign mail taken in since the last digest."""
    received_at: datetime | None
    unit: str | None
    sender: str
    subject: str
    status: str  # as in `status`
    late: bool
    counted: Counter[str] = field(default_factory=Counter)  # category → stored files that count
    uncounted: int = 0  # stored but not counted: a photo too small, a file of mail with no unit


@dataclass(frozen=True)
class Arrivals:
    shown: list[Arrival]  # the first MAX_ARRIVALS
    total: int


@dataclass(frozen=True)
class Digest:
    subject: str
    html: str
    text: str
    xlsx: bytes


def _short(iso: str | None, campaign: CampaignConfig) -> str:
    return local_moment(datetime.fromisoformat(iso), campaign) if iso else ""


def progress(report: dict[str, Any], campaign: CampaignConfig, now: datetime) -> dict[str, Any]:
    """Units complete of units required, and the days to the deadline counted in the campaign's zone."""
    c = report["campaign"]
    tz = campaign.timezone
    days = (campaign.deadline.astimezone(tz).date() - now.astimezone(tz).date()).days
    required = c["units_required"]
    return {
        "complete": c["units_complete"], "required": required,
        "percent": round(100 * c["units_complete"] / required) if required else 100,
        "days_left": days, "past": now >= campaign.deadline, "overdue_days": max(-days, 0),
        "deadline": local_moment(campaign.deadline, campaign),
    }


def unit_lines(report: dict[str, Any], tx: Texts) -> list[dict[str, Any]]:
    lines = []
    for unit in report["units"]:
        css = "none" if not unit["required"] else "missing" if unit["missing"] else "complete"
        lines.append({
            "name": unit["name"], "group": unit["group"], "required": unit["required"],
            "counts": [unit["counts"].get(c.value, 0) for c in CATEGORIES],
            "state": state_text(unit, tx), "css": css, "late": unit["late"],
            "problems": problems_text(unit["problems"], tx),
        })
    return lines


def arrival_lines(arrivals: list[Arrival], tx: Texts, campaign: CampaignConfig) -> list[dict[str, Any]]:
    short = {c.value: tx.text("short_categories", c.value) for c in CATEGORIES}
    lines = []
    for a in arrivals:
        files = "、".join(f"{short[c.value]}{a.counted[c.value]}" for c in CATEGORIES if a.counted[c.value])
        if a.uncounted:
            files = "，".join(filter(None, [files, tx.text("digest", "uncounted", count=a.uncounted)]))
        lines.append({
            "received": local_moment(a.received_at, campaign) if a.received_at else "", "unit": a.unit,
            "sender": a.sender, "subject": a.subject, "files": files,
            "needs_attention": a.status == NEEDS_ATTENTION, "late": a.late,
        })
    return lines


def review_lines(entries: list[ReviewEntry], tx: Texts, campaign: CampaignConfig) -> list[dict[str, Any]]:
    return [{"ref": e.ref, "kind": tx.text("review_kinds", e.kind), "unit": e.unit, "sender": e.sender,
             "received": _short(e.received_at, campaign), "subject": e.subject, "file": e.file, "detail": e.detail}
            for e in entries]


def digest_context(report: dict[str, Any], review: list[ReviewEntry], arrived: Arrivals, since: datetime | None,
                   now: datetime, campaign: CampaignConfig, tx: Texts) -> dict[str, Any]:
    units = unit_lines(report, tx)
    return {
        "campaign": campaign.name, "made": local_moment(now, campaign),
        "progress": progress(report, campaign, now),
        "categories": [tx.text("short_categories", c.value) for c in CATEGORIES],
        "units": units,
        "nothing_sent": [u["name"] for u in report["units"]
                         if u["required"] and not any(u["counts"].values())],
        "since": local_moment(since, campaign) if since else None,
        "arrivals": arrival_lines(arrived.shown[:MAX_ARRIVALS], tx, campaign), "arrivals_total": arrived.total,
        "review": review_lines(review[:MAX_REVIEW], tx, campaign), "review_total": len(review),
        "ref_note": tx.text("review", "ref_note"),
        "attachment": tx.text("digest", "attachment"),
    }


def render_digest(report: dict[str, Any], review: list[ReviewEntry], arrived: Arrivals, since: datetime | None,
                  now: datetime, campaign: CampaignConfig, tx: Texts) -> Digest:
    """`report` is the unit report (bot.office.status.unit_report)."""
    context = digest_context(report, review, arrived, since, now, campaign, tx)
    local = now.astimezone(campaign.timezone)
    subject = tx.text("digest", "subject", campaign=campaign.name, complete=context["progress"]["complete"],
                      required=context["progress"]["required"], date=f"{local.month}月{local.day}日")
    xlsx = workbook_bytes(build_workbook(report, tx, now, campaign.timezone))
    return Digest(subject, tx.render("digest.html", **context), tx.render("digest.txt", **context), xlsx)


def digest_mail(digest: Digest, identity: Identity, to: tuple[str, ...], message_id: str, now: datetime,
                campaign: CampaignConfig, tx: Texts) -> bytes:
    message = compose(identity, ", ".join(to), digest.subject, message_id, now, campaign.slug, AUTO_GENERATED,
                      digest.text, digest.html)
    message.add_attachment(digest.xlsx, *XLSX_TYPE, filename=tx.text("digest", "attachment"))
    return wire_bytes(message)


