"""The one wiring place: config in, the application's parts out. Nothing here runs at import time.

The mail pipeline, IMAP and SMTP are imported when first used: the report commands (status, digest,
export) need none of them, and staff wait for those."""

from __future__ import annotations

import functools
import logging
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from bot.adapters.config_file import Config
from bot.adapters.templates import Templates
from bot.core.render.outgoing import Identity
from bot.core.roster import Roster, RosterError
from bot.core.settings import CampaignConfig, office_zone
from bot.office import campaigns_in_force as campaigns_store
from bot.office.roster_in_force import fingerprint, has_roster, roster_in_force, sync_config_roster
from storage.db import held, make_engine
from storage.files import FileStore

if TYPE_CHECKING:
    from bot.adapters.mailbox import ImapMailbox
    from bot.adapters.smtp import SmtpMailer
    from bot.core.pipeline import Context
    from bot.office.digest import Digests
    from bot.office.intake.shell import Intake
    from bot.office.outbox import FlushReport
    from bot.office.reminders import Reminders

log = logging.getLogger(__name__)


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class App:
    config: Config
    roster: Roster
    engine: Engine
    store: FileStore
    templates: Templates
    identity: Identity
    base_roster: Roster | None = None  # given by the caller instead of the imported roster
    roster_version: tuple[int, int] = (0, 0)
    campaigns: tuple[CampaignConfig, ...] = ()  # every campaign in force (bot/office/campaigns_in_force.py)
    campaigns_version: tuple[int, str] = (0, "")
    _intake: Intake | None = field(default=None, repr=False)

    @property
    def intake(self) -> Intake:
        """The pipeline's shell, built on first use."""
        if self._intake is None:
            from bot.office.intake.ledger import Claimant
            from bot.office.intake.shell import Intake, worker_name

            storage = self.config.storage
            claimant = Claimant(worker_name(), timedelta(seconds=storage.claim_lease_seconds), not storage.shared)
            self._intake = Intake(self.context(), self.engine, self.store, self.templates, self.identity,
                                  self.config.replies, claimant)
        return self._intake

    def context(self) -> Context:
        """What the pure steps need, with the roster in force now: the one place it is built."""
        from bot.adapters.bsdtar import read_rar
        from bot.core.files.unpack import BUILT_IN_READERS
        from bot.core.pipeline import Context

        config = self.config
        own = {self.identity.address, *((config.imap.username,) if config.imap else ())} - {""}
        return Context(self.campaigns, self.roster, tuple(sorted(a.lower() for a in own)), config.check_sender_auth,
                       {**BUILT_IN_READERS, "rar": read_rar})

    @property
    def zone(self) -> ZoneInfo:
        """The office's time zone (its first campaign's): the worker's clock and the digest's day."""
        return office_zone(self.campaigns)

    def campaign(self, slug: str) -> CampaignConfig:
        """The campaign with this slug; SystemExit naming the known ones when there is none."""
        found = next((c for c in self.campaigns if c.slug == slug), None)
        if found is None:
            known = ", ".join(c.slug for c in self.campaigns) or "none"
            raise SystemExit(f"no campaign {slug!r} (campaigns: {known})")
        return found

    def refresh_roster(self) -> bool:
        """Pick up an edited roster file or config campaign, a roster import, a campaign added, closed or
        reopened, or a staff decision made by another process; True when the roster or the campaigns in force
        changed. A roster file with an error is logged and the one in force kept."""
        if self.base_roster is None:
            take_roster_file(self.engine, self.config.units_file)
        campaigns_store.sync_config_campaigns(self.engine, self.config, system_clock())
        version, campaigns_version = fingerprint(self.engine), campaigns_store.fingerprint(self.engine)
        if (version, campaigns_version) == (self.roster_version, self.campaigns_version):
            return False
        self.roster = roster_in_force(self.engine, self.base_roster)
        self.campaigns = campaigns_store.campaigns_in_force(self.engine, self.config)
        self.roster_version, self.campaigns_version = version, campaigns_version
        if self._intake is not None:
            self._intake.ctx = self.context()
        return True

    def digests(self) -> Digests:
        """The digest with the roster in force now."""
        from bot.office.digest import FOLDER, Digests

        c = self.config
        return Digests(self.engine, c.storage.data_dir / FOLDER, self.campaigns, self.roster, self.templates,
                       self.identity, c.digest_to, c.web.base_url)

    def reminders(self) -> Reminders:
        """Reminders with the roster in force now."""
        from bot.office.reminders import Reminders

        c = self.config
        return Reminders(self.engine, self.campaigns, c.schedule, self.roster, self.templates, self.identity,
                         c.digest_to)

    def send_outbox(self, now: datetime) -> FlushReport:
        """Send what the outbox holds (nothing to do without an [smtp] section)."""
        from bot.office.outbox import FlushReport, flush_outbox

        if self.config.smtp is None:
            return FlushReport()
        return flush_outbox(self.engine, self.mailer(), self.identity.address, now)

    def sweep(self, now: datetime) -> list[str]:
        """Start-up: remove stored files no row refers to. Beside other workers (a shared database), only
        files older than a claim's lease at `now` (the machine's time, as the files' own): a younger one may be
        another worker's, not yet committed."""
        from bot.office.sweep import sweep_unreferenced

        storage = self.config.storage
        before = now - timedelta(seconds=storage.claim_lease_seconds) if storage.shared else None
        return sweep_unreferenced(self.engine, self.store, [c.slug for c in self.campaigns], before)

    def mailbox(self) -> ImapMailbox:
        from bot.adapters.mailbox import ImapMailbox

        if self.config.imap is None:
            raise SystemExit("config has no [imap] section")
        return ImapMailbox(self.config.imap, ssl_context(self.config.imap.ca_file))

    def mailer(self) -> SmtpMailer:
        from bot.adapters.smtp import SmtpMailer

        if self.config.smtp is None:
            raise SystemExit("config has no [smtp] section")
        return SmtpMailer(self.config.smtp, ssl_context(self.config.smtp.ca_file))


