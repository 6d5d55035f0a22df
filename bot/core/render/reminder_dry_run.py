"""`intake remind --dry-run`: per campaign, the slots, who would get what now and why, in the staff's words;
with several campaigns, which units get the notices of several in one mail."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.core.reminder_plan import ALREADY, DUE, NO_ADDRESS, NOT_DUE, CampaignPlan, UnitPlan, unit_runs
from bot.core.render.formats import local_moment
from bot.core.render.texts import Texts
from bot.core.settings import CampaignConfig
from bot.core.timetable import OVERDUE, WEEKEND, Moment


def _kind(tx: Texts, kind: str) -> str:
    return tx.text("remind", f"kind_{kind}")


def _why(tx: Texts, why: str | None) -> str:
    if why is None or why == WEEKEND:
        return tx.text("remind", "weekend")
    return tx.catalogue.get("holidays", {}).get(why, why)


def slot_line(tx: Texts, m: Moment, campaign: CampaignConfig) -> str:
    return tx.text(
        "remind", "slot_line", kind=_kind(tx, m.kind), slot=m.shown, at=local_moment(m.at, campaign),
        moved=m.moved_from is not None, nominal=f"{m.nominal.month}月{m.nominal.day}日", why=_why(tx, m.moved_because),
        direction=tx.text("remind", "moved_on" if m.kind == OVERDUE else "moved_back"), never=m.starts >= m.ends,
    )


def _missing(tx: Texts, plan: UnitPlan) -> str:
    return "、".join(tx.label(c) for c in plan.unit.missing)


def unit_line(tx: Texts, plan: UnitPlan, campaign: CampaignConfig) -> str:
    if plan.reason == DUE and plan.send is not None:
        return tx.text("remind", "send_line", unit=plan.unit.name, kind=_kind(tx, plan.send.kind),
                       slot=plan.send.shown, at=local_moment(plan.send.at, campaign),
                       addresses="、".join(plan.unit.emails), missing=_missing(tx, plan))
    params: dict[str, str] = {"missing": _missing(tx, plan)}
    if plan.reason == ALREADY and plan.current is not None:
        params.update(kind=_kind(tx, plan.current.kind), slot=plan.current.shown)
    if plan.reason == NOT_DUE and plan.current is not None:
        upcoming = plan.current
        params["next"] = f"{_kind(tx, upcoming.kind)} {upcoming.shown}，{local_moment(upcoming.at, campaign)}"
    reason = tx.text("remind", f"reason_{plan.reason}", **params)
    return tx.text("remind", "pass_line", unit=plan.unit.name, reason=reason)


INDENT = "  "


def campaign_lines(tx: Texts, plans: list[UnitPlan], slots: tuple[Moment, ...],
                   campaign: CampaignConfig) -> list[str]:
    """One campaign's part of the dry run: its slots, who gets what now, who gets nothing and why."""
    def section(title: str, entries: list[str], empty: str = "none") -> list[str]:
        return [tx.text("remind", title), *(INDENT + e for e in entries or [tx.text("remind", empty)])]

    skips = [tx.text("remind", "skip_line", unit=p.unit.name, slots="、".join(m.shown for m in p.skip))
             for p in plans if p.skip and p.reason != NO_ADDRESS]
    return [
        *section("slots_title", [slot_line(tx, m, campaign) for m in slots], "no_slots"),
        *section("send_title", [unit_line(tx, p, campaign) for p in plans if p.reason == DUE]),
        *section("pass_title", [unit_line(tx, p, campaign) for p in plans if p.reason != DUE] + skips),
    ]


def describe(tx: Texts, plans: list[UnitPlan], slots: tuple[Moment, ...], campaign: CampaignConfig,
             now: datetime) -> list[str]:
    """The dry run of one campaign."""
    return [tx.text("remind", "dry_title", now=local_moment(now, campaign)),
            *campaign_lines(tx, plans, slots, campaign)]


def campaign_title(tx: Texts, campaign: CampaignConfig, now: datetime) -> str:
    closed = campaign.closes <= now
    return tx.text("remind", "campaign_title", title=campaign.title(), slug=campaign.slug,
                   deadline=local_moment(campaign.deadline, campaign), closed=closed,
                   closes=local_moment(campaign.closes, campaign))


def describe_all(tx: Texts, plans: Sequence[CampaignPlan], now: datetime, headed: bool | None = None) -> list[str]:
    """The dry run of every campaign in `plans`: each under its title (`headed`, by default with several),
    then the units that get the notices of several campaigns in one mail."""
    if not plans:
        return []
    first = plans[0].campaign
    headed = len(plans) > 1 if headed is None else headed
    lines = [tx.text("remind", "dry_title", now=local_moment(now, first))]
    for plan in plans:
        if headed:
            lines.append(campaign_title(tx, plan.campaign, now))
        lines += campaign_lines(tx, plan.units, plan.moments, plan.campaign)
    combined = [run for run in unit_runs(plans) if len(run.sends) > 1 and run.emails]
    if combined:
        lines.append(tx.text("remind", "combined_title"))
        lines += [INDENT + tx.text("remind", "combined_line", unit=run.unit, addresses="、".join(run.emails),
                                   notices="、".join(p.campaign.title() for p in run.sends))
                  for run in combined]
    return lines
