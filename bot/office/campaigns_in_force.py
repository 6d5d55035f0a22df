"""The campaigns in force: every notice the mailbox collects for, kept in the database like the roster.

The config's campaigns are imported whenever a table's content differs from what was last imported from
it (an edit of the config replaces that campaign's keys); `intake campaigns add FILE` adds or replaces one
without touching the config; `close` and `reopen` set the moment it stops taking mail. A campaign is never
deleted: its mail and files stay filed under it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import date, datetime, time
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from bot.adapters.config_file import Config, ConfigError
from bot.core.settings import CampaignConfig
from storage import tables as t
from storage.db import session

CONFIG = "config"


def table_json(table: dict[str, Any]) -> str:
    """A campaign's TOML table as canonical JSON (dates and times as ISO text, which the parser reads back)."""
    def iso(value: object) -> str:
        if isinstance(value, datetime | date | time):
            return value.isoformat()
        raise TypeError(f"cannot keep {value!r}")

    return json.dumps(table, default=iso, ensure_ascii=False, sort_keys=True)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sync_config_campaigns(engine: Engine, config: Config, now: datetime) -> None:
    """Import each campaign of the config whose table changed since it was last imported (or is new)."""
    with session(engine) as s:
        rows = {row.slug: row for row in s.exec(select(t.CampaignRow)).all()}
        changed = False
        for table, campaign in zip(config.campaign_tables, config.campaigns, strict=True):
            text = table_json(table)
            digest = sha256(text)
            row = rows.get(campaign.slug)
            if row is not None and row.config_sha256 == digest:
                continue
            if row is None:
                row = t.CampaignRow(slug=campaign.slug, table_json=text, source=CONFIG, updated_at=now)
            row.table_json, row.source, row.config_sha256, row.updated_at = text, CONFIG, digest, now
            s.add(row)
            changed = True
        if changed:
            s.commit()


def add_campaign(s: Session, config: Config, table: dict[str, Any], source: str, now: datetime) -> CampaignConfig:
    """Add a campaign, or replace the keys of the one with its slug (ConfigError when a key is wrong). Its
    closing, if staff closed it, stays. The caller commits."""
    campaign = config.campaign_from(table)
    row = s.exec(select(t.CampaignRow).where(t.CampaignRow.slug == campaign.slug)).first()
    if row is None:
        row = t.CampaignRow(slug=campaign.slug, table_json="", source=source, updated_at=now)
    row.table_json, row.source, row.updated_at = table_json(table), source, now
    s.add(row)
    s.flush()
    return campaign


def set_closed(s: Session, slug: str, closed_at: datetime | None, now: datetime) -> t.CampaignRow:
    """Close a campaign at `closed_at` (None reopens it); LookupError for an unknown slug. The caller commits."""
    row = s.exec(select(t.CampaignRow).where(t.CampaignRow.slug == slug)).first()
    if row is None:
        raise LookupError(slug)
    row.closed_at, row.updated_at = closed_at, now
    s.add(row)
    s.flush()
    return row


def campaign_of_row(config: Config, row: t.CampaignRow) -> CampaignConfig:
    campaign = config.campaign_from(json.loads(row.table_json), f"campaign {row.slug}")
    return campaign if row.closed_at is None else replace(campaign, closed_at=row.closed_at)


def campaigns_in_force(engine: Engine, config: Config) -> tuple[CampaignConfig, ...]:
    """Every campaign, oldest opening first. A stored campaign that no longer reads (a key this release
    refuses) raises ConfigError naming it."""
    with session(engine) as s:
        rows = s.exec(select(t.CampaignRow).order_by(t.CampaignRow.id)).all()
    campaigns = []
    for row in rows:
        try:
            campaigns.append(campaign_of_row(config, row))
        except ConfigError as exc:
            raise ConfigError(f"stored campaign {row.slug}: {exc}") from exc
    return tuple(sorted(campaigns, key=lambda c: (c.opens, c.slug)))


def fingerprint(engine: Engine) -> tuple[int, str]:
    """Changes whenever a campaign was added, edited, closed or reopened."""
    with session(engine) as s:
        count, latest = s.exec(select(func.count(t.CampaignRow.id), func.max(t.CampaignRow.updated_at))).one()
    return int(count or 0), str(latest)
