"""Render outgoing mail from Jinja2 templates and the message catalogue. Pure: values in, bytes out."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape

from bot.adapters.config_file import CampaignConfig
from bot.core.mail.triage import LOOP_HEADER
from bot.core.model import CATEGORIES, Problem


@dataclass(frozen=True)
class FileLine:
    name: str
    category: str
    size: int


@dataclass(frozen=True)
class UnitSummary:
    """A unit's cumulative state after this message: what every receipt reports."""

    unit: str | None
    counts: dict[str, int]
    missing: tuple[str, ...]


@dataclass(frozen=True)
class Identity:
    """Who the bot writes as."""

    address: str
    name: str


@dataclass(frozen=True)
class Reply:
    """An outgoing reply: its headers are fixed before it enters the outbox."""

    to_addr: str
    subject: str
    message_id: str
    raw: bytes


def filesize(n: int | str) -> str:
    n = int(n)
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n} 字节"


def local_moment(moment: datetime, campaign: CampaignConfig) -> str:
    """The local form offices write: 12月31日18:00."""
    local = moment.astimezone(campaign.timezone)
    return f"{local.month}月{local.day}日{local:%H:%M}"


class Templates:
    """The Jinja2 environment and the message catalogue, staff overrides first."""

    def __init__(self, overrides: Path | None = None) -> None:
        builtin = Path(str(resources.files("templates")))
        loaders = [FileSystemLoader(str(overrides))] if overrides else []
        loaders.append(FileSystemLoader(str(builtin)))
        self.env = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )
        # The staff's messages.toml overrides text by text: a copy made before a text was added still works.
        self.catalogue: dict[str, dict[str, str]] = tomllib.loads((builtin / "messages.toml").read_text("utf-8"))
        staff_file = overrides / "messages.toml" if overrides else None
        if staff_file is not None and staff_file.exists():
            for section, texts in tomllib.loads(staff_file.read_text(encoding="utf-8")).items():
                self.catalogue.setdefault(section, {}).update(texts)
        self.env.filters["filesize"] = filesize
        self.env.filters["label"] = self.label
        # Catalogue texts: a parameter a problem does not carry renders empty instead of failing.
        self.text_env = Environment(autoescape=False, keep_trailing_newline=False)
        self.text_env.filters["filesize"] = filesize
        self.text_env.filters["label"] = self.label
        self._compiled: dict[tuple[str, str], Template] = {}  # catalogue texts, compiled once
        self._fixed: dict[tuple[str, str], str] = {}  # texts without parameters, rendered once

    def label(self, category: str) -> str:
        return self.catalogue["categories"].get(category, category)

    def text(self, section: str, code: str, **params: Any) -> str:
        key = (section, code)
        if not params and key in self._fixed:
            return self._fixed[key]
        compiled = self._compiled.get(key)
        if compiled is None:
            source = self.catalogue.get(section, {}).get(code)
            if source is None:
                return code
            compiled = self._compiled[key] = self.text_env.from_string(source)
        text = compiled.render(**params).strip()
        if not params:
            self._fixed[key] = text
        return text

    def problem_text(self, problem: Problem, campaign: CampaignConfig, received_at: datetime) -> str:
        params: dict[str, Any] = dict(problem.params)
        params.update(
            file=problem.file or "",
            deadline=local_moment(campaign.deadline, campaign),
            received=local_moment(received_at, campaign),
        )
        return self.text("problems", problem.code, **params)

    def render(self, name: str, **context: Any) -> str:
        return self.env.get_template(name).render(**context)


@dataclass(frozen=True)
class ReplyInput:
    """Everything a reply says."""

    kind: str  # receipt | problems | ask_unit
    to_addr: str
    to_name: str
    original_subject: str
    original_message_id: str | None
    original_references: str | None
    received: tuple[FileLine, ...]
    problems: tuple[tuple[Problem, str], ...]  # problem and its rendered text
    notes: tuple[str, ...]
    summary: UnitSummary
    reference: str = ""  # IDV2020-0031: quoted in the subject so a thread can be traced


def render_reply(
    templates: Templates,
    reply: ReplyInput,
    campaign: CampaignConfig,
    identity: Identity,
    message_id: str,
    now: datetime,
) -> Reply:
    context = dict(
        greeting=reply.summary.unit or reply.to_name or templates.text("words", "greeting"),
        campaign=campaign,
        received=reply.received,
        problems=[{"code": p.code, "file": p.file, "text": text} for p, text in reply.problems],
        notes=reply.notes,
        summary=reply.summary,
        categories=[c.value for c in CATEGORIES],
        labels=templates.catalogue["categories"],
        deadline=local_moment(campaign.deadline, campaign),
        signature=identity.name,
        reference=reply.reference,
    )
    original = reply.original_subject.strip() or templates.text("subjects", "default", campaign=campaign.name)
    if original.lower().startswith(("re:", "回复：", "回复:")):
        subject = original
    else:
        subject = templates.text("subjects", "reply", subject=original)
    if reply.reference and reply.reference not in subject:
        subject = templates.text("subjects", "reference", subject=subject, reference=reply.reference)
    message = EmailMessage()
    message["From"] = formataddr((identity.name, identity.address))
    message["To"] = formataddr((reply.to_name, reply.to_addr)) if reply.to_name else reply.to_addr
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    if reply.original_message_id:
        parent = f"<{reply.original_message_id}>"
        message["In-Reply-To"] = parent
        references = (reply.original_references or "").split()
        message["References"] = " ".join([*references[-10:], parent])
    message["Auto-Submitted"] = "auto-replied"
    message["X-Auto-Response-Suppress"] = "All"
    message[LOOP_HEADER] = campaign.slug
    message.set_content(templates.render(f"{reply.kind}.txt", **context), cte="base64")
    message.add_alternative(templates.render(f"{reply.kind}.html", **context), subtype="html", cte="base64")
    return Reply(reply.to_addr, subject, message_id, message.as_bytes(policy=SMTP))
