"""The staff digest: progress, every unit × category, what arrived since the last digest, and the
needs-a-decision list — an HTML mail with a plain-text alternative and 报送情况统计表.xlsx attached.

`digest_context` and `render_digest` are pure (report, review list and moments in; text out).
`queue_digest(app, now)` is the shell the scheduler calls: it writes
`data_dir/digests/<local date>-<time>.html` (and the .xlsx beside it) and queues one outbox row
addressed to all of `staff.digest_to`. The previous digest's moment is the latest digest in the
outbox or, when none was ever queued (no recipients), the latest file in `data_dir/digests`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.bootstrap import App
from bot.config import CampaignConfig
from bot.export import build_workbook, problems_text, state_text, workbook_bytes, write_atomic
from bot.model import CATEGORIES
from bot.render import Identity, Templates, local_moment
from bot.review import ReviewEntry, review_list
from bot.status import status_report
from bot.triage import LOOP_HEADER
from storage import tables as t
from storage.db import session

DIGEST = "digest"  # OutboxRow.kind
FOLDER = "digests"  # under data_dir
_STAMP = "%Y-%m-%d-%H%M%S"
_FILE = re.compile(r"(\d{4}-\d{2}-\d{2}-\d{6})(?:-\d+)?\.html")
XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
# A mail stays readable: past these the digest says how many more there are (intake review lists all).
MAX_ARRIVALS = 200
MAX_REVIEW = 100


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


def arrivals(report: dict[str, Any], new_ids: set[int], tx: Templates,
             campaign: CampaignConfig) -> list[dict[str, Any]]:
    """Campaign mail taken in since the last digest (not auto-replies, bounces or duplicates)."""
    lines = []
    short = {c.value: tx.text("short_categories", c.value) for c in CATEGORIES}
    for m in report["messages"]:
        if m["id"] not in new_ids or m["automatic"] or m["status"] == "duplicate":
            continue
        counts: dict[str, int] = {}
        for f in m["files"]:
            if f.get("counted") and f.get("path"):
                counts[f["category"]] = counts.get(f["category"], 0) + 1
        files = "、".join(f"{short[c.value]}{counts[c.value]}" for c in CATEGORIES if counts.get(c.value))
        uncounted = sum(1 for f in m["files"] if f.get("path") and not f.get("counted"))
        if uncounted:  # stored but not counted: a photo too small, a file of mail with no unit
            files = "，".join(filter(None, [files, tx.text("digest", "uncounted", count=uncounted)]))
        lines.append({
            "received": _short(m["received_at"], campaign), "unit": m["unit"], "sender": m["from"] or "",
            "subject": m.get("subject") or "", "files": files, "needs_attention": m["status"] == "needs_attention",
            "late": m["late"],
        })
    return lines


def review_lines(entries: list[ReviewEntry], tx: Templates, campaign: CampaignConfig) -> list[dict[str, Any]]:
    return [{"ref": e.ref, "kind": tx.text("review_kinds", e.kind), "unit": e.unit, "sender": e.sender,
             "received": _short(e.received_at, campaign), "subject": e.subject, "file": e.file, "detail": e.detail}
            for e in entries]


def digest_context(report: dict[str, Any], review: list[ReviewEntry], new_ids: set[int], since: datetime | None,
                   now: datetime, campaign: CampaignConfig, tx: Templates) -> dict[str, Any]:
    units = unit_lines(report, tx)
    arrived = arrivals(report, new_ids, tx, campaign)
    return {
        "campaign": campaign.name, "made": local_moment(now, campaign),
        "progress": progress(report, campaign, now),
        "categories": [tx.text("short_categories", c.value) for c in CATEGORIES],
        "units": units,
        "nothing_sent": [u["name"] for u in report["units"]
                         if u["required"] and not any(u["counts"].values())],
        "since": local_moment(since, campaign) if since else None,
        "arrivals": arrived[:MAX_ARRIVALS], "arrivals_total": len(arrived),
        "review": review_lines(review[:MAX_REVIEW], tx, campaign), "review_total": len(review),
        "ref_note": tx.text("review", "ref_note"),
        "attachment": tx.text("digest", "attachment"),
    }


def render_digest(report: dict[str, Any], review: list[ReviewEntry], new_ids: set[int], since: datetime | None,
                  now: datetime, campaign: CampaignConfig, tx: Templates) -> Digest:
    context = digest_context(report, review, new_ids, since, now, campaign, tx)
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


def taken_since(engine: Engine, since: datetime | None, now: datetime) -> set[int]:
    """Rows of campaign mail the bot took in after `since` (from the start when there was no digest)
    and up to `now`."""
    with session(engine) as s:
        query = select(t.MessageRow.id, t.MessageRow.created_at).where(t.MessageRow.state != t.UNRELATED)
        rows = s.exec(query).all()
    return {row_id for row_id, created in rows
            if created is not None and (since is None or _aware(created) > since) and _aware(created) <= now}


def build_digest(app: App, now: datetime) -> Digest:
    campaign = app.config.campaign
    since = previous_digest_time(app.engine, digests_dir(app), campaign, now)
    report = status_report(app.engine, app.roster, campaign)
    review = review_list(app.engine, campaign.timezone)
    return render_digest(report, review, taken_since(app.engine, since, now), since, now, campaign, app.templates)


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
