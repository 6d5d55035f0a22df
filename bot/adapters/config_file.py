"""Configuration: TOML in, validated frozen values out. Errors name the key that is wrong."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core.model import CATEGORIES
from bot.core.settings import (
    DEFAULT_BRIEF_WORDS,
    DEFAULT_CASE_WORDS,
    DEFAULT_COMPRESSED_NAMES,
    DEFAULT_TIMEZONE,
    CampaignConfig,
    ClassifyRules,
    Limits,
    ReplyLimits,
    ScheduleConfig,
    Slot,
)

# Folders of the data folder that are not a campaign's (raw mail, digests, the demo's outbox, the console's
# previews): a campaign's files live under its slug, and the start-up sweep cleans that folder.
RESERVED_SLUGS = frozenset({"raw", "digests", "outbox", "web"})


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message names the key."""


SECURITY = ("ssl", "starttls", "none")

@dataclass(frozen=True)
class ServerConfig:
    host: str
    port: int
    security: str
    username: str
    password: str = field(repr=False)
    ca_file: Path | None = None  # trust this CA (a private one); certificates are always verified


@dataclass(frozen=True)
class ImapConfig(ServerConfig):
    folder: str = "INBOX"
    folders: tuple[str, ...] = ()  # several folders to poll (163 files mail under 垃圾邮件, 订阅邮件 …)
    processed_folder: str = ""

    @property
    def poll_folders(self) -> tuple[str, ...]:
        return self.folders or (self.folder,)
    keyword: str = "$IntakeDone"
    timeout_seconds: float = 60.0
    retry_delays: tuple[float, ...] = (5.0, 30.0, 120.0)  # pauses before reconnecting within one cycle


@dataclass(frozen=True)
class SmtpConfig(ServerConfig):
    from_address: str = ""
    from_name: str = ""
    timeout_seconds: float = 60.0


@dataclass(frozen=True)
class StorageConfig:
    data_dir: Path
    database_url: str
    # Several workers may share a database server (not SQLite): a claimed message whose worker has not
    # finished it within this many seconds is taken over by another, and the start-up sweep spares files
    # younger than this (another worker may be writing them).
    claim_lease_seconds: int = 600

    @property
    def shared(self) -> bool:
        """Whether several workers may run at once on this database (a server, not a SQLite file)."""
        return not self.database_url.startswith("sqlite")


@dataclass(frozen=True)
class WebConfig:
    """The staff console (`intake web`): where staff reach it, how long a login lasts."""

    base_url: str | None = None  # e.g. https://intake.example.gov.cn; the digest links to the console when set
    session_hours: int = 12
    host: str = "127.0.0.1"
    port: int = 8080

    @property
    def secure_cookies(self) -> bool:
        return (self.base_url or "").lower().startswith("https://")


@dataclass(frozen=True)
class Config:
    imap: ImapConfig | None
    smtp: SmtpConfig | None
    storage: StorageConfig
    campaigns: tuple[CampaignConfig, ...]  # as the config writes them; those in force are in the database
    units_file: Path
    digest_to: tuple[str, ...]
    poll_interval_seconds: int
    base_dir: Path  # folder of the config file; relative paths are resolved against it
    templates_dir: Path | None = None  # staff overrides
    replies: ReplyLimits = field(default_factory=lambda: ReplyLimits())
    check_sender_auth: bool = True  # a registered address failing DMARC/SPF gets no receipt, only review
    schedule: ScheduleConfig = field(default_factory=lambda: ScheduleConfig())
    limits: Limits = field(default_factory=lambda: Limits())
    classify: ClassifyRules = field(default_factory=lambda: ClassifyRules())
    campaign_tables: tuple[dict[str, Any], ...] = ()  # the campaigns' TOML tables, imported into the database
    web: WebConfig = field(default_factory=lambda: WebConfig())

    def campaign_from(self, table: dict[str, Any], label: str = "campaign") -> CampaignConfig:
        """A campaign from its TOML table, with this config's limits and classification words."""
        return parse_campaign(table, label, self.limits, self.classify, self.base_dir)


def load_config(path: str | Path, environ: dict[str, str] | None = None) -> Config:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_config(raw, path.resolve().parent, os.environ if environ is None else environ)


def campaign_tables(raw: dict[str, Any]) -> tuple[tuple[str, dict[str, Any]], ...]:
    """The campaign tables of a TOML document, each with the name its errors use: one `[campaign]` table,
    several `[[campaigns]]` tables, or (a file `intake campaigns add` reads) the keys at the top."""
    if "campaign" in raw and "campaigns" in raw:
        raise ConfigError("write either one [campaign] table or [[campaigns]] tables, not both")
    if "campaigns" in raw:
        listed = raw["campaigns"]
        if not isinstance(listed, list) or not listed or not all(isinstance(t, dict) for t in listed):
            raise ConfigError("[[campaigns]] must be one or more tables")
        return tuple((f"campaigns[{n}]", table) for n, table in enumerate(listed, 1))
    if "campaign" in raw:
        if not isinstance(raw["campaign"], dict):
            raise ConfigError("[campaign] must be a table")
        return (("campaign", raw["campaign"]),)
    if "slug" in raw:
        return (("campaign", raw),)
    raise ConfigError("campaign.slug is required (a [campaign] table or [[campaigns]] tables)")


