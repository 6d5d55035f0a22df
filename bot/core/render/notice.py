"""Render a reminder or an overdue notice for one unit: one campaign's, or the notices of several campaigns
due together, in one mail. Pure: values in, bytes out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.model import CATEGORIES
from bot.core.render.formats import filesize, local_moment
from bot.core.render.outgoing import AUTO_GENERATED, Identity, OutgoingMail, compose
from bot.core.render.reply import UnitSummary
from bot.core.render.texts import Texts
from bot.core.settings import CampaignConfig
from bot.core.timetable import OVERDUE, REMINDER


@dataclass(frozen=True)
class Notice:
    """What one campaign's reminder or overdue notice says to one unit."""

    kind: str  # reminder | overdue
    campaign: CampaignConfig
    counts: dict[str, int]  # what the unit has sent for this campaign, by category
    missing: tuple[str, ...]  # the campaign's required categories still missing, in its order


@dataclass(frozen=True)
class NoticeMail:
    """One mail to one unit: the notice of every campaign whose slot is due for it now (config order)."""

    unit: str
    unit_addresses: tuple[str, ...]  # every address of the unit (all get the same mail)
    notices: tuple[Notice, ...]  # one or more
    as_of: datetime  # the moment the state was read

    @property
    def kind(self) -> str:
        """An overdue notice when every campaign in it is past its deadline, else a reminder."""
        return OVERDUE if all(n.kind == OVERDUE for n in self.notices) else REMINDER

    @property
    def loop_tag(self) -> str:
        """The campaigns it is about (X-Report-Intake)."""
        return ",".join(n.campaign.slug for n in self.notices)


def _notice_entry(notice: Notice) -> dict[str, Any]:
    campaign = notice.campaign
    overdue = notice.kind == OVERDUE
    accepts_late = campaign.late_policy == "accept"
    return dict(
        kind=notice.kind,
        slug=campaign.slug,
        title=campaign.title(),
        deadline=local_moment(campaign.deadline, campaign),
        closes=local_moment(campaign.closes, campaign),
        overdue=overdue,
        accepts_late=accepts_late,
        accepting=not overdue or accepts_late,
        missing=notice.missing,
        counts=notice.counts,
        min_photo=filesize(campaign.min_photo_bytes),
    )


def _context(templates: Texts, mail: NoticeMail, identity: Identity, staff_copy: bool) -> dict[str, Any]:
    notices = [_notice_entry(n) for n in mail.notices]
    first = mail.notices[0]
    tz_campaign = first.campaign
    context: dict[str, Any] = dict(
        kind=mail.kind,
        greeting=mail.unit,
        unit=mail.unit,
        notices=notices,
        labels=templates.catalogue["categories"],
        categories=[c.value for c in CATEGORIES],
        as_of=local_moment(mail.as_of, tz_campaign),
        collect_address=identity.address,
        signature=identity.name,
        reference="",
        copy_note=templates.text("remind", "copy_note", unit=mail.unit,
                                 addresses="、".join(mail.unit_addresses)) if staff_copy else "",
    )
    if len(mail.notices) == 1:
        campaign = first.campaign
        entry = notices[0]
        context.update(
            campaign=campaign,
            notice=campaign.title(),
            missing=first.missing,
            summary=UnitSummary(None, first.counts, first.missing),  # _layout.html's own summary stays off
            counts=first.counts,
            deadline=entry["deadline"],
            closes=entry["closes"],
            accepts_late=entry["accepts_late"],
            min_photo=entry["min_photo"],
        )
        return context
    lacking = {c for n in mail.notices for c in n.missing}
    photo_minimum = max((n.campaign.min_photo_bytes for n in mail.notices if "photo" in n.missing), default=0)
    context.update(
        campaign=None,  # _layout.html lists every notice's deadline
        notice="",
        missing=[c.value for c in CATEGORIES if c.value in lacking],
        summary=UnitSummary(None, {}, ()),
        counts=None,  # each notice shows its own
        accepting=any(e["accepting"] for e in notices),
        min_photo=filesize(photo_minimum),
    )
    return context


def subject_of(templates: Texts, mail: NoticeMail) -> str:
    """One campaign: its own subject; several: how many notices the mail is about."""
    if len(mail.notices) == 1:
        campaign = mail.notices[0].campaign
        return templates.text("remind", f"{mail.kind}_subject", campaign=campaign.name,
                              title=campaign.title(), deadline=local_moment(campaign.deadline, campaign),
                              unit=mail.unit)
    return templates.text("remind", f"several_{mail.kind}_subject", count=len(mail.notices),
                          titles="、".join(n.campaign.title() for n in mail.notices), unit=mail.unit)


def render_notice(
    templates: Texts,
    mail: NoticeMail,
    to_addr: str,
    identity: Identity,
    message_id: str,
    now: datetime,
    staff_copy: bool = False,
) -> OutgoingMail:
    """The mail to `to_addr`: one of the unit's addresses, or (staff_copy) a staff member's."""
    context = _context(templates, mail, identity, staff_copy)
    subject = subject_of(templates, mail)
    if staff_copy:
        subject = templates.text("remind", "copy_subject", subject=subject)
    raw = compose(identity, [("", to_addr)], subject, message_id, now, mail.loop_tag, AUTO_GENERATED,
                  templates.render(f"{mail.kind}.txt", **context),
                  templates.render(f"{mail.kind}.html", **context))
    return OutgoingMail(to_addr, subject, message_id, raw)
