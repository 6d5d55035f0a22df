"""Render a reminder or an overdue notice for one unit. Pure: values in, bytes out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr

from bot.adapters.config_file import CampaignConfig
from bot.core.mail.triage import LOOP_HEADER
from bot.core.model import CATEGORIES
from bot.core.render.reply import Identity, Reply, Templates, UnitSummary, filesize, local_moment

REMINDER = "reminder"
OVERDUE = "overdue"


@dataclass(frozen=True)
class Notice:
    """What one reminder or overdue notice says to one unit."""

    kind: str  # reminder | overdue
    unit: str
    unit_addresses: tuple[str, ...]  # every address of the unit (all get the same mail)
    counts: dict[str, int]  # what the unit has sent, by category
    missing: tuple[str, ...]  # required categories still missing, in the campaign's order
    as_of: datetime  # the moment the state was read


def render_notice(
    templates: Templates,
    notice: Notice,
    to_addr: str,
    campaign: CampaignConfig,
    identity: Identity,
    message_id: str,
    now: datetime,
    staff_copy: bool = False,
) -> Reply:
    """The mail to `to_addr`: one of the unit's addresses, or (staff_copy) a staff member's."""
    deadline = local_moment(campaign.deadline, campaign)
    context = dict(
        greeting=notice.unit,
        unit=notice.unit,
        campaign=campaign,
        missing=notice.missing,
        labels=templates.catalogue["categories"],
        categories=[c.value for c in CATEGORIES],
        summary=UnitSummary(None, notice.counts, notice.missing),  # _layout.html's own summary stays off
        counts=notice.counts,
        deadline=deadline,
        as_of=local_moment(notice.as_of, campaign),
        closes=local_moment(campaign.closes, campaign),
        accepts_late=campaign.late_policy == "accept",
        collect_address=identity.address,
        min_photo=filesize(campaign.min_photo_bytes),
        signature=identity.name,
        reference="",
        copy_note=templates.text("remind", "copy_note", unit=notice.unit,
                                 addresses="、".join(notice.unit_addresses)) if staff_copy else "",
    )
    subject = templates.text("remind", f"{notice.kind}_subject", campaign=campaign.name, deadline=deadline,
                             unit=notice.unit)
    if staff_copy:
        subject = templates.text("remind", "copy_subject", subject=subject)
    message = EmailMessage()
    message["From"] = formataddr((identity.name, identity.address))
    message["To"] = to_addr
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message[LOOP_HEADER] = campaign.slug
    message.set_content(templates.render(f"{notice.kind}.txt", **context), cte="base64")
    message.add_alternative(templates.render(f"{notice.kind}.html", **context), subtype="html", cte="base64")
    return Reply(to_addr, subject, message_id, message.as_bytes(policy=SMTP))