def parse_campaign(table: dict[str, Any], label: str, limits: Limits, classify: ClassifyRules,
                   base_dir: Path) -> CampaignConfig:
    """One campaign's keys, validated; errors name `label.key`."""
    return _Reader({label: table}, base_dir, {}).campaign(label, limits, classify)


def parse_config(raw: dict[str, Any], base_dir: Path, environ: Any) -> Config:
    r = _Reader(raw, base_dir, environ)
    storage = r.storage()
    limits, classify = r.limits(), r.classify()
    tables = campaign_tables(raw)
    campaigns = tuple(r.campaign(label, limits, classify, table) for label, table in tables)
    slugs = [c.slug for c in campaigns]
    if len(set(slugs)) != len(slugs):
        raise ConfigError(f"two campaigns have the same slug: {sorted(s for s in slugs if slugs.count(s) > 1)[0]}")
    return Config(
        imap=r.imap() if "imap" in raw else None,
        smtp=r.smtp() if "smtp" in raw else None,
        storage=storage,
        campaigns=campaigns,
        units_file=r.path("units", "file", "units.csv"),
        digest_to=tuple(r.get("staff", "digest_to", list, [])),
        poll_interval_seconds=r.positive_int("schedule", "poll_interval_seconds", 300),
        base_dir=base_dir,
        templates_dir=r.path("templates", "dir", None) if "templates" in raw else None,
        replies=ReplyLimits(
            max_per_sender=r.positive_int("replies", "max_per_sender", 10),
            max_same_subject=r.positive_int("replies", "max_same_subject", 2),
            window_hours=r.positive_int("replies", "window_hours", 3),
        ),
        check_sender_auth=r.get("security", "check_sender_auth", bool, True),
        schedule=r.schedule(),
        limits=limits,
        classify=classify,
        campaign_tables=tuple(table for _label, table in tables),
        web=r.web(),
    )


