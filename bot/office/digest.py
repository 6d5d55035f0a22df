"""The staff digest's shell: gathers the unit report, the arrivals since the previous digest and the review
list, renders them (bot/core/render/digest.py), writes `data_dir/digests/<local date>-<time>.html` (and the
.xlsx beside it) and queues one outbox row addressed to all of `staff.digest_to`. The previous digest's
moment is the latest digest in the outbox or, when none was ever queued (no recipients), the latest file
in `data_dir/digests`.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, or_
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bot.core.render.digest import MAX_ARRIVALS, Arrival, Arrivals, Digest, digest_mail, render_digest
from bot.core.render.outgoing import Identity, outgoing_message_id
from bot.core.render.texts import Texts
from bot.core.roster import Roster
from bot.core.settings import CampaignConfig, ScheduleConfig
from bot.core.timetable import digest_moments, due
from bot.office.outbox import queue_outgoing
from bot.office.review import review_list
from bot.office.status import message_status, unit_report
from storage import tables as t
from storage.db import plain, session
from storage.files import write_atomic

DIGEST = "digest"  # OutboxRow.kind and JobRunRow.job
FOLDER = "digests"  # under data_dir
_STAMP = "%Y-%m-%d-%H%M%S"
log = logging.getLogger(__name__)
_FILE = re.compile(r"(\d{4}-\d{2}-\d{2}-\d{6})(?:-\d+)?\.html")


@dataclass(frozen=True)
class Digests:
    """What the digest reads and where it goes: the database, the folder its files are written to
    (data_dir/digests), the campaign and roster, the templates, who writes and who receives it."""

    engine: Engine
    folder: Path
    campaign: CampaignConfig
    roster: Roster
    templates: Texts
    identity: Identity
    to: tuple[str, ...]

    def build(self, now: datetime) -> Digest:
        since = previous_digest_time(self.engine, self.folder, self.campaign, now)
        report = unit_report(self.engine, self.roster, self.campaign)
        review = review_list(self.engine, self.campaign.timezone)
        return render_digest(report, review, arrivals_since(self.engine, since, now), since, now, self.campaign,
                             self.templates)

    def queue(self, now: datetime) -> int | None:
        """Write the digest to the folder and queue it for the recipients; the outbox row id, or None when
        there are no recipients (the files are still written)."""
        return self.queue_files(now)[0]

    def queue_files(self, now: datetime) -> tuple[int | None, Path, Path]:
        """`queue`, also telling where the HTML and the workbook were written."""
        digest = self.build(now)
        path = stamped_path(self.folder, now, self.campaign)
        if not self.to:
            return None, *write_digest(digest, path)
        stamp = now.astimezone(UTC).strftime("%Y%m%d%H%M%S")
        message_id = outgoing_message_id(self.campaign.slug, self.identity, "digest", stamp, uuid.uuid4().hex[:12])
        raw = digest_mail(digest, self.identity, self.to, message_id, now, self.campaign, self.templates)
        with session(self.engine) as s:
            row_id = queue_outgoing(s, DIGEST, ", ".join(self.to), digest.subject, message_id, raw, now)
            s.commit()
        # Written after the commit: a file marks a digest as done only when its mail is surely queued.
        return row_id, *write_digest(digest, path)


def previous_digest_time(engine: Engine, folder: Path, campaign: CampaignConfig, now: datetime) -> datetime | None:
    """The latest digest before `now`: queued in the outbox, or written to the folder."""
    with session(engine) as s:
        queued = [v for v in s.exec(select(t.OutboxRow.created_at).where(t.OutboxRow.kind == DIGEST)).all()
                  if v is not None]
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


# Job-run states of a day's digest.
CLAIMED = "claimed"
SENT = "sent"
SKIPPED = "skipped"
EMPTY = "empty"  # the digest job queued nothing (no staff address, say)
FAILED = "failed"


@dataclass
class DigestRun:
    day: str | None = None  # the local date whose digest was queued
    outbox_row_id: int | None = None
    skipped: list[str] = field(default_factory=list)


def queue_due_digest(digests: Digests, schedule: ScheduleConfig, now: datetime) -> DigestRun:
    """The day's digest when its slot is due: the slot's job-run row is claimed BEFORE the digest is queued,
    so a run killed in between loses that day's digest rather than sending it twice; a digest that raised
    is marked failed for staff and not retried in a loop; missed days are recorded as skipped."""
    run = DigestRun()
    moments = digest_moments(schedule, digests.campaign)
    if not moments:
        return run
    stamp = now.astimezone(UTC)
    with session(digests.engine) as s:
        done = set(s.exec(select(t.JobRunRow.key).where(t.JobRunRow.job == DIGEST)).all())
    result = due(moments, now, done)
    if not result.skip and result.send is None:
        return run
    slot = result.send
    try:
        with session(digests.engine) as s:
            for missed in result.skip:
                s.add(t.JobRunRow(job=DIGEST, key=missed.key, state=SKIPPED, moment=missed.at.astimezone(UTC),
                                  at=stamp))
            claim = None
            if slot is not None:
                claim = t.JobRunRow(job=DIGEST, key=slot.key, state=CLAIMED, moment=slot.at.astimezone(UTC), at=stamp)
                s.add(claim)
            s.commit()
    except IntegrityError:
        log.info("digest: slot already claimed by another run")
        return run
    run.skipped = [m.key for m in result.skip]
    if slot is None or claim is None:
        return run
    try:
        outbox_row_id = digests.queue(now)
    except Exception:
        log.exception("digest for %s failed", slot.key)
        _finish(digests.engine, claim, FAILED, None, stamp)
        return run
    _finish(digests.engine, claim, SENT if outbox_row_id is not None else EMPTY, outbox_row_id, stamp)
    run.day, run.outbox_row_id = slot.key, outbox_row_id
    return run


def _finish(engine: Engine, claim: t.JobRunRow, state: str, outbox_row_id: int | None, stamp: datetime) -> None:
    with session(engine) as s:
        claim.state, claim.outbox_row_id, claim.at = state, outbox_row_id, stamp
        s.add(claim)
        s.commit()
