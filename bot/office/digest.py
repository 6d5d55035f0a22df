"""The staff digest's shell: one digest a day for the office, covering every campaign open (and any that
closed within the last day). For each it gathers the unit report, the arrivals since the previous digest
and the review list's entries about its mail; then the mail filed under no campaign. It renders them
(bot/core/render/digest.py), writes `data_dir/digests/<local date>-<time>.html` (and the .xlsx beside it)
and queues one outbox row addressed to all of `staff.digest_to`. The previous digest's moment is the latest
digest in the outbox or, when none was ever queued (no recipients), the latest file in `data_dir/digests`.
A digest is due on every day on which any campaign is open (bot/core/timetable.py office_digest_moments).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bot.core.render.digest import (
    MAX_ARRIVALS,
    Arrival,
    Arrivals,
    Digest,
    Section,
    Unsorted,
    digest_mail,
    render_digest,
)
from bot.core.render.outgoing import Identity, outgoing_message_id
from bot.core.render.texts import Texts
from bot.core.review import MESSAGE, UNSORTED, ReviewEntry
from bot.core.roster import Roster
from bot.core.settings import CampaignConfig, ScheduleConfig, office_zone
from bot.core.timetable import due, office_digest_moments
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
REPORTED_AFTER_CLOSE = timedelta(days=1)  # a campaign stays in the digest this long after it closed


@dataclass(frozen=True)
class Digests:
    """What the digest reads and where it goes: the database, the folder its files are written to
    (data_dir/digests), the campaigns in force and the roster, the templates, who writes and who receives it.
    One digest covers the campaigns `in_digest` picks; its day and times are the office's zone (the first
    campaign's, as `App.zone`)."""

    engine: Engine
    folder: Path
    campaigns: tuple[CampaignConfig, ...]
    roster: Roster
    templates: Texts
    identity: Identity
    to: tuple[str, ...]
    console: str | None = None  # web.base_url: the digest links to the staff console's pages

    @property
    def zone(self) -> ZoneInfo:
        return office_zone(self.campaigns)

    def build(self, now: datetime) -> Digest:
        since = previous_digest_time(self.engine, self.folder, self.zone, now)
        shown = in_digest(self.campaigns, now)
        review = review_list(self.engine, self.zone)
        unsorted = unsorted_mail(self.engine)
        listed = {u.row_id for u in unsorted}
        slugs = {c.slug for c in shown}
        by_campaign: dict[str, list[ReviewEntry]] = {c.slug: [] for c in shown}
        other: list[ReviewEntry] = []
        kinds: dict[int, list[str]] = defaultdict(list)
        single = shown[0].slug if len(shown) == 1 else None
        for entry in review:  # in the review list's order (most urgent kind first)
            if entry.message is not None and entry.campaign is not None and entry.campaign in slugs:
                by_campaign[entry.campaign].append(entry)
            elif entry.message is not None and entry.message in listed:
                if entry.kind != UNSORTED and entry.kind not in kinds[entry.message]:
                    kinds[entry.message].append(entry.kind)
            elif single is not None:  # one campaign: its list is the whole list, as before there were several
                by_campaign[single].append(entry)
            else:  # outgoing mail that answered no message, mail of a campaign not shown, failed unsorted mail
                other.append(entry)
        sections = [Section(c, unit_report(self.engine, self.roster, c),
                            arrivals_since(self.engine, since, now, campaign=c.slug), by_campaign[c.slug])
                    for c in shown]
        unsorted_shown = [Unsorted(f"{MESSAGE}{u.row_id}", u.received_at, u.unit, u.sender, u.subject, u.reason,
                                   tuple(kinds[u.row_id])) for u in unsorted]
        return render_digest(sections, unsorted_shown, since, now, self.zone, self.templates, other,
                             self.console)

    def queue(self, now: datetime) -> int | None:
        """Write the digest to the folder and queue it for the recipients; the outbox row id, or None when
        there are no recipients (the files are still written)."""
        return self.queue_files(now)[0]

    def queue_files(self, now: datetime) -> tuple[int | None, Path, Path]:
        """`queue`, also telling where the HTML and the workbook were written."""
        digest = self.build(now)
        path = stamped_path(self.folder, now, self.zone)
        if not self.to:
            return None, *write_digest(digest, path)
        stamp = now.astimezone(UTC).strftime("%Y%m%d%H%M%S")
        # The office's digest, not one campaign's: <intake.digest.staff.<stamp>.<random>@domain>. Its parts
        # after the tag are not a row id, so a reply to it is never taken for an answer to a unit's mail.
        message_id = outgoing_message_id(DIGEST, self.identity, "staff", stamp, uuid.uuid4().hex[:12])
        raw = digest_mail(digest, self.identity, self.to, message_id, now, DIGEST, self.templates)
        with session(self.engine) as s:
            row_id = queue_outgoing(s, DIGEST, ", ".join(self.to), digest.subject, message_id, raw, now)
            s.commit()
        # Written after the commit: a file marks a digest as done only when its mail is surely queued.
        return row_id, *write_digest(digest, path)