class _Reader:
    def __init__(self, raw: dict[str, Any], base_dir: Path, environ: Any) -> None:
        self.raw = raw
        self.base_dir = base_dir
        self.environ = environ

    def section(self, name: str) -> dict[str, Any]:
        value = self.raw.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"[{name}] must be a table")
        return value

    def get(self, section: str, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        table = self.section(section)
        if key not in table:
            if default is ...:
                raise ConfigError(f"{section}.{key} is required")
            return default
        value = table[key]
        if kind is int and isinstance(value, bool):
            raise ConfigError(f"{section}.{key} must be an integer, not {value!r}")
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise ConfigError(f"{section}.{key} must be {names}, not {value!r}")
        if kind is list and not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{section}.{key} must be a list of strings")
        return value

    def web(self) -> WebConfig:
        base_url = self.get("web", "base_url", str, "").strip().rstrip("/") or None
        if base_url is not None and not base_url.lower().startswith(("http://", "https://")):
            raise ConfigError(f"web.base_url must start with http:// or https://, not {base_url!r}")
        return WebConfig(base_url, self.positive_int("web", "session_hours", 12),
                         self.get("web", "host", str, "127.0.0.1"), self.positive_int("web", "port", 8080))

    def positive_int(self, section: str, key: str, default: Any = ...) -> int:
        value = self.get(section, key, int, default)
        if value < 0:
            raise ConfigError(f"{section}.{key} must not be negative, not {value}")
        return value

    def path(self, section: str, key: str, default: Any = ...) -> Any:
        value = self.get(section, key, str, default)
        if value is None:
            return None
        p = Path(value)
        return p if p.is_absolute() else self.base_dir / p

    def delays(self, section: str, key: str, default: tuple[float, ...]) -> tuple[float, ...]:
        value = self.section(section).get(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, int | float) and v >= 0 for v in value):
            raise ConfigError(f"{section}.{key} must be a list of seconds, e.g. [5, 30, 120]")
        return tuple(float(v) for v in value)

    def clock_time(self, section: str, key: str) -> time | None:
        value = self.get(section, key, (str, time), None)
        if value is None or isinstance(value, time):
            return value
        try:
            return time.fromisoformat(value)
        except ValueError as exc:
            raise ConfigError(f"{section}.{key} must be a time of day such as \"08:30\", not {value!r}") from exc

    def slot(self, section: str, key: str, text: str) -> Slot:
        match = re.fullmatch(r"\s*([+-]?\d+)d\s+(\d{1,2}:\d{2})\s*", text)
        if match is None:
            raise ConfigError(f"{section}.{key}: {text!r} is not a slot such as \"-3d 09:00\"")
        try:
            at = time.fromisoformat(match.group(2).zfill(5))
        except ValueError as exc:
            raise ConfigError(f"{section}.{key}: {text!r} has no valid time of day") from exc
        return Slot(int(match.group(1)), at, text.strip())

    def schedule(self) -> ScheduleConfig:
        reminders = tuple(self.slot("schedule", "reminders", text)
                          for text in self.get("schedule", "reminders", list, []))
        if len({r.text for r in reminders}) != len(reminders):
            raise ConfigError("schedule.reminders lists the same slot twice")
        overdue = self.get("schedule", "overdue_notice", str, "")
        return ScheduleConfig(
            digest_time=self.clock_time("schedule", "digest_time"),
            reminders=reminders,
            overdue_notice=self.slot("schedule", "overdue_notice", overdue) if overdue else None,
            working_days_only=self.get("schedule", "working_days_only", bool, True),
            copy_staff=self.get("schedule", "copy_staff", bool, False),
        )

    def password(self, section: str, env_default: str | None = None) -> str:
        table = self.section(section)
        if "password" in table:
            return self.get(section, "password", str)
        if "password_file" in table:
            file = self.path(section, "password_file")
            try:
                return file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{section}.password_file: cannot read {file}: {exc}") from exc
        env_name = self.get(section, "password_env", str, env_default or f"INTAKE_{section.upper()}_PASSWORD")
        return self.environ.get(env_name, "")

    def server(self, section: str, default_port: int) -> dict[str, Any]:
        security = self.get(section, "security", str, "ssl")
        if security not in SECURITY:
            raise ConfigError(f"{section}.security must be one of {', '.join(SECURITY)}, not {security!r}")
        port = self.positive_int(section, "port", default_port)
        if not 0 < port < 65536:
            raise ConfigError(f"{section}.port must be between 1 and 65535, not {port}")
        return dict(
            host=self.get(section, "host", str),
            port=port,
            security=security,
            username=self.get(section, "username", str, ""),
            password=self.password(section),
            ca_file=self.path(section, "ca_file", None),
        )

    def imap(self) -> ImapConfig:
        common = self.server("imap", 993)
        keyword = self.get("imap", "keyword", str, "$IntakeDone")
        if not keyword or any(c in keyword for c in ' (){%*"\\]') or not keyword.isascii():
            raise ConfigError(f"imap.keyword must be an IMAP atom, not {keyword!r}")
        return ImapConfig(
            **common,
            folder=self.get("imap", "folder", str, "INBOX"),
            folders=tuple(self.get("imap", "folders", list, [])),
            processed_folder=self.get("imap", "processed_folder", str, ""),
            keyword=keyword,
            timeout_seconds=float(self.get("imap", "timeout_seconds", (int, float), 60)),
            retry_delays=self.delays("imap", "retry_delays", (5.0, 30.0, 120.0)),
        )

    def smtp(self) -> SmtpConfig:
        common = self.server("smtp", 465)
        from_address = self.get("smtp", "from_address", str, common["username"])
        if "@" not in from_address:
            raise ConfigError(f"smtp.from_address must be a mail address, not {from_address!r}")
        return SmtpConfig(
            **common,
            from_address=from_address.lower(),
            from_name=self.get("smtp", "from_name", str, ""),
            timeout_seconds=float(self.get("smtp", "timeout_seconds", (int, float), 60)),
        )

    def storage(self) -> StorageConfig:
        data_dir = self.path("storage", "data_dir", "data")
        url = self.get("storage", "database_url", str, "")
        if not url:
            url = f"sqlite:///{data_dir / 'intake.db'}"
        elif not url.startswith("sqlite"):
            url = self.with_password(url)
        lease = self.positive_int("storage", "claim_lease_seconds", StorageConfig.claim_lease_seconds)
        if lease < 1:
            raise ConfigError("storage.claim_lease_seconds must be at least 1")
        return StorageConfig(data_dir=data_dir, database_url=url, claim_lease_seconds=lease)

    def with_password(self, url: str) -> str:
        """A database server's URL with its password from storage.password_file or the environment
        (storage.password_env, default INTAKE_DATABASE_PASSWORD), as for IMAP, when the URL names none."""
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise ConfigError(f"storage.database_url is not a database URL: {url!r}") from exc
        if parsed.password is not None:
            return url
        password = self.password("storage", "INTAKE_DATABASE_PASSWORD")
        return parsed.set(password=password).render_as_string(hide_password=False) if password else url

    def moment(self, section: str, key: str, tz: ZoneInfo) -> datetime:
        value = self.get(section, key, (datetime, date, str))
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError as exc:
                raise ConfigError(f"{section}.{key} must be a date-time, not {value!r}") from exc
        if not isinstance(value, datetime):  # a bare date means its start
            value = datetime.combine(value, time())
        if value.tzinfo is None:
            value = value.replace(tzinfo=tz)
        return value

    def reference_prefix(self, section: str, slug: str) -> str:
        default = "".join(c for c in slug if c.isalnum()).upper()[:12] or "REF"
        prefix = self.get(section, "reference_prefix", str, default)
        if not prefix or not all(c.isascii() and c.isalnum() for c in prefix):
            raise ConfigError(f"{section}.reference_prefix must be ASCII letters and digits, not {prefix!r}")
        return prefix

    def classify(self) -> ClassifyRules:
        return ClassifyRules(
            brief=tuple(self.get("classify", "brief", list, list(DEFAULT_BRIEF_WORDS))),
            case_study=tuple(self.get("classify", "case_study", list, list(DEFAULT_CASE_WORDS))),
            compressed_names=tuple(self.get("classify", "compressed_names", list, list(DEFAULT_COMPRESSED_NAMES))),
            compressed_long_edge=self.positive_int("classify", "compressed_long_edge", 2000),
        )

    def limits(self) -> Limits:
        return Limits(
            max_unpacked_bytes=self.positive_int("limits", "max_unpacked_bytes", Limits.max_unpacked_bytes),
            max_entries=self.positive_int("limits", "max_entries", Limits.max_entries),
            max_ratio=self.positive_int("limits", "max_ratio", Limits.max_ratio),
            max_depth=self.positive_int("limits", "max_depth", Limits.max_depth),
            max_parts=self.positive_int("limits", "max_parts", Limits.max_parts),
            max_message_bytes=self.positive_int("limits", "max_message_bytes", Limits.max_message_bytes),
            max_attempts=self.positive_int("limits", "max_attempts", Limits.max_attempts),
        )

    def campaign(self, section: str, limits: Limits, classify: ClassifyRules,
                 table: dict[str, Any] | None = None) -> CampaignConfig:
        """The campaign in `table` (by default the document's `section` table), called `section` in errors."""
        if table is not None:
            return _Reader({**self.raw, section: table}, self.base_dir, self.environ).campaign(section, limits,
                                                                                              classify)
        tz_name = self.get(section, "timezone", str, DEFAULT_TIMEZONE)
        try:
            tz = ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"{section}.timezone: unknown time zone {tz_name!r}") from exc
        slug = self.get(section, "slug", str)
        if not slug or not all(c.isascii() and (c.isalnum() or c in "-_") for c in slug):
            raise ConfigError(f"{section}.slug must be ASCII letters, digits, - or _, not {slug!r}")
        if slug.lower() in RESERVED_SLUGS:
            raise ConfigError(f"{section}.slug {slug!r} is a folder the data folder keeps for itself "
                              f"({', '.join(sorted(RESERVED_SLUGS))}): choose another")
        opens, deadline = self.moment(section, "opens", tz), self.moment(section, "deadline", tz)
        if deadline <= opens:
            raise ConfigError(f"{section}.deadline must be after {section}.opens")
        required = tuple(self.get(section, "required", list, ["brief", "photo"]))
        for name in required:
            if name not in CATEGORIES:
                raise ConfigError(
                    f"{section}.required: unknown category {name!r} "
                    f"(use {', '.join(c.value for c in CATEGORIES)})"
                )
        late_policy = self.get(section, "late_policy", str, "accept")
        if late_policy not in ("accept", "reject"):
            raise ConfigError(f"{section}.late_policy must be accept or reject, not {late_policy!r}")
        reminders = None
        if "reminders" in self.section(section):
            reminders = tuple(self.slot(section, "reminders", text) for text in self.get(section, "reminders", list))
            if len({r.text for r in reminders}) != len(reminders):
                raise ConfigError(f"{section}.reminders lists the same slot twice")
        return CampaignConfig(
            name=self.get(section, "name", str),
            slug=slug,
            opens=opens,
            deadline=deadline,
            timezone=tz,
            required=required,
            min_photo_bytes=self.positive_int(section, "min_photo_bytes", 1048576),
            late_policy=late_policy,
            late_days=self.positive_int(section, "late_days", 30),
            keywords=tuple(self.get(section, "keywords", list, [])),
            max_image_pixels=self.positive_int(section, "max_image_pixels", 120_000_000),
            classify=classify,
            reference_prefix=self.reference_prefix(section, slug),
            limits=limits,
            notice=self.get(section, "notice", str, "").strip(),
            units=tuple(u.strip() for u in self.get(section, "units", list, []) if u.strip()),
            reminders=reminders,
        )
