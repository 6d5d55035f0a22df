"""How sizes and moments are written for people: 1.2 MB, 12月31日18:00. Pure."""

from __future__ import annotations

from datetime import datetime

from bot.core.settings import CampaignConfig


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