@functools.lru_cache(maxsize=4)
def ssl_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """Certificates and host names are always verified; `ca_file` adds a private CA to trust. Built once per
    process and reused by every connection: loading the system's CA store takes about 50 ms, and a worker
    connects twice a cycle (IMAP and SMTP)."""
    if ca_file is not None and not ca_file.is_file():
        raise SystemExit(f"ca_file not found: {ca_file}")
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


def identity_of(config: Config) -> Identity:
    if config.smtp is not None:
        return Identity(config.smtp.from_address, config.smtp.from_name)
    address = config.imap.username if config.imap is not None else "intake@localhost"
    return Identity(address, config.campaigns[0].name if config.campaigns else "")


def take_roster_file(engine: Engine, units_file: Path) -> None:
    """Import the config's roster file when it is new or edited. An edit with an error is logged and the
    roster in force kept; with no roster in force yet, the error is raised (RosterError)."""
    try:
        sync_config_roster(engine, units_file, system_clock())
    except RosterError as exc:
        if not has_roster(engine):
            raise
        log.error("the edited roster was not taken, the one in force stays: %s", exc)


def build(config: Config, base_roster: Roster | None = None) -> App:
    """The application; its roster is the imported one in force (the config's file is imported when it
    is new or changed), or `base_roster`, with staff decisions applied."""
    engine = make_engine(config.storage.database_url)
    with held(engine, "intake:start-up"):  # workers starting together import the files once
        if base_roster is None:
            take_roster_file(engine, config.units_file)
        campaigns_store.sync_config_campaigns(engine, config, system_clock())
    roster = roster_in_force(engine, base_roster)
    return App(config, roster, engine, FileStore(config.storage.data_dir), Templates(config.templates_dir),
               identity_of(config), base_roster, fingerprint(engine),
               campaigns_store.campaigns_in_force(engine, config), campaigns_store.fingerprint(engine))
