"""The database tables (SQLModel). One ledger row per message seen, claimed before any work."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, LargeBinary, Table, TypeDecorator, UniqueConstraint
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """A moment kept as naive UTC (SQLite keeps no offset) and read back aware, in UTC: no caller converts."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None or value.tzinfo is None:
            return value
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


# Ledger states: the row's progress through the pipeline.
CLAIMED = "claimed"  # row written, work under way (a crash leaves it here; the next run resumes)
STORED = "stored"  # files and rows committed, reply (if any) in the outbox
FAILED = "failed"  # processing raised; kept for staff, never retried in a loop
UNRELATED = "unrelated"  # not campaign mail: only the fact that it was seen is kept
DUPLICATE = "duplicate"  # the same message delivered again

# The disposition staff must look at (a message's disposition is the outcome's: accepted | needs_attention |
# ignored; status --json shows it as "status").
NEEDS_ATTENTION = "needs_attention"

# Outbox states.
PENDING = "pending"
SENT = "sent"
SEND_FAILED = "failed"


class MessageRow(SQLModel, table=True):
    """The ledger: one row per message seen in a mailbox folder or imported from a file."""

    __tablename__ = "message"
    __table_args__ = (UniqueConstraint("folder", "uidvalidity", "uid", name="uq_message_source"),)

    id: int | None = Field(default=None, primary_key=True)
    folder: str  # IMAP folder, or "import:<file name>"
    uidvalidity: int = 0
    uid: int = 0
    key: str = Field(index=True)  # sha256 of the Message-ID, or of the raw bytes when it has none
    state: str = Field(index=True, default=CLAIMED)
    attempts: int = 0
    disposition: str | None = None  # accepted | needs_attention | ignored | duplicate
    received_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Content facts: only for campaign mail (unrelated mail keeps none of its content).
    message_id: str | None = None
    from_addr: str | None = None
    from_name: str | None = None
    subject: str | None = None
    raw_sha256: str | None = None
    raw_path: str | None = None  # relative to data_dir
    raw_size: int | None = None
    unit: str | None = Field(default=None, index=True)
    campaign: str | None = Field(default=None, index=True)  # the slug it is filed under; None: not yet sorted
    campaign_reason: str | None = None  # how it was routed there (bot/core/routing.py), or why it was not
    match_how: str | None = None
    match_text: str | None = None
    review: str | None = None  # comma-separated reasons a person must look at it
    automatic: str | None = None  # why it gets no reply (auto-reply, bounce, …)
    late: bool = False
    reply_kind: str | None = None  # receipt | problems | ask_unit
    duplicate_of: int | None = None
    marked: bool = False  # flagged or moved on the server
    error: str | None = None
    worker: str | None = None  # the worker that holds (or last held) the claim: "host:pid"
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)  # a claim past this may be taken over
    created_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ItemRow(SQLModel, table=True):
    """One file taken from a message."""

    __tablename__ = "item"

    id: int | None = Field(default=None, primary_key=True)
    message_row_id: int = Field(foreign_key="message.id", index=True)
    unit: str | None = Field(default=None, index=True)
    campaign: str | None = Field(default=None, index=True)  # its message's campaign
    category: str
    filename: str  # as the sender named it
    path: str | None = None  # stored file, relative to data_dir (None when not stored)
    source: str = ""  # where it sat in the mail: "材料.zip/照片/1.jpg"
    size: int
    sha256: str = Field(index=True)
    kind: str  # sniffed file type
    reason: str  # why this category
    counted: bool = True
    already_stored: bool = False
    late: bool = False
    width: int | None = None
    height: int | None = None
    has_exif: bool = False
    title: str | None = None


class ProblemRow(SQLModel, table=True):
    __tablename__ = "problem"

    id: int | None = Field(default=None, primary_key=True)
    message_row_id: int = Field(foreign_key="message.id", index=True)
    unit: str | None = Field(default=None, index=True)
    code: str
    file: str | None = None
    text: str


