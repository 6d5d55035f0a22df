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

from bot.core.model import Mail, Unit, UnitMatch
from bot.core.roster import Roster

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
# Short forms that are also everyday words (小店 "small shop" from 小店区文明办): never derived. Staff rule out
# another with `-短称` in the roster's aliases column, or name a unit by any word with a plain alias.
EVERYDAY_WORDS: frozenset[str] = frozenset((
    "小店", "新城", "城区", "城关", "开发区", "新区", "高新区", "经开区", "中心", "市区", "郊区",
))
KIND_OF_RANK = {3: "full", 2: "alias", 1: "short"}

_CJK = r"\u2e80-\u9fff\uf900-\ufaff\U00020000-\U0003ffff"
_SPACE_BY_CJK = re.compile(rf"(?<=[{_CJK}])\s+|\s+(?=[{_CJK}])")
_CJK_CHAR = re.compile(rf"[{_CJK}]")
# Where quoted or forwarded text starts: Foxmail/QQ/163 "原始邮件" rules, Outlook's 发件人:/From: block,
# "在 … 写道：" / "On … wrote:", forwarded-message rules.
_QUOTE_START = re.compile(
    r"^\s*(?:-{2,}\s*(?:原始邮件|Original Message|Original|转发邮件信息|转发的邮件|Forwarded message)\s*-{2,}"
    r"|在\s*.{0,60}写道[:：]|On .{0,80} wrote:|Begin forwarded message:|(?:发件人|From)\s*[:：].+)\s*$",
    re.IGNORECASE,
)
_SIGNATURE_RULE = re.compile(r"^(?:--|——|-- )$")  # the conventional "-- " line that opens a signature


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


def identify(
    mail: Mail,
    roster: Roster,
    *,
    org_suffixes: tuple[str, ...] = ORG_SUFFIXES,
    admin_suffixes: tuple[str, ...] = ADMIN_SUFFIXES,
) -> UnitMatch:
    """The registered From address first (a unit may send for another, named in its subject or
    signature); else a unit's name where the sender wrote it. The suffix lists derive short forms."""
    names = _names_of(roster.units, tuple(org_suffixes), tuple(admin_suffixes))
    # Only From counts: Sender and Reply-To are whatever the sender's client put there.
    unit = roster.by_email(mail.from_addr) if mail.from_addr else None
    if unit is not None:
        other = _sending_for_another(mail, names, unit.name)
        if other is not None:
            return other
        return UnitMatch(unit=unit.name, how="address", matched=mail.from_addr, where="from")
    return _by_name(mail, names)


def normalise(text: str) -> str:
    """NFKC (full-width to half-width), no whitespace next to Chinese characters, case folded."""
    return _SPACE_BY_CJK.sub("", unicodedata.normalize("NFKC", text)).casefold()


def places(mail: Mail) -> dict[str, str]:
    """The normalised texts to search, by place, quoted text and signature separated from the body."""
    own, _quoted = split_quoted(mail.text)
    body, signature = split_signature(own)
    return {
        "subject": normalise(mail.subject),
        "from_name": normalise(mail.from_name),
        "filename": "\n".join(normalise(a.filename) for a in mail.attachments),
        "signature": normalise("\n".join(signature)),
        "body": normalise("\n".join(body)),
    }


