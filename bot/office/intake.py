"""The imperative shell around one message: claim, archive, run the pure steps, store, queue the reply.

Order (each line survives a kill before the next):
  claim the ledger row → archive the raw bytes → write files idempotently →
  one transaction (items, problems, outbox row, ledger state, mailbox cursor) → caller marks on server.
"""

from __future__ import annotations

import hashlib
import logging
import re
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, delete, func, select

from bot.adapters.templates import Templates
from bot.core.mail.triage import returned_message_ids
from bot.core.model import AUTO, CATEGORIES, FORCE, IF_NEVER, ItemPlan, Mail, UnitState
from bot.core.overrides import Overrides, apply_to_analysis
from bot.core.pipeline import NO_REPLY, Analysis, Context, Decision, analyse_raw, in_thread_of, judge, replied_message
from bot.core.render.formats import local_moment
from bot.core.render.outgoing import Identity
from bot.core.render.reply import FileLine, ReplyInput, UnitSummary, render_reply
from bot.core.settings import ReplyLimits
from storage import tables as t
from storage.db import session
from storage.files import FileStore, safe_name

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5  # a message that kills the process this often is marked failed, not retried forever
UNASSIGNED_FOLDER = "_unassigned"


@dataclass(frozen=True)
class Source:
    """Where a message came from: an IMAP folder position, or an imported file (uid None)."""

    folder: str
    uidvalidity: int = 0
    uid: int | None = None


@dataclass(frozen=True)
class Result:
    row_id: int
    state: str  # stored | unrelated | duplicate | failed
    campaign: bool  # campaign mail: mark it on the server
    reply_kind: str | None = None


def reply_topic(subject: str) -> str:
    """A subject without reply and forward prefixes: the thread it belongs to."""
    return re.sub(r"^\s*(?:(?:re|fw|fwd|回复|答复|转发)\s*[:：]\s*)+", "", subject, flags=re.IGNORECASE).strip()


def message_key(mail: Mail, raw: bytes) -> str:
    """The second key of the ledger: the Message-ID, or the raw bytes when there is none."""
    if mail.message_id:
        return hashlib.sha256(b"mid:" + mail.message_id.strip().lower().encode("utf-8", "replace")).hexdigest()
    return hashlib.sha256(raw).hexdigest()


