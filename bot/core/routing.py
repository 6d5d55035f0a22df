"""Which notice a mail answers, when one mailbox collects for several campaigns. Pure.

In this order, the reason recorded:
  1. a thread: the mail answers our reply to a message filed under a campaign → that campaign;
  2. the notice named: its number, its name or one of its keywords, in the subject, a file name (inside
     archives too) or the body's first lines. The most specific evidence wins: a number over a name over a
     keyword, then the subject over a file name over the body, then the longer words found (典型案例 over
     志愿); two campaigns named equally is a tie, and the unit is asked;
  3. exactly one campaign open for the unit when the mail arrived (it asks the unit, or, when none asks it,
     it is the only one open at all);
  4. otherwise no campaign: the mail is kept and the unit asked which notice it answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from bot.core.model import ItemPlan, Mail, Unit
from bot.core.roster import Roster
from bot.core.settings import CampaignConfig

# Reasons (status --json `campaign_reason`).
THREAD = "thread"
ONLY_OPEN = "only-open"
STAFF = "staff"
TIE = "ask:tie"  # two campaigns named alike
SEVERAL_OPEN = "ask:several-open"  # nothing named, several open for the unit
NONE_OPEN = "none-open"  # nothing named and no campaign open: not campaign mail

# Evidence strength and place, most specific first (the reason reads e.g. "notice:subject").
WHAT = {"notice": 3, "name": 2, "keyword": 1}
WHERE = {"subject": 3, "files": 2, "body": 1}
BODY_LINES = 8  # the body's first non-empty lines are looked at


@dataclass(frozen=True)
class Route:
    campaign: CampaignConfig | None
    reason: str
    asked: tuple[CampaignConfig, ...] = ()  # when no campaign: the notices the unit is asked to choose from

    @property
    def slug(self) -> str | None:
        return self.campaign.slug if self.campaign is not None else None


def asks(campaign: CampaignConfig, unit: str | None, roster: Roster) -> bool:
    """Whether the campaign asks this unit for material (its `units`, by name or group; by default every
    unit the roster requires)."""
    if unit is None:
        return False
    found = roster.by_name(unit)
    if not campaign.units:
        return found is not None and found.required
    return unit in campaign.units or (found is not None and found.group in campaign.units)


def required_in(campaign: CampaignConfig, unit: Unit, roster: Roster) -> bool:
    """Whether the unit owes the campaign its material: a campaign naming its units asks them whatever the
    roster's default (staff exemptions still hold); one that names none asks every unit the roster requires."""
    return (asks(campaign, unit.name, roster) and not unit.exempt) if campaign.units else unit.required


def open_for(campaigns: Iterable[CampaignConfig], unit: str | None, roster: Roster,
             moment: datetime) -> tuple[CampaignConfig, ...]:
    """The campaigns open at `moment` that the unit answers: those asking it, or, when none does (a
    stranger, a unit no notice names), every open one."""
    live = tuple(c for c in campaigns if c.open_at(moment))
    asking = tuple(c for c in live if asks(c, unit, roster))
    return asking or live


def by_slug(campaigns: Iterable[CampaignConfig], slug: str | None) -> CampaignConfig | None:
    return next((c for c in campaigns if c.slug == slug), None) if slug else None


def named(mail: Mail, items: tuple[ItemPlan, ...], campaigns: Iterable[CampaignConfig],
          moment: datetime) -> Route | None:
    """The campaign the mail names most specifically (among those opened by `moment`); a tie asks."""
    places = {
        "subject": mail.subject,
        "files": "\n".join(f"{i.source}\n{i.filename}" for i in items if i.skipped is None),
        "body": "\n".join([line for line in mail.text.splitlines() if line.strip()][:BODY_LINES]),
    }
    best: dict[str, tuple[int, int, int, str]] = {}
    for campaign in campaigns:
        if campaign.opens > moment:
            continue
        terms = [("notice", campaign.notice), ("name", campaign.name), *(("keyword", k) for k in campaign.keywords)]
        for what, term in terms:
            if not term:
                continue
            for where, text in places.items():
                if term in text:
                    score = (WHAT[what], WHERE[where], len(term), f"{what}:{where}")
                    if score[:3] > best.get(campaign.slug, (0, 0, 0, ""))[:3]:
                        best[campaign.slug] = score
    if not best:
        return None
    top = max(score[:3] for score in best.values())
    winners = [slug for slug, score in best.items() if score[:3] == top]
    if len(winners) > 1:
        return Route(None, TIE, tuple(c for c in campaigns if c.slug in winners))
    slug = winners[0]
    return Route(by_slug(campaigns, slug), best[slug][3])


def route(mail: Mail, items: tuple[ItemPlan, ...], unit: str | None, received_at: datetime,
          campaigns: tuple[CampaignConfig, ...], roster: Roster, thread: str | None = None) -> Route:
    """The campaign this mail is filed under, and why. `thread`: the campaign of the message our reply it
    answers was about (the shell looks it up in the ledger)."""
    threaded = by_slug(campaigns, thread)
    if threaded is not None:
        return Route(threaded, THREAD)
    found = named(mail, items, campaigns, received_at)
    if found is not None:
        return found
    candidates = open_for(campaigns, unit, roster, received_at)
    if len(candidates) == 1:
        return Route(candidates[0], ONLY_OPEN)
    if not candidates:
        return Route(None, NONE_OPEN)
    return Route(None, SEVERAL_OPEN, candidates)
