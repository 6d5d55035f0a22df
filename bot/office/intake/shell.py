"""The imperative shell around one message. `Intake.claim` then `Intake.process` read top to bottom as the
crash-safe order:

  claim the ledger row (from the headers, before the body is read) → analyse (the pure steps) → unrelated?
  keep only that it was seen → a duplicate delivery? record it → archive the raw bytes → write files
  idempotently → one transaction, while the claim is still ours: items, problems, the outbox row of the
  reply, the ledger state and the folder's cursor → (the caller marks the message on the server).

A message that raises while analysed is failed for staff; one that kills the process while analysed is
counted at each try and set aside after `limits.max_attempts` tries, so it never blocks the mailbox.
"""

from __future__ import annotations

import logging
import os
import socket
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, delete, select

from bot.core.overrides import Overrides, apply_to_analysis
from bot.core.pipeline import NO_REPLY, Analysis, Context, Decision, analyse_raw, in_thread_of, judge, replied_message
from bot.core.render.outgoing import Identity
from bot.core.render.texts import Texts
from bot.core.settings import ReplyLimits
from bot.office.intake import ledger
from bot.office.intake.bounces import record_bounce
from bot.office.intake.filing import place_files, record_question, unit_state, write_items
from bot.office.intake.ledger import Claimant, Result, Source
from bot.office.intake.replies import Replier
from bot.office.intake.reply_policy import ReplyPolicy
from storage import tables as t
from storage.db import advisory_lock, session
from storage.files import FileStore, RawWrite

log = logging.getLogger(__name__)