class Intake:
    def __init__(
        self, ctx: Context, engine: Engine, store: FileStore, templates: Templates, identity: Identity,
        reply_limits: ReplyLimits | None = None,
    ) -> None:
        self.reply_limits = reply_limits or ReplyLimits()
        self.ctx = ctx
        self.engine = engine
        self.store = store
        self.templates = templates
        self.identity = identity

    @property
    def campaign_top(self) -> str:
        return safe_name(self.ctx.campaign.slug)

    def process(self, raw: bytes, received_at: datetime, source: Source, now: datetime) -> Result:
        now = now.astimezone(UTC)  # the database keeps UTC
        analysis = analyse_raw(raw, received_at, self.ctx)
        key = message_key(analysis.mail, raw)
        with session(self.engine) as s:
            row = self._find(s, source)
            if row is not None and row.state != t.CLAIMED:
                return Result(row.id or 0, row.state, row.state != t.UNRELATED, row.reply_kind)
            analysis = self._follow_thread(s, analysis)
            if not analysis.relevant:
                return self._record_unrelated(s, source, key, received_at, now)
            if row is None:
                original = self._campaign_row_with_key(s, key)
                if original is not None:
                    return self._record_duplicate(s, source, key, analysis, raw, original, now)
                row = self._claim(s, source, key, analysis, now)
            else:
                row.attempts += 1
                if row.attempts > MAX_ATTEMPTS:
                    return self._fail(s, row, f"gave up after {MAX_ATTEMPTS} interrupted attempts", now)
                s.add(row)
                s.commit()
            try:
                return self._store(s, row, raw, analysis, now)
            except Exception:
                s.rollback()
                log.exception("message %s (%s uid %s) failed", row.id, source.folder, source.uid)
                return self._fail(s, row, traceback.format_exc(), now)

    def _follow_thread(self, s: Session, analysis: Analysis) -> Analysis:
        """A sender we could not place who answers our reply to a unit: that unit's follow-up."""
        if analysis.match.unit is not None or analysis.automatic:
            return analysis
        replied = replied_message(analysis.mail, self.ctx.campaign)
        original = s.get(t.MessageRow, replied) if replied is not None else None
        if original is None or original.unit is None:
            return analysis
        return in_thread_of(analysis, original.unit, replied or 0, self.ctx.campaign)

    # ledger ---------------------------------------------------------------------------------

    def _find(self, s: Session, source: Source) -> t.MessageRow | None:
        if source.uid is None:
            return None
        return s.exec(
            select(t.MessageRow).where(
                t.MessageRow.folder == source.folder,
                t.MessageRow.uidvalidity == source.uidvalidity,
                t.MessageRow.uid == source.uid,
            )
        ).first()

    def _campaign_row_with_key(self, s: Session, key: str) -> t.MessageRow | None:
        return s.exec(
            select(t.MessageRow)
            .where(t.MessageRow.key == key, t.MessageRow.state.in_([t.CLAIMED, t.STORED, t.FAILED]))
            .order_by(t.MessageRow.id)
        ).first()

    def _new_row(self, source: Source, key: str, state: str, now: datetime) -> t.MessageRow:
        return t.MessageRow(
            folder=source.folder, uidvalidity=source.uidvalidity, uid=source.uid,
            key=key, state=state, created_at=now, updated_at=now,
        )

    def _describe(self, row: t.MessageRow, analysis: Analysis) -> None:
        mail = analysis.mail
        row.message_id = mail.message_id
        row.from_addr = mail.from_addr
        row.from_name = mail.from_name
        row.subject = mail.subject
        row.received_at = analysis.received_at.astimezone(UTC)  # SQLite keeps no offset: store UTC
        row.unit = analysis.match.unit
        row.match_how = analysis.match.how
        row.match_text = analysis.match.matched
        row.automatic = analysis.automatic

    def _record_unrelated(
        self, s: Session, source: Source, key: str, received_at: datetime, now: datetime
    ) -> Result:
        """Not campaign mail: keep only the fact that it was seen, nothing of its content."""
        row = self._new_row(source, key, t.UNRELATED, now)
        s.add(row)
        s.commit()
        return Result(row.id or 0, t.UNRELATED, False)

    def _record_duplicate(
        self, s: Session, source: Source, key: str, analysis: Analysis, raw: bytes,
        original: t.MessageRow, now: datetime,
    ) -> Result:
        row = self._new_row(source, key, t.DUPLICATE, now)
        self._describe(row, analysis)
        row.disposition = "duplicate"
        row.duplicate_of = original.id
        s.add(row)
        s.commit()
        row.raw_path = self.store.archive_raw(raw)
        row.raw_sha256 = hashlib.sha256(raw).hexdigest()
        row.raw_size = len(raw)
        s.add(row)
        s.commit()
        return Result(row.id or 0, t.DUPLICATE, True)

    def _claim(self, s: Session, source: Source, key: str, analysis: Analysis, now: datetime) -> t.MessageRow:
        row = self._new_row(source, key, t.CLAIMED, now)
        self._describe(row, analysis)
        row.attempts = 1
        s.add(row)
        s.commit()
        return row

    def _fail(self, s: Session, row: t.MessageRow, error: str, now: datetime) -> Result:
        row.state = t.FAILED
        row.disposition = t.NEEDS_ATTENTION
        row.review = "failed"
        row.error = error
        row.updated_at = now
        s.add(row)
        s.commit()
        return Result(row.id or 0, t.FAILED, True)

    # storing --------------------------------------------------------------------------------

    def unit_state(self, s: Session, unit: str | None, exclude: int | None = None) -> UnitState:
        """What is stored for the unit, leaving out message `exclude` (the one being judged)."""
        if unit is None:
            return UnitState()
        rows = s.exec(select(t.ItemRow.category, t.ItemRow.sha256, t.ItemRow.counted)
                      .where(t.ItemRow.unit == unit, t.ItemRow.path.is_not(None),
                             t.ItemRow.message_row_id != (exclude or 0))).all()
        counts: dict[str, int] = {}
        for category, _sha, counted in rows:
            if counted:
                counts[category] = counts.get(category, 0) + 1
        return UnitState(counts=counts, sha256s=frozenset(sha for _c, sha, _k in rows))

    def _store(self, s: Session, row: t.MessageRow, raw: bytes, analysis: Analysis, now: datetime) -> Result:
        row.raw_path = self.store.archive_raw(raw)
        row.raw_sha256 = hashlib.sha256(raw).hexdigest()
        row.raw_size = len(raw)
        s.add(row)
        s.commit()  # archived: from here on nothing of this message can be lost
        self._record(s, row, analysis, now, AUTO)
        s.commit()
        return Result(row.id or 0, t.STORED, True, row.reply_kind)

    def reprocess(self, row_id: int, now: datetime, overrides: Overrides, reply: str = IF_NEVER,
                  actor: str = "") -> Result:
        """Run a stored message through the pipeline again (after a fix, a roster change or a staff
        decision). Files land where they belong without copies; rows are updated in place, so file ids
        stay; a reply goes out only when `reply` asks (FORCE) or the message never had one (IF_NEVER)."""
        now = now.astimezone(UTC)
        with session(self.engine) as s:
            row = s.get(t.MessageRow, row_id)
            if row is None or row.raw_path is None or row.state not in (t.STORED, t.FAILED, t.CLAIMED):
                raise LookupError(f"message {row_id} has no stored campaign mail to reprocess")
            raw = self.store.absolute(row.raw_path).read_bytes()
            received = row.received_at.replace(tzinfo=UTC) if row.received_at else now
            analysis = self._follow_thread(s, analyse_raw(raw, received, self.ctx))
            analysis = apply_to_analysis(analysis, row_id, overrides, actor)
            existing = list(s.exec(select(t.ItemRow).where(t.ItemRow.message_row_id == row_id)).all())
            old_paths = {i.path for i in existing if i.path}
            for table in (t.ProblemRow, t.LinkRow):
                s.exec(delete(table).where(table.message_row_id == row_id))  # type: ignore[call-overload]
            self._describe(row, analysis)
            self._record(s, row, analysis, now, reply, existing)
            s.commit()
            referenced = set(s.exec(select(t.ItemRow.path).where(t.ItemRow.path.in_(old_paths))).all())
        for path in old_paths - referenced:  # moved to another unit or category: the old copy goes
            self.store.absolute(path).unlink(missing_ok=True)
        return Result(row_id, t.STORED, True, row.reply_kind)

    def _record(self, s: Session, row: t.MessageRow, analysis: Analysis, now: datetime, reply: str,
                existing: list[t.ItemRow] | None = None) -> None:
        """Judge, place the files and write everything about the message in the session (not committed)."""
        decision = judge(analysis, self.unit_state(s, analysis.match.unit, exclude=row.id), self.ctx.campaign)
        placed = self._place_files(decision)
        reusable: dict[tuple[str, str], list[t.ItemRow]] = {}
        for old in existing or ():
            reusable.setdefault((old.source or old.filename, old.sha256), []).append(old)
        for item in decision.items:
            if item.skipped is None:
                fresh = self._item_row(row, decision, item, placed.get(item.index))
                olds = reusable.get((item.source or item.filename, item.sha256))
                if olds:  # the same file as before keeps its id
                    fresh.id = olds.pop(0).id
                    s.merge(fresh)
                else:
                    s.add(fresh)
        for olds in reusable.values():
            for old in olds:
                s.delete(old)
        texts = [self.templates.problem_text(p, self.ctx.campaign, analysis.received_at) for p in decision.problems]
        for link in analysis.links:
            s.add(t.LinkRow(message_row_id=row.id or 0, unit=analysis.match.unit, provider=link.provider,
                            url=link.url, filename=link.filename, size=link.size, expires=link.expires))
        for problem, text in zip(decision.problems, texts, strict=True):
            s.add(t.ProblemRow(message_row_id=row.id or 0, unit=analysis.match.unit, code=problem.code,
                               file=problem.file, text=text))
        row.state = t.STORED
        row.disposition = decision.outcome.status
        row.review = ",".join(decision.outcome.review) or None
        self._record_bounce(s, row, analysis)
        row.late = decision.late
        row.updated_at = now
        row.error = None
        s.flush()
        if decision.outcome.reply != NO_REPLY and analysis.mail.from_addr and self._reply_due(s, row, reply):
            self._queue_reply(s, row, decision, placed, texts, now, forced=reply == FORCE)
        s.add(row)

    def _reply_due(self, s: Session, row: t.MessageRow, reply: str) -> bool:
        if reply == IF_NEVER:
            return s.exec(select(t.OutboxRow.id).where(t.OutboxRow.message_row_id == row.id)).first() is None
        return reply in (AUTO, FORCE)

    def reference(self, row_id: int) -> str:
        """The short reference a unit can quote: IDV2020-0031."""
        return f"{self.ctx.campaign.reference_prefix}-{row_id:04d}"

    def _record_bounce(self, s: Session, row: t.MessageRow, analysis: Analysis) -> None:
        """A bounce of a mail we sent is recorded against that outbox entry, for staff."""
        if analysis.automatic != "bounce":
            return
        ids = [f"<{mid}>" for mid in returned_message_ids(analysis.mail)]
        if not ids:
            return
        for entry in s.exec(select(t.OutboxRow).where(t.OutboxRow.header_message_id.in_(ids))).all():
            entry.bounce_row_id = row.id
            s.add(entry)
            row.review = "bounced-reply"

    def _place_files(self, decision: Decision) -> dict[int, str]:
        """Write every file of the message, idempotently; a late-rejected message keeps only its raw."""
        if any(p.code == "late_rejected" for p in decision.problems):
            return {}
        unit = decision.analysis.match.unit
        folder_unit = unit if unit is not None else UNASSIGNED_FOLDER
        parts = decision.analysis.unpacked.parts
        placed: dict[int, str] = {}
        for item in decision.items:
            if item.skipped is None and not item.already_stored:
                folder = (self.campaign_top, folder_unit, item.category.value)
                placed[item.index] = self.store.place(
                    folder, item.filename, parts[item.index].payload, item.sha256
                )
        return placed

    def _item_row(self, row: t.MessageRow, decision: Decision, item: ItemPlan, path: str | None) -> t.ItemRow:
        f = item.facts
        return t.ItemRow(
            message_row_id=row.id or 0, unit=decision.analysis.match.unit, category=item.category.value,
            filename=item.filename, source=item.source, path=path, size=item.size, sha256=item.sha256, kind=f.kind,
            reason=item.reason, counted=item.counted and path is not None, already_stored=item.already_stored,
            late=decision.late, width=f.width, height=f.height, has_exif=f.has_exif, title=f.title,
        )

    def summary(self, s: Session, unit: str | None) -> UnitSummary:
        if unit is None:
            return UnitSummary(None, {}, ())
        rows = s.exec(
            select(t.ItemRow.category, func.count())
            .where(t.ItemRow.unit == unit, t.ItemRow.counted)
            .group_by(t.ItemRow.category)
        ).all()
        counts = {category: n for category, n in rows}
        roster_unit = self.ctx.roster.by_name(unit)
        required = roster_unit.required if roster_unit else True
        missing = tuple(c for c in self.ctx.campaign.required if required and not counts.get(c))
        return UnitSummary(unit, {c.value: counts.get(c.value, 0) for c in CATEGORIES}, missing)

    def _queue_reply(
        self, s: Session, row: t.MessageRow, decision: Decision, placed: dict[int, str],
        texts: list[str], now: datetime, forced: bool = False,
    ) -> None:
        analysis = decision.analysis
        mail = analysis.mail
        if not forced and self._over_reply_limit(s, mail.from_addr, mail.subject, analysis.received_at):
            row.review = ",".join(filter(None, [row.review, "reply-limit"]))
            log.warning("no reply to %s: reply limit reached (loop or flood?)", mail.from_addr)
            return
        received = tuple(
            FileLine(i.shown, i.category.value, i.size) for i in decision.items if i.counted and i.index in placed
        )
        notes = self._notes(decision, placed)
        reply_input = ReplyInput(
            kind=decision.outcome.reply, to_addr=mail.from_addr, to_name=mail.from_name,
            original_subject=mail.subject, original_message_id=mail.message_id,
            original_references=mail.header("references"), received=received,
            problems=tuple(zip(decision.problems, texts, strict=True)), notes=notes,
            summary=self.summary(s, analysis.match.unit), reference=self.reference(row.id or 0),
        )
        domain = self.identity.address.rpartition("@")[2] or "localhost"
        earlier = len(s.exec(select(t.OutboxRow.id).where(t.OutboxRow.message_row_id == row.id)).all())
        again = f".{earlier + 1}" if earlier else ""  # a resend or a reply after reprocessing
        message_id = f"<intake.{self.ctx.campaign.slug}.{row.id}.{decision.outcome.reply}{again}@{domain}>"
        reply = render_reply(self.templates, reply_input, self.ctx.campaign, self.identity, message_id, now)
        s.add(t.OutboxRow(
            message_row_id=row.id, kind=decision.outcome.reply, to_addr=reply.to_addr, subject=reply.subject,
            header_message_id=message_id, raw=reply.raw, state=t.PENDING, next_attempt_at=now, created_at=now,
        ))
        row.reply_kind = decision.outcome.reply

    def _over_reply_limit(self, s: Session, address: str, subject: str, received_at: datetime) -> bool:
        """At most N replies to one address for mail received within a window, and fewer for the same
        subject: whatever goes wrong elsewhere (an auto-responder we do not recognise), the bot never
        starts a loop. The window is on the mail's receive time, not the reply's, so a first run over a
        backlog of weeks answers every mail, while a loop (mail arriving as fast as we answer) is cut."""
        limits = self.reply_limits
        window = timedelta(hours=limits.window_hours)
        received = received_at.astimezone(UTC)
        recent = s.exec(
            select(t.MessageRow.subject)
            .join(t.OutboxRow, t.OutboxRow.message_row_id == t.MessageRow.id)
            .where(t.OutboxRow.to_addr == address, t.MessageRow.received_at >= received - window,
                   t.MessageRow.received_at <= received + window)
        ).all()
        same = sum(1 for previous in recent if reply_topic(previous or "") == reply_topic(subject))
        return len(recent) >= limits.max_per_sender or same >= limits.max_same_subject

    def _notes(self, decision: Decision, placed: dict[int, str]) -> tuple[str, ...]:
        campaign = self.ctx.campaign
        notes: list[str] = []
        tx = self.templates
        if decision.late and not any(p.code == "late_rejected" for p in decision.problems):
            notes.append(tx.text("notes", "late", received=local_moment(decision.analysis.received_at, campaign),
                                 deadline=local_moment(campaign.deadline, campaign)))
        for item in decision.items:
            if item.skipped is None and item.already_stored:
                notes.append(tx.text("notes", "already_stored", file=item.shown))
            stored = placed.get(item.index)
            if stored is not None:
                stored_name = stored.rsplit("/", 1)[-1]
                if safe_name(item.filename) != item.filename and not item.source:
                    notes.append(tx.text("notes", "renamed", original=item.filename, stored=stored_name))
        return tuple(notes)
