"""The staff digest as a mail: one a day for the office, a section per campaign in it (progress, days left,
every unit × category, what arrived since the last digest, the needs-a-decision list), then the mail not yet
filed under any campaign and what needs a decision outside them — HTML with a plain-text alternative and
报送情况统计表.xlsx attached (a sheet per campaign). With one campaign it reads as that campaign's digest.
Pure: the sections, the unsorted mail and the moments in; text and bytes out. bot/office/digest.py gathers
them and queues the mail."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import quote

from bot.core.model import CATEGORIES
from bot.core.render.formats import local_moment
from bot.core.render.outgoing import AUTO_GENERATED, Attached, Identity, compose
from bot.core.render.texts import Texts
from bot.core.render.workbook import SHEET, build_sheets, problems_text, sheet_title, state_text, workbook_bytes
from bot.core.review import ReviewEntry
from bot.core.routing import SEVERAL_OPEN, TIE
from bot.core.settings import CampaignConfig

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A mail stays readable: past these the digest says how many more there are (intake review lists all).
MAX_ARRIVALS = 200
MAX_REVIEW = 100
MAX_UNSORTED = 100
NEEDS_ATTENTION = "needs_attention"  # an arrival's status that staff must look at
_WHY = {TIE: "why_tie", SEVERAL_OPEN: "why_several_open"}  # an unsorted mail's reason → its [digest] text


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
class Section:
    """One campaign's part of the digest."""
    campaign: CampaignConfig
    report: dict[str, Any]  # its unit report (bot.office.status.unit_report)
    arrivals: Arrivals  # its mail since the last digest
    review: list[ReviewEntry]  # what needs a decision about its mail


@dataclass(frozen=True)
class Unsorted:
    """A mail filed under no campaign yet: staff file it with `intake assign M<id> --campaign SLUG`."""
    ref: str  # M<id>
    received_at: datetime | None
    unit: str | None
    sender: str
    subject: str
    reason: str | None  # why no campaign was chosen (its campaign_reason)
    kinds: tuple[str, ...] = ()  # review kinds of what else needs a decision about it


@dataclass(frozen=True)
class Digest:
    subject: str
    html: str
    text: str
    xlsx: bytes


def _moment(moment: datetime, tz: tzinfo) -> str:
    """12月31日18:00 in `tz` (local_moment's form for the office's zone)."""
    local = moment.astimezone(tz)
    return f"{local.month}月{local.day}日{local:%H:%M}"


def _short(iso: str | None, tz: tzinfo) -> str:
    return _moment(datetime.fromisoformat(iso), tz) if iso else ""


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


def review_lines(entries: list[ReviewEntry], tx: Texts, tz: tzinfo, console: str | None = None
                 ) -> list[dict[str, Any]]:
    """`link`: the entry's mail in the staff console, when the console's address is configured."""
    return [{"ref": e.ref, "kind": tx.text("review_kinds", e.kind), "unit": e.unit, "sender": e.sender,
             "received": _short(e.received_at, tz), "subject": e.subject, "file": e.file, "detail": e.detail,
             "link": f"{console}/mail/{e.message}" if console and e.message is not None else None}
            for e in entries]


def unsorted_lines(unsorted: Sequence[Unsorted], tx: Texts, tz: tzinfo) -> list[dict[str, Any]]:
    lines = []
    for u in unsorted:
        why = [tx.text("digest", _WHY[u.reason])] if u.reason in _WHY else []
        why += [tx.text("review_kinds", kind) for kind in u.kinds]
        lines.append({"ref": u.ref, "received": _moment(u.received_at, tz) if u.received_at else "",
                      "unit": u.unit, "sender": u.sender, "subject": u.subject, "why": "；".join(why)})
    return lines


def section_context(section: Section, now: datetime, tx: Texts, console: str | None = None) -> dict[str, Any]:
    """What the templates show of one campaign; `link`: its overview in the staff console, when configured."""
    campaign, report = section.campaign, section.report
    return {
        "campaign": campaign.name, "title": campaign.title(), "slug": campaign.slug,
        "link": f"{console}/campaigns/{quote(campaign.slug, safe='')}" if console else None,
        "progress": progress(report, campaign, now),
        "units": unit_lines(report, tx),
        "nothing_sent": [u["name"] for u in report["units"]
                         if u["required"] and not any(u["counts"].values())],
        "arrivals": arrival_lines(section.arrivals.shown[:MAX_ARRIVALS], tx, campaign),
        "arrivals_total": section.arrivals.total,
        "review": review_lines(section.review[:MAX_REVIEW], tx, campaign.timezone, console),
        "review_total": len(section.review),
    }


