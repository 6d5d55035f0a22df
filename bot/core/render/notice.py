"""Render a reminder or an overdue notice for one unit. Pure: values in, bytes out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.core.model import CATEGORIES
from bot.core.render.formats import filesize, local_moment
from bot.core.render.outgoing import AUTO_GENERATED, Identity, OutgoingMail, compose, wire_bytes
from bot.core.render.reply import UnitSummary
from bot.core.render.texts import Texts
from bot.core.settings import CampaignConfig


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
    templates: Texts,
    notice: Notice,
    to_addr: str,
    campaign: CampaignConfig,
    identity: Identity,
    message_id: str,
    now: datetime,
    staff_copy: bool = False,
) -> OutgoingMail:
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
    message = compose(identity, to_addr, subject, message_id, now, campaign.slug, AUTO_GENERATED,
                      templates.render(f"{notice.kind}.txt", **context),
                      templates.render(f"{notice.kind}.html", **context))
    return OutgoingMail(to_addr, subject, message_id, wire_bytes(message))
