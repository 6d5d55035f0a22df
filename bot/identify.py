"""Which unit sent a mail: its registered From address, else a unit's name in what the sender wrote.

Names are looked for in the subject, the display name, the file names, the signature lines and the
rest of the body (quoted text ignored). A full name beats an alias, an alias beats a short form
derived from a name (小店 for 小店区文明办); among equals the most trusted place wins. Two units
named alike in that place leave the mail unassigned for a person to decide.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

from bot.model import Mail, UnitMatch
from bot.roster import Roster

# Where a name was found, most trusted first.
PLACES = ("subject", "from_name", "filename", "signature", "body")
SIGNATURE_LINES = 8
FULL, ALIAS, SHORT = 3, 2, 1

# Suffixes stripped from a unit's name to derive its short forms; configuration, not logic.
ORG_SUFFIXES: tuple[str, ...] = (
    "新时代文明实践中心", "新时代文明实践站", "新时代文明实践所", "志愿服务指导中心", "志愿服务站", "志愿服务队",
    "文明办", "委宣传部", "宣传部", "办公室", "委员会",
)
ADMIN_SUFFIXES: tuple[str, ...] = ("街道", "区", "县", "市", "镇", "乡")

_CJK = r"\u2e80-\u9fff\uf900-\ufaff\U00020000-\U0003ffff"
_SPACE_BY_CJK = re.compile(rf"(?<=[{_CJK}])\s+|\s+(?=[{_CJK}])")
_CJK_CHAR = re.compile(rf"[{_CJK}]")
_QUOTE_START = re.compile(
    r"^\s*(?:-{2,}\s*(?:原始邮件|Original Message|Original)\s*-{2,}|-{5,}\s*Original\s*-{5,}"
    r"|在\s*.{0,60}写道[:：]|On .{0,80} wrote:|(?:发件人|From)\s*[:：].+)\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Name:
    key: str  # normalised text to look for
    unit: str
    rank: int  # FULL, ALIAS or SHORT
    text: str  # as the roster writes it (or the derived short form)


@dataclass(frozen=True)
class _Hit:
    name: _Name
    place: str


def identify(mail: Mail, roster: Roster) -> UnitMatch:
    # Only From counts: Sender and Reply-To are whatever the sender's client put there.
    unit = roster.by_email(mail.from_addr) if mail.from_addr else None
    if unit is not None:
        other = _sending_for_another(mail, roster, unit.name)
        if other is not None:
            return other
        return UnitMatch(unit=unit.name, how="address", matched=mail.from_addr, where="from")
    return _by_name(mail, roster)


def normalise(text: str) -> str:
    """NFKC (full-width to half-width), no whitespace next to Chinese characters, case folded."""
    return _SPACE_BY_CJK.sub("", unicodedata.normalize("NFKC", text)).casefold()


def places(mail: Mail) -> dict[str, str]:
    """The normalised texts to search, by place, quoted text and signature separated from the body."""
    own, _quoted = split_quoted(mail.text)
    lines = [line for line in own.splitlines() if line.strip()]
    body, signature = lines[:-SIGNATURE_LINES], lines[-SIGNATURE_LINES:]
    return {
        "subject": normalise(mail.subject),
        "from_name": normalise(mail.from_name),
        "filename": "\n".join(normalise(a.filename) for a in mail.attachments),
        "signature": normalise("\n".join(signature)),
        "body": normalise("\n".join(body)),
    }


def split_quoted(text: str) -> tuple[str, str]:
    """(what the sender wrote, the mail they replied to or forwarded)."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if index > 0 and _QUOTE_START.match(line):
            return "\n".join(lines[:index]), "\n".join(lines[index:])
    own = [line for line in lines if not line.lstrip().startswith(">")]
    return "\n".join(own), ""


def _by_name(mail: Mail, roster: Roster) -> UnitMatch:
    best = _best_hits(_hits(places(mail), roster, PLACES))
    if not best:
        return UnitMatch(unit=None, how="none")
    units = sorted({hit.name.unit for hit in best})
    where = best[0].place
    if len(units) > 1:  # several units named alike: a person decides, the reply asks
        matched = " / ".join(sorted({hit.name.text for hit in best}))
        return UnitMatch(unit=None, how="name", matched=matched, where=where, needs_review=True)
    return UnitMatch(unit=units[0], how="name", matched=best[0].name.text, where=where, needs_review=True)


def _sending_for_another(mail: Mail, roster: Roster, own_unit: str) -> UnitMatch | None:
    """A registered address whose subject or signature clearly names one other unit (by its name or
    an alias, never a derived short form): the mail is for that unit, and a person should confirm."""
    texts = places(mail)
    hits = [h for h in _hits(texts, roster, ("subject", "signature")) if h.name.rank >= ALIAS]
    best = _best_hits(hits)
    units = {hit.name.unit for hit in best}
    if len(units) != 1 or own_unit in units or any(h.name.unit == own_unit for h in hits):
        return None
    target = best[0]
    return UnitMatch(unit=target.name.unit, how="address+name", matched=f"{mail.from_addr} → {target.name.unit}",
                     where=target.place, needs_review=True)


def _hits(texts: dict[str, str], roster: Roster, where: tuple[str, ...]) -> list[_Hit]:
    hits: list[_Hit] = []
    for place in where:
        text = texts[place]
        found = [name for name in _names(roster) if name.key in text]
        # A name inside a longer name found in the same place is not a second mention (朝阳区 in 朝阳区文明办).
        found = [n for n in found if not any(n.key != m.key and n.key in m.key for m in found)]
        hits += [_Hit(name, place) for name in found]
    return hits


def _best_hits(hits: list[_Hit]) -> list[_Hit]:
    """The hits of the highest rank, in the most trusted place that has any, longest first."""
    if not hits:
        return []
    rank = max(hit.name.rank for hit in hits)
    ranked = [hit for hit in hits if hit.name.rank == rank]
    place = min(PLACES.index(hit.place) for hit in ranked)
    return sorted((hit for hit in ranked if PLACES.index(hit.place) == place), key=lambda h: -len(h.name.key))


def _names(roster: Roster) -> tuple[_Name, ...]:
    return _names_of(roster.units)


@cache
def _names_of(units: tuple) -> tuple[_Name, ...]:  # type: ignore[type-arg]
    names: list[_Name] = []
    taken: set[str] = set()
    for unit in units:
        for text, rank in ((unit.name, FULL), *((alias, ALIAS) for alias in unit.aliases)):
            key = normalise(text)
            if key:
                names.append(_Name(key, unit.name, rank, text))
                taken.add(key)
    # Derived short forms, only where they are unique across the roster.
    derived: dict[str, set[str]] = {}
    for unit in units:
        for form in short_forms(unit.name):
            derived.setdefault(normalise(form), set()).add(unit.name)
    for key, owners in derived.items():
        if len(owners) == 1 and key not in taken:
            names.append(_Name(key, next(iter(owners)), SHORT, key))
    return tuple(names)


def short_forms(name: str) -> list[str]:
    """小店区文明办 → 小店区, 小店; only forms of at least two Chinese characters."""
    forms: list[str] = []
    stem = name
    for suffix in ORG_SUFFIXES:
        if stem.endswith(suffix) and len(stem) > len(suffix):
            stem = stem[: -len(suffix)]
            forms.append(stem)
            break
    for suffix in ADMIN_SUFFIXES:
        if stem.endswith(suffix) and len(stem) > len(suffix):
            forms.append(stem[: -len(suffix)])
            break
    return [f for f in forms if f != name and len(_CJK_CHAR.findall(f)) >= 2]
