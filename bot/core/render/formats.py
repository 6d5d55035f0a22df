"""How sizes and moments are written for people: 1.2 MB, 12月31日18:00; a spreadsheet cell's text that is never a
formula. Pure."""

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


# What a spreadsheet (Excel, WPS, LibreOffice) may read as the start of a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: str) -> str:
    """A cell's text that a spreadsheet shows as text, never runs as a formula: text beginning with
    =, +, -, @, a tab or a carriage return gets a leading quote ("'=1+1"); any other text is returned as is."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value