def split_quoted(text: str) -> tuple[str, str]:
    """(what the sender wrote, the mail they replied to or forwarded); `>` lines are quoted too."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if _QUOTE_START.match(line)), len(lines))
    own = [line for line in lines[:start] if not line.lstrip().startswith(">")]
    quoted = [line for line in lines[:start] if line.lstrip().startswith(">")] + lines[start:]
    return "\n".join(own), "\n".join(quoted)


def split_signature(own: str) -> tuple[list[str], list[str]]:
    """(body lines, signature lines) of the sender's own text, blank lines dropped: what follows a
    "-- " line, else the last SIGNATURE_LINES lines."""
    lines = [line for line in own.splitlines() if line.strip()]
    rules = [i for i, line in enumerate(lines) if _SIGNATURE_RULE.match(line.strip())]
    if rules:
        return lines[:rules[-1]], lines[rules[-1] + 1:]
    return lines[:-SIGNATURE_LINES], lines[-SIGNATURE_LINES:]


def _by_name(mail: Mail, names: tuple[_Name, ...]) -> UnitMatch:
    hits = _hits(places(mail), names, PLACES)
    best = _best_hits(hits)
    if not best:
        return UnitMatch(unit=None, how="none")
    where = best[0].place
    # Other units named in that place by a name or an alias (a derived short form is too weak to doubt a
    # full name) make the mail ambiguous: a person decides, the reply asks.
    floor = min(best[0].name.rank, ALIAS)
    named = [hit for hit in hits if hit.place == where and hit.name.rank >= floor]
    units = sorted({hit.name.unit for hit in named})
    if len(units) > 1:
        matched = " / ".join(sorted({_best_text(named, unit) for unit in units}))
        return UnitMatch(unit=None, how="name", matched=matched, where=where, needs_review=True,
                         name_kind=KIND_OF_RANK[best[0].name.rank])
    return UnitMatch(unit=units[0], how="name", matched=best[0].name.text, where=where, needs_review=True,
                     name_kind=KIND_OF_RANK[best[0].name.rank])


def _best_text(hits: list[_Hit], unit: str) -> str:
    """How the mail named a unit: its highest-ranked, longest mention."""
    return max((hit for hit in hits if hit.name.unit == unit), key=lambda h: (h.name.rank, len(h.name.key))).name.text


def _sending_for_another(mail: Mail, names: tuple[_Name, ...], own_unit: str) -> UnitMatch | None:
    """A registered address whose subject or signature clearly names one other unit (by its name or
    an alias, never a derived short form): the mail is for that unit, and a person should confirm."""
    texts = places(mail)
    hits = [h for h in _hits(texts, names, ("subject", "signature")) if h.name.rank >= ALIAS]
    best = _best_hits(hits)
    units = {hit.name.unit for hit in best}
    if len(units) != 1 or own_unit in units or any(h.name.unit == own_unit for h in hits):
        return None
    target = best[0]
    return UnitMatch(unit=target.name.unit, how="address+name", matched=f"{mail.from_addr} → {target.name.unit}",
                     where=target.place, needs_review=True)


def _hits(texts: dict[str, str], names: tuple[_Name, ...], where: tuple[str, ...]) -> list[_Hit]:
    hits: list[_Hit] = []
    for place in where:
        text = texts[place]
        found = [name for name in names if name.key in text]
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


@cache
def _names_of(
    units: tuple[Unit, ...], org_suffixes: tuple[str, ...], admin_suffixes: tuple[str, ...]
) -> tuple[_Name, ...]:
    given: list[_Name] = []
    for unit in units:
        for text, rank in ((unit.name, FULL), *((alias, ALIAS) for alias in unit.aliases)):
            key = normalise(text)
            if key:
                given.append(_Name(key, unit.name, rank, text))
    # Derived short forms, only where they point to one unit: no other unit derives, is named or has an
    # alias that is or contains the same form (小店 would also be read in 小店街道办事处).
    derived: dict[str, set[str]] = {}
    for unit in units:
        blocked = {normalise(b) for b in unit.blocked}
        for form in short_forms(unit.name, org_suffixes, admin_suffixes):
            key = normalise(form)
            if key not in blocked and key not in EVERYDAY_WORDS:
                derived.setdefault(key, set()).add(unit.name)
    others = [(name.key, name.unit) for name in given] + [(k, u) for k, us in derived.items() for u in us]
    short = [
        _Name(key, owner, SHORT, key)
        for key, owners in derived.items()
        if len(owners) == 1
        for owner in owners
        if not any(key in other for other, unit in others if unit != owner)
        and not any(name.key == key for name in given)
    ]
    return tuple(given + short)


def short_forms(
    name: str, org_suffixes: tuple[str, ...] = ORG_SUFFIXES, admin_suffixes: tuple[str, ...] = ADMIN_SUFFIXES
) -> list[str]:
    """小店区文明办 → 小店区, 小店: one organisation suffix, then one administrative suffix, stripped
    (longest first); only forms of at least two Chinese characters."""
    forms: list[str] = []
    stem = name
    for suffix in sorted(org_suffixes, key=len, reverse=True):
        if suffix and stem.endswith(suffix) and len(stem) > len(suffix):
            stem = stem[: -len(suffix)]
            forms.append(stem)
            break
    for suffix in sorted(admin_suffixes, key=len, reverse=True):
        if suffix and stem.endswith(suffix) and len(stem) > len(suffix):
            forms.append(stem[: -len(suffix)])
            break
    return [f for f in forms if f != name and len(_CJK_CHAR.findall(f)) >= 2]