def worker_name() -> str:
    """This process as a claim names it."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Claim:
    """What `Intake.claim` found: a row this worker now holds, or one finished before (`done`), or neither
    (another worker holds it)."""

    row: t.MessageRow | None = None
    done: Result | None = None
    ahead: bool = False  # taken ahead of its turn: its attempt is counted when its work starts


class Intake:
    def __init__(self, ctx: Context, engine: Engine, store: FileStore, templates: Texts, identity: Identity,
                 reply_limits: ReplyLimits | None = None, claimant: Claimant | None = None) -> None:
        self.ctx = ctx  # replaced by the application when the roster in force changes
        self.engine = engine
        self.store = store
        self.templates = templates
        self.identity = identity
        self.reply_limits = reply_limits or ReplyLimits()
        self.claimant = claimant or Claimant(worker_name(), timedelta(minutes=10))

    def claim(self, source: Source, key: str, now: datetime, ahead: bool = False) -> Claim:
        """The ledger row of the message at `source`, claimed for this worker before its bytes are read:
        a new row, or a claimed one whose worker is gone (taken over). A row finished before is only
        passed to the caller (to mark it on the server); one another worker holds is left to it. The attempt
        is counted with the claim, or with `ahead` (the poll's next message) when its work starts."""
        now = now.astimezone(UTC)
        who = self.claimant
        with session(self.engine) as s:
            row = ledger.find(s, source)
            if row is None:
                row = ledger.claim(s, source, key, now, who, started=not ahead)  # committed before it is read
                if row is not None:
                    return Claim(row=row, ahead=ahead)
                row = ledger.find(s, source)  # another worker inserted it first
                if row is None:
                    return Claim()
            if row.state != t.CLAIMED:
                return Claim(done=ledger.finish(s, row, source, row.updated_at or now))
            return Claim(row=row, ahead=ahead) if ledger.take_over(s, row, now, who, started=not ahead) else Claim()

    def process(self, raw: bytes, received_at: datetime, source: Source, now: datetime,
                claim: Claim | None = None, written: RawWrite | None = None) -> Result | None:
        """The message's whole path (claimed first when `claim` is not given); None when another worker
        has it, or took it over while this one outlived its lease. `written`: the archiving of `raw`, when the
        caller started it (`self.store.archiving(raw)`, as the poll does when the bytes arrive); kept or dropped
        here in every case."""
        now = now.astimezone(UTC)
        try:
            if claim is None:
                claim = self.claim(source, ledger.ledger_key(ledger.header_message_id(ledger.header_block(raw)),
                                                             raw), now)
            if claim.row is None:
                return claim.done
            # The raw bytes go to disk while the message is judged; kept if it is campaign mail, else removed.
            written = written or self.store.archiving(raw)
            return self._judge_and_store(claim.row, raw, received_at, source, now, written, claim.ahead)
        except ledger.LostClaim as exc:
            log.warning("%s", exc)
            return None
        finally:
            if written is not None:
                written.drop()

    def release(self, claim: Claim) -> None:
        """Drop a claim whose message left the server before it was read."""
        if claim.row is not None:
            with session(self.engine) as s:
                ledger.abandon(s, claim.row, self.claimant)

    def give_back(self, claim: Claim) -> None:
        """Return a claim whose message was never worked on (bot/office/poll.py): taken ahead of its turn, or its
        bytes never arrived. Free to take at once, its attempt not counted."""
        if claim.row is not None:
            with session(self.engine) as s:
                ledger.give_back(s, claim.row, self.claimant, counted=not claim.ahead)

    def _judge_and_store(self, row: t.MessageRow, raw: bytes, received_at: datetime, source: Source, now: datetime,
                         written: RawWrite, ahead: bool) -> Result:
        who = self.claimant
        with session(self.engine) as s:
            s.add(row)
            if ahead:
                ledger.start(s, row, now, who)
            row.key = ledger.ledger_key(ledger.header_message_id(ledger.header_block(raw)), raw)  # now from the bytes
            allowed = self.ctx.limits.max_attempts
            if row.attempts > allowed:  # interrupted that often: the process died while working on it
                error = f"gave up after {allowed} interrupted attempts (the process died while working on it)"
                return ledger.set_aside(s, row, source, raw, received_at, written, error, now, who)
            try:
                analysis = self.analyse(s, raw, received_at)
            except Exception:
                log.exception("message %s (%s uid %s) could not be analysed", row.id, source.folder, source.uid)
                s.rollback()
                return ledger.set_aside(s, row, source, raw, received_at, written, traceback.format_exc(), now,
                                        who)
            if not analysis.relevant:
                return ledger.record_unrelated(s, row, source, now, who)
            row.key = ledger.ledger_key(analysis.mail.message_id, raw)
            original = ledger.earlier_campaign_row(s, row.key, row.id or 0)
            if original is not None:
                return ledger.record_duplicate(s, row, source, analysis, raw, original, written, now, who)
            try:
                return self._store(s, row, source, raw, written, analysis, now)
            except ledger.LostClaim:
                raise
            except Exception:
                s.rollback()
                log.exception("message %s (%s uid %s) failed", row.id, source.folder, source.uid)
                return ledger.fail(s, row, source, traceback.format_exc(), now, who)

    def analyse(self, s: Session, raw: bytes, received_at: datetime) -> Analysis:
        """The pure steps, then what only the ledger knows: a mail that answers our reply is filed under that
        message's campaign, and when its sender is one we could not place, it is that unit's follow-up."""
        analysis = analyse_raw(raw, received_at, self.ctx)
        replied = replied_message(analysis.mail, self.ctx.campaigns)
        original = s.get(t.MessageRow, replied) if replied is not None else None
        if original is None or original.state not in (t.STORED, t.FAILED, t.DUPLICATE):
            return analysis
        return in_thread_of(analysis, original.unit, original.id or 0, original.campaign, self.ctx,
                            original.reply_kind)

    def preview(self, raw: bytes, received_at: datetime) -> Decision:
        """What `process` would decide for this message now, storing and sending nothing (`intake inspect`)."""
        with session(self.engine) as s:
            analysis = self.analyse(s, raw, received_at)
            return judge(analysis, unit_state(s, analysis.match.unit, analysis.route.slug))

    def _store(self, s: Session, row: t.MessageRow, source: Source, raw: bytes, written: RawWrite,
               analysis: Analysis, now: datetime) -> Result:
        ledger.describe_match(row, analysis)
        ledger.archive(row, raw, written)
        s.add(row)
        s.commit()  # archived: from here on nothing of this message can be lost
        self._record(s, row, analysis, now, ReplyPolicy.AS_DECIDED)
        return ledger.finish(s, row, source, now, self.claimant)

    def reprocess(self, row_id: int, now: datetime, overrides: Overrides,
                  reply: ReplyPolicy = ReplyPolicy.IF_NEVER_ANSWERED, actor: str = "") -> Result:
        """Run a stored message through the pipeline again (after a fix, a roster change or a staff
        decision). Files land where they belong without copies; rows are updated in place, so file ids
        stay; a reply goes out only as `reply` says."""
        now = now.astimezone(UTC)
        with session(self.engine) as s:
            row = s.get(t.MessageRow, row_id)
            if row is None or row.raw_path is None or row.state not in (t.STORED, t.FAILED, t.CLAIMED):
                raise LookupError(f"message {row_id} has no stored campaign mail to reprocess")
            raw = self.store.absolute(row.raw_path).read_bytes()
            analysis = self.analyse(s, raw, row.received_at or now)
            analysis = apply_to_analysis(analysis, row_id, overrides, self.ctx.campaigns, actor)
            existing = list(s.exec(select(t.ItemRow).where(t.ItemRow.message_row_id == row_id)).all())
            old_paths = {i.path for i in existing if i.path}
            for table in (t.ProblemRow, t.LinkRow):
                s.exec(delete(table).where(table.message_row_id == row_id))  # type: ignore[call-overload]
            ledger.describe_match(row, analysis)
            self._record(s, row, analysis, now, reply, existing)
            s.commit()
            referenced = set(s.exec(select(t.ItemRow.path).where(t.ItemRow.path.in_(old_paths))).all())
        for path in old_paths - referenced:  # moved to another unit or category: the old copy goes
            self.store.absolute(path).unlink(missing_ok=True)
        return Result(row_id, t.STORED, True, row.reply_kind)

    def _record(self, s: Session, row: t.MessageRow, analysis: Analysis, now: datetime, reply: ReplyPolicy,
                existing: list[t.ItemRow] | None = None) -> None:
        """Judge, place the files and write everything about the message in the session (not committed)."""
        if analysis.match.unit is not None:  # one judgement of a unit at a time, across workers and staff
            advisory_lock(s, f"unit:{analysis.route.slug}:{analysis.match.unit}")
        decision = judge(analysis, unit_state(s, analysis.match.unit, analysis.route.slug, exclude=row.id))
        placing = self.store.placing()  # the files go to disk while the rest of the record is made
        try:
            self._record_placed(s, row, analysis, decision, place_files(decision, placing), now, reply, existing)
        except BaseException:
            placing.settle()  # no write outlives the attempt
            raise
        placing.wait()  # every file on disk before the caller commits

    def _record_placed(self, s: Session, row: t.MessageRow, analysis: Analysis, decision: Decision,
                       placed: dict[int, str], now: datetime, reply: ReplyPolicy,
                       existing: list[t.ItemRow] | None) -> None:
        fresh = existing is None  # the message's first record: no row of it is in the database yet
        write_items(s, row, decision, placed, existing or [])
        campaign = analysis.campaign
        texts = [self.templates.problem_text(p, campaign, analysis.received_at) for p in decision.problems
                 if campaign is not None]
        for link in analysis.links:
            s.add(t.LinkRow(message_row_id=row.id or 0, unit=analysis.match.unit, provider=link.provider,
                            url=link.url, filename=link.filename, size=link.size, expires=link.expires))
        for problem, text in zip(decision.problems, texts, strict=True):
            s.add(t.ProblemRow(message_row_id=row.id or 0, unit=analysis.match.unit, code=problem.code,
                               file=problem.file, text=text))
        record_question(s, row, decision, fresh)
        row.state = t.STORED
        row.disposition = decision.outcome.disposition
        row.review = ",".join(decision.outcome.review) or None
        record_bounce(s, row, analysis)
        row.late = decision.late
        row.updated_at = now
        row.error = None
        s.flush()
        if decision.outcome.reply != NO_REPLY and analysis.mail.from_addr and self._reply_due(s, row, reply):
            replier = Replier(self.ctx, self.templates, self.identity, self.reply_limits)
            replier.queue(s, row, decision, placed, texts, now, forced=reply == ReplyPolicy.ALWAYS, fresh=fresh)
        s.add(row)

    def _reply_due(self, s: Session, row: t.MessageRow, reply: ReplyPolicy) -> bool:
        if reply == ReplyPolicy.IF_NEVER_ANSWERED:
            return s.exec(select(t.OutboxRow.id).where(t.OutboxRow.message_row_id == row.id)).first() is None
        return reply in (ReplyPolicy.AS_DECIDED, ReplyPolicy.ALWAYS)
