"""Which unit sent a mail: its registered From address, else a unit's name or alias in the text."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.model import Mail, UnitMatch
from bot.roster import Roster

# Where a name was found, most trusted first; the order breaks ties between equally long matches.
PLACES = ("subject", "filename", "body")

_CJK = r"\u2e80-\u9fff\uf900-\ufaff\U00020000-\U0003ffff"
_SPACE_BY_CJK = re.compile(rf"(?<=[{_CJK}])\s+|\s+(?=[{_CJK}])")


@dataclass(frozen=True)
class _Hit:
    unit: str
    text: str  # the roster name or alias that was found
    length: int  # of the normalised text
    place: str


def identify(mail: Mail, roster: Roster) -> UnitMatch:
    # Only From counts: Sender and Reply-To are whatever the sender's client put there, and a
    # registered address in them proves nothing more than the From does. Keep it simple.
    unit = roster.by_email(mail.from_addr) if mail.from_addr else None
    if unit is not None:
        return UnitMatch(unit=unit.name, how="address", matched=mail.from_addr, where="from")
    return _by_name(mail, roster)


def normalise(text: str) -> str:
    """NFKC (full-width to half-width), no whitespace next to Chinese characters, case folded."""
    return _SPACE_BY_CJK.sub("", unicodedata.normalize("NFKC", text)).casefold()


def _by_name(mail: Mail, roster: Roster) -> UnitMatch:
    texts = {
        "subject": normalise(mail.subject),
        "filename": "\n".join(normalise(a.filename) for a in mail.attachments),
        "body": normalise(mail.text),
    }
    hits = [
        _Hit(unit.name, text, len(key), place)
        for unit in roster.units
        for text in (unit.name, *unit.aliases)
        if (key := normalise(text))
        for place in PLACES
        if key in texts[place]
    ]
    if not hits:
        return UnitMatch(unit=None, how="none")
    longest = max(hit.length for hit in hits)
    hits = [hit for hit in hits if hit.length == longest]
    best_place = min(PLACES.index(hit.place) for hit in hits)
    hits = [hit for hit in hits if PLACES.index(hit.place) == best_place]
    units = sorted({hit.unit for hit in hits})
    if len(units) > 1:  # equally long names of different units in the same place: a person decides
        matched = " / ".join(sorted({hit.text for hit in hits}))
        return UnitMatch(unit=None, how="name", matched=matched, where=PLACES[best_place], needs_review=True)
    return UnitMatch(unit=units[0], how="name", matched=hits[0].text, where=hits[0].place, needs_review=True)
