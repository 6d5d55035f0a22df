"""Open containers: ZIP, 7z and RAR archives, forwarded mails, Outlook winmail.dat.

One attachment may hold many files. Every file found becomes a `Part`; what cannot be opened becomes a
`Problem`, and an archive that gave nothing is kept whole as a part, so nothing is dropped without a trace.
Limits bound the work and the memory whatever the archive claims. Pure: ZIP and 7z are read here; a reader
for RAR (bot/adapters/bsdtar.py) is passed in by the shell, and without one a RAR is kept whole with a
problem. Never raises.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from tnefparse.mapi import decode_mapi

from bot.core.files.archives import ArchiveError, ArchiveReader, Budget, Entry, read_7z, read_zip, zip_is_document
from bot.core.files.sniff import sniff
from bot.core.mail.charsets import utf8_or_gbk
from bot.core.mail.parse import parse_mail
from bot.core.model import Attachment, Part, Problem, Unpacked
from bot.core.settings import Limits

log = logging.getLogger(__name__)

TNEF_SIGNATURE = b"\x78\x9f\x3e\x22"
ARCHIVE_KINDS = frozenset({"zip", "7z", "rar"})
BUILT_IN_READERS: Mapping[str, ArchiveReader] = MappingProxyType({"zip": read_zip, "7z": read_7z})
# A file named .eml is a mail only if its bytes are not something else the sender misnamed.
_EML_BY_NAME_KINDS = frozenset({"eml", "text", "html", "unknown"})


@dataclass
class _Result:
    readers: Mapping[str, ArchiveReader]
    parts: list[Part] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    senders: list[tuple[str, str]] = field(default_factory=list)


def unpack(attachments: tuple[Attachment, ...], limits: Limits,
           readers: Mapping[str, ArchiveReader] = BUILT_IN_READERS) -> Unpacked:
    """The files of a mail once its archives, forwarded mails and winmail.dat are opened, each archive
    kind by its reader in `readers`."""
    result = _Result(readers)
    budget = Budget(limits)
    for a in attachments:
        top = Part(a.filename, a.payload, "", "", "attachment", a.content_type, a.disposition, a.content_id)
        try:
            _open(top, 0, budget, result)
        except Exception as exc:  # a reader bug must not lose the file: keep it whole
            log.exception("opening %r failed", a.filename)
            result.parts.append(top)
            result.problems.append(Problem("archive_corrupt", a.filename, (("error", type(exc).__name__),)))
    parts = result.parts[: limits.max_parts]
    if len(result.parts) > limits.max_parts:
        extra = len(result.parts) - limits.max_parts
        result.problems.append(Problem("too_many_parts", None, (("limit", limits.max_parts), ("count", extra))))
    return Unpacked(tuple(parts), tuple(result.problems), tuple(dict.fromkeys(result.senders)))


def shown(part: Part) -> str:
    return part.path or part.filename


def container_kind(part: Part) -> str | None:
    """"zip" | "7z" | "rar" | "tnef" | "forward" when the part holds other files, from its bytes; else None."""
    payload = part.payload
    if payload.startswith(TNEF_SIGNATURE):
        return "tnef"
    kind = sniff(payload)[0]
    if kind in ARCHIVE_KINDS:
        return None if kind == "zip" and zip_is_document(payload) else kind
    if kind == "eml" or part.content_type == "message/rfc822":
        return "forward"
    if part.filename.lower().endswith(".eml") and kind in _EML_BY_NAME_KINDS:
        return "forward"
    return None


def _open(part: Part, depth: int, budget: Budget, result: _Result) -> None:
    kind = container_kind(part)
    if kind is None:
        result.parts.append(part)
        return
    if depth >= budget.limits.max_depth:
        result.parts.append(part)
        result.problems.append(Problem("archive_too_deep", shown(part), (("limit", budget.limits.max_depth),)))
        return
    if kind == "forward":
        _open_forward(part, depth, budget, result)
    elif kind == "tnef":
        _open_tnef(part, depth, budget, result)
    else:
        _open_archive(kind, part, depth, budget, result)


def _child(parent: Part, entry: Entry, origin: str) -> Part:
    folder, _, leaf = entry.name.rpartition("/")
    hint = "/".join(p for p in (parent.folder_hint, folder) if p)
    return Part(leaf, entry.data, f"{shown(parent)}/{entry.name}", hint, origin)


def _open_archive(kind: str, part: Part, depth: int, budget: Budget, result: _Result) -> None:
    try:
        reader = result.readers.get(kind)
        if reader is None:
            raise ArchiveError("archive_unsupported", (("format", kind),))
        listing = reader(part.payload, budget)
    except ArchiveError as exc:
        result.parts.append(part)  # keep what could not be opened
        result.problems.append(Problem(exc.code, shown(part), exc.params))
        return
    for entry in listing.entries:
        _open(_child(part, entry, kind), depth + 1, budget, result)
    if listing.problem is not None:
        code, params = listing.problem
        result.problems.append(Problem(code, shown(part), params))
        if code != "archive_bomb" and not listing.entries:
            result.parts.append(part)


def _open_forward(part: Part, depth: int, budget: Budget, result: _Result) -> None:
    """A forwarded mail: its sender is reported, its attachments opened; its text is not a file."""
    inner = parse_mail(part.payload)
    if inner.from_addr:
        result.senders.append((inner.from_addr, inner.from_name))
    for a in inner.attachments:
        child = Part(a.filename, a.payload, f"{shown(part)}/{a.filename}", part.folder_hint, "forward",
                     a.content_type, a.disposition, a.content_id)
        _open(child, depth + 1, budget, result)


# -- winmail.dat (TNEF) ----------------------------------------------------------------------------
# Objects are framed here; tnefparse only decodes the MAPI property lists, with latin-1 so that 8-bit
# strings come back byte for byte (its own decoding is strict and trips on GBK or a missing code page).

_LVL_ATTACHMENT = 0x02
_ATT_ATTACH_DATA = 0x800F
_ATT_ATTACH_TITLE = 0x8010
_ATT_ATTACH_REND_DATA = 0x9002  # starts each attachment
_ATT_ATTACHMENT = 0x9005  # the attachment's MAPI properties
_PR_DISPLAY_NAME = 0x3001
_PR_ATTACH_DATA_OBJ = 0x3701
_PR_ATTACH_FILENAME = 0x3704
_PR_ATTACH_LONG_FILENAME = 0x3707
_PT_UNICODE = 0x001F
_IMESSAGE_SIG = b"\x07\x03\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"
_NAME_ORDER = (_PR_ATTACH_LONG_FILENAME, _PR_ATTACH_FILENAME, _ATT_ATTACH_TITLE, _PR_DISPLAY_NAME)


@dataclass
class TnefAttachment:
    data: bytes = b""
    names: dict[int, str] = field(default_factory=dict)  # attribute or property id -> decoded name

    @property
    def name(self) -> str:
        return next((self.names[key] for key in _NAME_ORDER if self.names.get(key)), "")


def tnef_attachments(payload: bytes) -> tuple[list[TnefAttachment], bool]:
    """The attachments of a TNEF stream, and whether its objects were all whole."""
    attachments: list[TnefAttachment] = []
    objects, cut_level = _tnef_objects(payload)
    for level, name, data in objects:
        if name == _ATT_ATTACH_REND_DATA:
            attachments.append(TnefAttachment())
        if level != _LVL_ATTACHMENT or not attachments:
            continue
        if name == _ATT_ATTACH_DATA:
            attachments[-1].data = data
        elif name == _ATT_ATTACH_TITLE:
            attachments[-1].names[name] = decode_8bit(data)
        elif name == _ATT_ATTACHMENT:
            _read_mapi(data, attachments[-1])
    if cut_level == _LVL_ATTACHMENT and attachments:
        attachments.pop()  # the attachment being read when the stream was cut is not whole
    return attachments, cut_level is None


def _tnef_objects(payload: bytes) -> tuple[list[tuple[int, int, bytes]], int | None]:
    """(level, attribute id, data) of each object, and the level of the object cut short, if one was.
    Bytes that are not an object (a level other than message or attachment) end the stream quietly."""
    objects = []
    offset = 6
    while offset + 11 <= len(payload):
        level, name, _type, length = struct.unpack_from("<BHHI", payload, offset)
        if level not in (1, _LVL_ATTACHMENT):
            break
        if offset + 11 + length > len(payload):
            return objects, level
        objects.append((level, name, payload[offset + 9 : offset + 9 + length]))
        offset += 11 + length
    return objects, None


def _read_mapi(data: bytes, into: TnefAttachment) -> None:
    for prop in decode_mapi(data, "latin-1"):
        value = prop.data[0] if isinstance(prop.data, list) and prop.data else prop.data
        if prop.name == _PR_ATTACH_DATA_OBJ and isinstance(value, bytes):
            # An attached mail is itself a TNEF stream after the IMessage signature: opened in turn.
            into.data = value[len(_IMESSAGE_SIG):] if value.startswith(_IMESSAGE_SIG) else value
        elif prop.name in _NAME_ORDER and isinstance(value, str):
            text = value if prop.attr_type == _PT_UNICODE else decode_8bit(value.encode("latin-1"))
            into.names[prop.name] = text.strip("\x00").strip()


def decode_8bit(raw: bytes) -> str:
    """An 8-bit TNEF string: UTF-8 when it is valid UTF-8, else GBK as Outlook on Chinese Windows writes it."""
    return utf8_or_gbk(raw.split(b"\x00", 1)[0]).strip()


def _open_tnef(part: Part, depth: int, budget: Budget, result: _Result) -> None:
    attachments, complete = tnef_attachments(part.payload)
    for index, att in enumerate(attachments):
        limit = budget.refusal(len(att.data), len(att.data))
        if limit:
            result.problems.append(Problem("archive_bomb", shown(part), (("format", "tnef"), ("limit", limit))))
            return
        budget.take(len(att.data))
        leaf = (att.name or f"attachment-{index + 1}").replace("/", "_").replace("\\", "_")
        child = Part(leaf, att.data, f"{shown(part)}/{leaf}", part.folder_hint, "tnef")
        _open(child, depth + 1, budget, result)
    if not complete:
        result.problems.append(Problem("archive_corrupt", shown(part), (("format", "tnef"),)))
        if not attachments:
            result.parts.append(part)
