"""The staff digest: progress, every unit × category, what arrived since the last digest, and the
needs-a-decision list — an HTML mail with a plain-text alternative and 报送情况统计表.xlsx attached.

`digest_context` and `render_digest` are pure (unit report, arrivals, review list and moments in; text out).
`queue_digest(app, now)` is the shell the scheduler calls: it writes
`data_dir/digests/<local date>-<time>.html` (and the .xlsx beside it) and queues one outbox row
addressed to all of `staff.digest_to`. The previous digest's moment is the latest digest in the
outbox or, when none was ever queued (no recipients), the latest file in `data_dir/digests`.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.adapters.config_file import CampaignConfig
from bot.bootstrap import App
from bot.core.mail.triage import LOOP_HEADER
from bot.core.model import CATEGORIES
from bot.core.render.reply import Identity, Templates, local_moment
from bot.core.render.workbook import build_workbook, problems_text, state_text, workbook_bytes, write_atomic
from bot.office.review import ReviewEntry, review_list
from bot.office.status import message_status, unit_report
from storage import tables as t
from storage.db import plain, session

DIGEST = "digest"  # OutboxRow.kind
FOLDER = "digests"  # under data_dir
_STAMP = "%Y-%m-%d-%H%M%S"
_FILE = re.compile(r"(\d{4}-\d{2}-\d{2}-\d{6})(?:-\d+)?\.html")
XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
# A mail stays readable: past these the digest says how many more there are (intake review lists all).
MAX_ARRIVALS = 200
MAX_REVIEW = 100


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


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # SQLite keeps naive UTC


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


def unit_lines(report: dict[str, Any], tx: Templates) -> list[dict[str, Any]]:
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


def arrival_lines(arrivals: list[Arrival], tx: Templates, campaign: CampaignConfig) -> list[dict[str, Any]]:
    short = {c.value: tx.text("short_categories", c.value) for c in CATEGORIES}
    lines = []
    for a in arrivals:
        files = "、".join(f"{short[c.value]}{a.counted[c.value]}" for c in CATEGORIES if a.counted[c.value])
        if a.uncounted:
            files = "，".join(filter(None, [files, tx.text("digest", "uncounted", count=a.uncounted)]))
        lines.append({
            "received": local_moment(_aware(a.received_at), campaign) if a.received_at else "", "unit": a.unit,
            "sender": a.sender, "subject": a.subject, "files": files,
            "needs_attention": a.status == t.NEEDS_ATTENTION, "late": a.late,
        })
    return lines


def review_lines(entries: list[ReviewEntry], tx: Templates, campaign: CampaignConfig) -> list[dict[str, Any]]:
    return [{"ref": e.ref, "kind": tx.text("review_kinds", e.kind), "unit": e.unit, "sender": e.sender,
             "received": _short(e.received_at, campaign), "subject": e.subject, "file": e.file, "detail": e.detail}
            for e in entries]


def digest_context(report: dict[str, Any], review: list[ReviewEntry], arrived: Arrivals, since: datetime | None,
                   now: datetime, campaign: CampaignConfig, tx: Templates) -> dict[str, Any]:
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
                  now: datetime, campaign: CampaignConfig, tx: Templates) -> Digest:
    """`report` is the unit report (bot.office.status.unit_report)."""
    context = digest_context(report, review, arrived, since, now, campaign, tx)
    local = now.astimezone(campaign.timezone)
    subject = tx.text("digest", "subject", campaign=campaign.name, complete=context["progress"]["complete"],
                      required=context["progress"]["required"], date=f"{local.month}月{local.day}日")
    xlsx = workbook_bytes(build_workbook(report, tx, now, campaign.timezone))
    return Digest(subject, tx.render("digest.html", **context), tx.render("digest.txt", **context), xlsx)


def digest_mail(digest: Digest, identity: Identity, to: tuple[str, ...], message_id: str, now: datetime,
                campaign: CampaignConfig, tx: Templates) -> bytes:
    message = EmailMessage()
    message["From"] = formataddr((identity.name, identity.address))
    message["To"] = ", ".join(to)
    message["Subject"] = digest.subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message[LOOP_HEADER] = campaign.slug
    message.set_content(digest.text, cte="base64")
    message.add_alternative(digest.html, subtype="html", cte="base64")
    message.add_attachment(digest.xlsx, *XLSX_TYPE, filename=tx.text("digest", "attachment"))
    return message.as_bytes(policy=SMTP)


# The shell ---------------------------------------------------------------------------------------


def digests_dir(app: App) -> Path:
    return app.config.storage.data_dir / FOLDER


def previous_digest_time(engine: Engine, folder: Path, campaign: CampaignConfig, now: datetime) -> datetime | None:
    """The latest digest before `now`: queued in the outbox, or written to the folder."""
    with session(engine) as s:
        queued = [_aware(v) for v in s.exec(select(t.OutboxRow.created_at)
                                            .where(t.OutboxRow.kind == DIGEST)).all() if v is not None]
    written = []
    if folder.is_dir():
        for path in folder.iterdir():
            match = _FILE.fullmatch(path.name)
            if match:
                local = datetime.strptime(match.group(1), _STAMP).replace(tzinfo=campaign.timezone)
                written.append(local)
    earlier = [moment for moment in (*queued, *written) if moment < now]
    return max(earlier, default=None)


def arrivals_since(engine: Engine, since: datetime | None, now: datetime, limit: int = MAX_ARRIVALS) -> Arrivals:
    """Campaign mail the bot took in after `since` (from the start when there was no digest) and up to
    `now`, not auto-replies, bounces or duplicates: the first `limit` of them, and how many in all."""
    m, i = t.MessageRow, t.ItemRow
    taken = [m.state != t.UNRELATED, m.state != t.DUPLICATE, or_(m.automatic.is_(None), m.automatic == ""),
             m.created_at.is_not(None), m.created_at <= now]
    if since is not None:
        taken.append(m.created_at > since)
    with session(engine) as s:
        connection = s.connection()
        total = connection.execute(select(func.count()).select_from(m).where(*taken)).scalar_one()
        rows = connection.execute(plain(m, "id", "received_at", "unit", "from_addr", "subject", "state",
                                        "disposition", "late").where(*taken).order_by(m.id).limit(limit)).all()
        files = connection.execute(select(i.message_row_id, i.category, i.counted)
                                   .where(i.message_row_id.in_([r.id for r in rows]), i.path.is_not(None))).all()
    shown = {r.id: Arrival(r.received_at, r.unit, r.from_addr or "", r.subject or "",
                           message_status(r.state, r.disposition), r.late) for r in rows}
    for message_row_id, category, counted in files:
        if counted:
            shown[message_row_id].counted[category] += 1
        else:
            shown[message_row_id].uncounted += 1
    return Arrivals(list(shown.values()), total)


def build_digest(app: App, now: datetime) -> Digest:
    campaign = app.config.campaign
    since = previous_digest_time(app.engine, digests_dir(app), campaign, now)
    report = unit_report(app.engine, app.roster, campaign)
    review = review_list(app.engine, campaign.timezone)
    return render_digest(report, review, arrivals_since(app.engine, since, now), since, now, campaign,
                         app.templates)


def write_digest(digest: Digest, html_path: Path) -> tuple[Path, Path]:
    """The HTML at `html_path`, the workbook beside it (same name, .xlsx)."""
    xlsx_path = html_path.with_suffix(".xlsx")
    write_atomic(html_path, digest.html.encode("utf-8"))
    write_atomic(xlsx_path, digest.xlsx)
    return html_path, xlsx_path


def stamped_path(folder: Path, now: datetime, campaign: CampaignConfig) -> Path:
    stem = now.astimezone(campaign.timezone).strftime(_STAMP)
    path = folder / f"{stem}.html"
    n = 2
    while path.exists():
        path = folder / f"{stem}-{n}.html"
        n += 1
    return path


def queue_digest(app: App, now: datetime) -> int | None:
    """Write today's digest to data_dir/digests and queue it for staff.digest_to; the outbox row id,
    or None when there are no recipients (the files are still written)."""
    return queue_digest_files(app, now)[0]


def queue_digest_files(app: App, now: datetime) -> tuple[int | None, Path, Path]:
    """queue_digest, also telling where the HTML and the workbook were written."""
    digest = build_digest(app, now)
    path = stamped_path(digests_dir(app), now, app.config.campaign)
    to = app.config.digest_to
    if not to:
        return None, *write_digest(digest, path)
    domain = app.identity.address.rpartition("@")[2] or "localhost"
    stamp = now.astimezone(UTC).strftime("%Y%m%d%H%M%S")
    message_id = f"<intake.{app.config.campaign.slug}.digest.{stamp}.{uuid.uuid4().hex[:12]}@{domain}>"
    raw = digest_mail(digest, app.identity, to, message_id, now, app.config.campaign, app.templates)
    moment = now.astimezone(UTC)
    row = t.OutboxRow(message_row_id=None, kind=DIGEST, to_addr=", ".join(to), subject=digest.subject,
                      header_message_id=message_id, raw=raw, state=t.PENDING, next_attempt_at=moment,
                      created_at=moment)
    with session(app.engine) as s:
        s.add(row)
        s.commit()
    # Written after the commit: a file marks a digest as done only when its mail is surely queued.
    return row.id, *write_digest(digest, path)
