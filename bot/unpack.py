"""Open containers: ZIP, 7z and RAR archives, forwarded mails, Outlook winmail.dat.

One attachment may hold many files. Every file found becomes a `Part`; what cannot be opened
becomes a `Problem` and the container itself is kept as a part, so nothing is dropped without a trace.
Limits bound the work and the memory whatever the archive claims. Pure, except that RAR is read
through Debian's bsdtar (a subprocess on a temporary file).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bot.archives import ArchiveError, Budget, Entry, read_7z, read_rar, read_zip, zip_is_document
from bot.config import Limits
from bot.model import Attachment, Part, Problem, Unpacked
from bot.sniff import sniff

log = logging.getLogger(__name__)

TNEF_SIGNATURE = b"\x78\x9f\x3e\x22"
ARCHIVE_READERS = {"zip": read_zip, "7z": read_7z, "rar": read_rar}


@dataclass
class _Result:
    parts: list[Part] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    senders: list[tuple[str, str]] = field(default_factory=list)


def unpack(attachments: tuple[Attachment, ...], limits: Limits) -> Unpacked:
    result = _Result()
    budget = Budget(limits)
    for index, a in enumerate(attachments):
        if len(result.parts) >= limits.max_parts:
            result.problems.append(Problem("too_many_parts", None, (("limit", limits.max_parts),
                                                                    ("count", len(attachments) - index))))
            break
        top = Part(a.filename, a.payload, "", "", "attachment", a.content_type, a.disposition, a.content_id)
        try:
            _open(top, 0, budget, result)
        except Exception as exc:  # a reader bug must not lose the file: keep it whole
            log.exception("opening %r failed", a.filename)
            result.parts.append(top)
            result.problems.append(Problem("archive_corrupt", a.filename, (("error", type(exc).__name__),)))
    parts = result.parts[: limits.max_parts]
    if len(result.parts) > limits.max_parts and not any(p.code == "too_many_parts" for p in result.problems):
        result.problems.append(Problem("too_many_parts", None, (("limit", limits.max_parts),
                                                                ("count", len(result.parts) - limits.max_parts))))
    return Unpacked(tuple(parts), tuple(result.problems), tuple(result.senders))


def shown(part: Part) -> str:
    return part.path or part.filename


def container_kind(part: Part) -> str | None:
    payload = part.payload
    if payload.startswith(TNEF_SIGNATURE):
        return "tnef"
    kind = sniff(payload)[0]
    if kind in ARCHIVE_READERS:
        return None if kind == "zip" and zip_is_document(payload) else kind
    if kind == "eml" or part.content_type == "message/rfc822":
        return "forward"
    return None


def _open(part: Part, depth: int, budget: Budget, result: _Result) -> None:
    kind = container_kind(part)
    if kind is None:
        result.parts.append(part)
        return
    if depth >= budget.limits.max_depth:
        result.parts.append(part)
        result.problems.append(Problem("archive_too_deep", shown(part)))
        return
    if kind == "forward":
        _open_forward(part, depth, budget, result)
    elif kind == "tnef":
        _open_tnef(part, depth, budget, result)
    else:
        _open_archive(kind, part, depth, budget, result)


def _child(parent: Part, entry: Entry, origin: str) -> Part:
    folder, _, leaf = entry.name.rstrip("/").rpartition("/")
    hint = "/".join(p for p in (parent.folder_hint, folder) if p)
    return Part(leaf, entry.data, f"{shown(parent)}/{entry.name}", hint, origin)


def _open_archive(kind: str, part: Part, depth: int, budget: Budget, result: _Result) -> None:
    name = shown(part)
    try:
        listing = ARCHIVE_READERS[kind](part.payload, budget)
    except ArchiveError as exc:
        result.parts.append(part)  # keep what could not be opened
        result.problems.append(Problem(exc.code, name, exc.params))
        return
    for entry in listing.entries:
        _open(_child(part, entry, kind), depth + 1, budget, result)
    if listing.problem is not None:
        code, params = listing.problem
        result.problems.append(Problem(code, name, params))
        if code in ("archive_corrupt", "archive_encrypted") and not listing.entries:
            result.parts.append(part)


def _open_forward(part: Part, depth: int, budget: Budget, result: _Result) -> None:
    from bot.parse import parse_mail  # parse imports nothing of ours that imports us; kept local for clarity

    inner = parse_mail(part.payload)
    if inner.from_addr:
        result.senders.append((inner.from_addr, inner.from_name))
    name = part.filename or "forwarded.eml"
    for a in inner.attachments:
        child = Part(a.filename, a.payload, f"{shown(part) or name}/{a.filename}", part.folder_hint, "forward",
                     a.content_type, a.disposition, a.content_id)
        _open(child, depth + 1, budget, result)


def _open_tnef(part: Part, depth: int, budget: Budget, result: _Result) -> None:
    from tnefparse import TNEF

    try:
        tnef = TNEF(part.payload)
    except Exception:
        result.parts.append(part)
        result.problems.append(Problem("archive_corrupt", shown(part), (("format", "winmail.dat"),)))
        return
    for index, att in enumerate(tnef.attachments):
        data = att.data if isinstance(att.data, bytes) else b""
        if budget.entries_left <= 0 or len(data) > budget.bytes_left:
            result.problems.append(Problem("archive_bomb", shown(part), (("limit", "bytes"),)))
            return
        budget.entries_left -= 1
        budget.bytes_left -= len(data)
        leaf = tnef_name(att) or f"attachment-{index + 1}"
        child = Part(leaf, data, f"{shown(part)}/{leaf}", part.folder_hint, "tnef")
        _open(child, depth + 1, budget, result)


def tnef_name(att: object) -> str:
    """The long file name (MAPI 0x3707), else the 8.3 title; decoded here (tnefparse trips on GBK)."""
    candidates: list[object] = []
    for attr in getattr(att, "mapi_attrs", []):
        if getattr(attr, "name", None) == 0x3707:
            candidates.append(attr.data)
    candidates.append(getattr(att, "_name", b""))
    for value in candidates:
        text = decode_name(value)
        if text:
            return text
    return ""


def decode_name(value: object) -> str:
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, str):
        return value.strip("\x00").strip()
    if not isinstance(value, bytes | bytearray):
        return ""
    raw = bytes(value)
    if len(raw) >= 4 and raw[1:2] == b"\x00" and raw[3:4] == b"\x00":
        text = raw.decode("utf-16-le", "replace")
    else:
        raw = raw.split(b"\x00", 1)[0]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("gb18030", "replace")
    return text.strip("\x00").strip()