def digest_context(sections: Sequence[Section], unsorted: Sequence[Unsorted], other: list[ReviewEntry],
                   since: datetime | None, now: datetime, tz: tzinfo, tx: Texts,
                   console: str | None = None) -> dict[str, Any]:
    """The templates' values: `sections` (one per campaign), `unsorted` (mail filed under no campaign) and
    `other` (what needs a decision in no section). With one campaign its values are also at the top (the
    context of the one-campaign digest, which a staff copy of the templates may still read)."""
    shown = [section_context(s, now, tx, console) for s in sections]
    context: dict[str, Any] = {
        "single": len(shown) == 1, "sections": shown,
        "made": _moment(now, tz), "since": _moment(since, tz) if since else None,
        "categories": [tx.text("short_categories", c.value) for c in CATEGORIES],
        "unsorted": unsorted_lines(unsorted[:MAX_UNSORTED], tx, tz), "unsorted_total": len(unsorted),
        "show_unsorted": bool(unsorted) or len(shown) > 1,
        "assign_hint": tx.text("digest", "assign_hint", slugs="、".join(s["slug"] for s in shown)),
        "other": review_lines(other[:MAX_REVIEW], tx, tz, console), "other_total": len(other),
        "console": console,
        "ref_note": tx.text("review", "ref_note"),
        "attachment": tx.text("digest", "attachment"),
    }
    if len(shown) == 1:
        context.update(shown[0])
    return context


def digest_subject(context: dict[str, Any], now: datetime, tz: tzinfo, tx: Texts) -> str:
    """With one campaign its name and progress; with several, how many and each one's progress."""
    local = now.astimezone(tz)
    date = f"{local.month}月{local.day}日"
    sections = context["sections"]
    if len(sections) == 1:
        p = sections[0]["progress"]
        return tx.text("digest", "subject", campaign=sections[0]["campaign"], complete=p["complete"],
                       required=p["required"], date=date)
    parts = [tx.text("digest", "subject_part", campaign=s["campaign"], complete=s["progress"]["complete"],
                     required=s["progress"]["required"]) for s in sections]
    return tx.text("digest", "subject_several", count=len(sections), parts="；".join(parts), date=date)


def render_digest(sections: Sequence[Section], unsorted: Sequence[Unsorted], since: datetime | None,
                  now: datetime, tz: tzinfo, tx: Texts, other: list[ReviewEntry] | None = None,
                  console: str | None = None) -> Digest:
    """The digest of `sections` (one per campaign, in order), the mail filed under none, and `other`: what
    needs a decision in no section. Times are shown in `tz`, the office's zone (each campaign's own in its
    section). With `console` (web.base_url) its entries link to the staff console's pages."""
    context = digest_context(sections, unsorted, other or [], since, now, tz, tx, console)
    subject = digest_subject(context, now, tz, tx)
    if len(sections) == 1:
        sheets = [(SHEET, sections[0].report, sections[0].campaign.timezone)]
    else:
        sheets = [(sheet_title(n, s.campaign.name), s.report, s.campaign.timezone)
                  for n, s in enumerate(sections, start=1)]
    xlsx = workbook_bytes(build_sheets(sheets, tx, now))
    return Digest(subject, tx.render("digest.html", **context), tx.render("digest.txt", **context), xlsx)


def digest_mail(digest: Digest, identity: Identity, to: tuple[str, ...], message_id: str, now: datetime,
                loop_tag: str, tx: Texts) -> bytes:
    """The digest's mail; `loop_tag` marks it as the bot's own (bot/core/mail/triage.py LOOP_HEADER)."""
    workbook = Attached(digest.xlsx, XLSX_TYPE, tx.text("digest", "attachment"))
    return compose(identity, [("", address) for address in to], digest.subject, message_id, now, loop_tag,
                   AUTO_GENERATED, digest.text, digest.html, attached=workbook)