class OutboxRow(SQLModel, table=True):
    """An outgoing mail, written in the same transaction as what it describes; sent by the flusher."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    message_row_id: int | None = Field(default=None, foreign_key="message.id", index=True)
    kind: str  # receipt | problems | ask_unit | reminder | digest
    to_addr: str
    subject: str
    header_message_id: str = Field(unique=True)
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    state: str = Field(index=True, default=PENDING)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = None
    created_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    bounce_row_id: int | None = None  # the bounce that came back for it


class LinkRow(SQLModel, table=True):
    """A file the sender put behind a download link (超大附件): not received, shown to staff."""

    __tablename__ = "link"

    id: int | None = Field(default=None, primary_key=True)
    message_row_id: int = Field(foreign_key="message.id", index=True)
    unit: str | None = None
    provider: str
    url: str
    filename: str
    size: str = ""
    expires: str = ""


class QuestionRow(SQLModel, table=True):
    """A question a unit asked in a mail without files: staff answer it and mark it answered."""

    __tablename__ = "question"

    id: int | None = Field(default=None, primary_key=True)
    message_row_id: int = Field(foreign_key="message.id", index=True, unique=True)
    unit: str | None = None
    text: str
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    answered_by: str | None = None


class CursorRow(SQLModel, table=True):
    """How far a mailbox folder has been read: only UIDs above last_uid are fetched."""

    __tablename__ = "cursor"

    folder: str = Field(primary_key=True)
    uidvalidity: int
    last_uid: int = 0


class CampaignRow(SQLModel, table=True):
    """A campaign (a notice): its keys as the config or a staff file gave them; staff close and reopen it."""

    __tablename__ = "campaign"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(unique=True)
    table_json: str  # its TOML table as JSON (dates as ISO text), read by bot/adapters/config_file.py
    source: str  # "config", or the file `intake campaigns add` took it from
    config_sha256: str | None = None  # the config's table last imported: a config edit replaces the keys
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class RosterRow(SQLModel, table=True):
    """A roster as imported (from the file named in config, or by `intake units import`); the latest is in force."""

    __tablename__ = "roster"

    id: int | None = Field(default=None, primary_key=True)
    imported_at: datetime = Field(sa_type=UTCDateTime)
    source: str  # file name as given
    sha256: str = Field(index=True)
    units_json: str  # the units, as parsed


class OverrideRow(SQLModel, table=True):
    """A staff decision the pipeline respects from then on; the latest row per (kind, key) is in force."""

    __tablename__ = "override"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True)  # exempt | address | assign | category
    key: str  # unit name | mail address | message row id | item key
    value: str  # "" withdraws an earlier decision
    action_id: int | None = Field(default=None, foreign_key="action.id")
    created_at: datetime = Field(sa_type=UTCDateTime)


class ActionRow(SQLModel, table=True):
    """The audit trail: every change a staff command made — who, when, what."""

    __tablename__ = "action"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime)
    actor: str
    command: str  # assign | reclassify | exempt | resend | reprocess | units-import
    unit: str | None = Field(default=None, index=True)
    message_row_id: int | None = Field(default=None, index=True)
    item_id: int | None = None
    detail: str = "{}"  # JSON: what changed, from what to what


# Reminder ledger states.
REMINDER_SENT = "sent"  # its outbox rows were written in the same transaction
REMINDER_SKIPPED = "skipped"  # missed while the worker was down and superseded: never sent later
REMINDER_NO_ADDRESS = "no_address"  # due, but the roster had no address for the unit (logged once)


class ReminderRow(SQLModel, table=True):
    """One (unit, slot) of reminders or the overdue notice, written with its outbox rows: sent at most once."""

    __tablename__ = "reminder"
    __table_args__ = (UniqueConstraint("campaign", "unit", "slot", name="uq_reminder_slot"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign: str  # campaign slug
    unit: str = Field(index=True)
    kind: str  # reminder | overdue
    slot: str  # the slot as written in the config ("-3d 09:00"), or "overdue"
    state: str  # sent | skipped | no_address
    moment: datetime = Field(sa_type=UTCDateTime)  # the slot's moment (UTC)
    missing: str = ""  # categories still missing then, comma-separated
    outbox_ids: str = ""  # the outbox rows (one per address), comma-separated
    at: datetime = Field(sa_type=UTCDateTime)  # when this row was written (UTC)


class JobRunRow(SQLModel, table=True):
    """One run of a once-per-slot job (the daily digest: key = local date), claimed before the work."""

    __tablename__ = "job_run"
    __table_args__ = (UniqueConstraint("job", "key", name="uq_job_run"),)

    id: int | None = Field(default=None, primary_key=True)
    job: str  # digest
    key: str  # 2020-12-03
    state: str  # claimed | sent | skipped | empty (the job queued nothing)
    moment: datetime = Field(sa_type=UTCDateTime)  # the slot's moment (UTC)
    outbox_row_id: int | None = None
    at: datetime = Field(sa_type=UTCDateTime)  # when this row was last written (UTC)


# Account roles (bot/office/accounts.py).
ROLE_STAFF = "staff"  # may make changes in the web console
ROLE_VIEWER = "viewer"  # may only read


class AccountRow(SQLModel, table=True):
    """A staff account of the web console: its name, role and password hash (argon2id, bot/office/accounts.py)."""

    __tablename__ = "account"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)
    role: str  # staff | viewer
    password_hash: str  # as argon2-cffi writes it: "$argon2id$v=19$m=…"; never the password
    disabled: bool = False  # refused at login, kept for the history
    created_at: datetime = Field(sa_type=UTCDateTime)
    changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # last disabled, enabled or new password


# The tables themselves, for the statements the hot paths build once in Core (office/intake, poll, outbox).
MESSAGE: Table = MessageRow.__table__  # type: ignore[attr-defined]
ITEM: Table = ItemRow.__table__  # type: ignore[attr-defined]
OUTBOX: Table = OutboxRow.__table__  # type: ignore[attr-defined]
CURSOR: Table = CursorRow.__table__  # type: ignore[attr-defined]