def in_digest(campaigns: Sequence[CampaignConfig], now: datetime) -> tuple[CampaignConfig, ...]:
    """The campaigns the digest at `now` reports on, in their order: those open at `now` and those that
    closed within the last day (their last day is reported); when none is, the one that closed last (or,
    before any opened, the first to open)."""
    shown = tuple(c for c in campaigns if c.opens <= now and now - REPORTED_AFTER_CLOSE <= c.closes)
    if shown or not campaigns:
        return shown
    opened = [c for c in campaigns if c.opens <= now]
    if opened:
        return (max(opened, key=lambda c: c.closes),)
    return (min(campaigns, key=lambda c: c.opens),)


def previous_digest_time(engine: Engine, folder: Path, tz: tzinfo, now: datetime) -> datetime | None:
    """The latest digest before `now`: queued in the outbox, or written to the folder (its name the local
    time in `tz`, the office's zone)."""
    with session(engine) as s:
        queued = [v for v in s.exec(select(t.OutboxRow.created_at).where(t.OutboxRow.kind == DIGEST)).all()
                  if v is not None]
    written = []
    if folder.is_dir():
        for path in folder.iterdir():
            match = _FILE.fullmatch(path.name)
            if match:
                local = datetime.strptime(match.group(1), _STAMP).replace(tzinfo=tz)
                written.append(local)
    earlier = [moment for moment in (*queued, *written) if moment < now]
    return max(earlier, default=None)


def arrivals_since(engine: Engine, since: datetime | None, now: datetime, limit: int = MAX_ARRIVALS,
                   campaign: str | None = None) -> Arrivals:
    """Mail the bot took in after `since` (from the start when there was no digest) and up to `now`, not
    auto-replies, bounces or duplicates, filed under the campaign with the slug `campaign` (None: under any
    campaign or none): the first `limit` of them, and how many in all."""
    m, i = t.MessageRow, t.ItemRow
    taken = [m.state != t.UNRELATED, m.state != t.DUPLICATE, or_(m.automatic.is_(None), m.automatic == ""),
             m.created_at.is_not(None), m.created_at <= now]
    if since is not None:
        taken.append(m.created_at > since)
    if campaign is not None:
        taken.append(m.campaign == campaign)
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


@dataclass(frozen=True)
class UnsortedRow:
    row_id: int
    received_at: datetime | None
    unit: str | None
    sender: str
    subject: str
    reason: str | None


def unsorted_mail(engine: Engine) -> list[UnsortedRow]:
    """The mail kept under no campaign that needs staff to file it: stored, not an auto-reply or a bounce
    (the same rows as `status`'s unsorted messages, less those that need no decision), oldest first."""
    m = t.MessageRow
    with session(engine) as s:
        rows = s.connection().execute(
            plain(m, "id", "received_at", "unit", "from_addr", "subject", "campaign_reason")
            .where(m.campaign.is_(None), m.state == t.STORED, or_(m.automatic.is_(None), m.automatic == ""))
            .order_by(m.id)).all()
    return [UnsortedRow(r.id, r.received_at, r.unit, r.from_addr or "", r.subject or "", r.campaign_reason)
            for r in rows]


def write_digest(digest: Digest, html_path: Path) -> tuple[Path, Path]:
    """The HTML at `html_path`, the workbook beside it (same name, .xlsx)."""
    xlsx_path = html_path.with_suffix(".xlsx")
    write_atomic(html_path, digest.html.encode("utf-8"))
    write_atomic(xlsx_path, digest.xlsx)
    return html_path, xlsx_path


def stamped_path(folder: Path, now: datetime, tz: tzinfo) -> Path:
    stem = now.astimezone(tz).strftime(_STAMP)
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
    moments = office_digest_moments(schedule, digests.campaigns, digests.zone)
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
