"""Parse step: raw message bytes in, a `Mail` out. Pure, and never raises.

The message tree comes from `bot.core.mail.mime_scan`, which finds the MIME structure with `bytes.find` and
builds the tree the standard library's feed parser (compat32) would; a message in a form the scanner declines
is read by that feed parser and checked by mail-parser (which also supplies date and address parsing, with
care for obsolete and malformed forms). When mail-parser fails on the tree, the standard library's own
parser takes over and the fact is noted in `Mail.defects`. Bodies, attachments,
file names and header text are read from the tree here, with `bot.core.mail.charsets`, because mail-parser
decodes gb2312-labelled GBK lossily and its attachment list is not the one this bot needs. What
only machines write (report parts anywhere, a mail server's bounce text) is read from the same tree by
`bot.core.mail.triage.machine_marks` into `Mail.machine_marks`, for triage.
"""

from __future__ import annotations

import binascii
import email
import email.utils
import functools
import importlib.util
import io
import re
import types
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.generator import BytesGenerator
from email.message import Message

import mailparser
from mailparser.dates import parse_mail_date
from mailparser.utils import get_addresses

from bot.core.mail.charsets import (
    decode_base64,
    decode_base64_in,
    decode_bytes,
    decode_header,
    decode_undeclared,
    header_bytes,
)
from bot.core.mail.html_text import html_to_text
from bot.core.mail.mime_scan import scan
from bot.core.mail.triage import machine_marks
from bot.core.model import Attachment, Mail

FEED_SLICE = 1 << 16  # bytes handed to the feed parser at a time
MAX_DEPTH = 40  # MIME nesting deeper than this is not walked (the rest of the message is kept)
TOO_DEEP = f"MIME nesting deeper than {MAX_DEPTH}"  # the defect recorded when that happens
FILE_TYPES = frozenset({"image", "application", "audio", "video", "model", "font"})
ATTACHED_MESSAGE_TYPES = frozenset({"message/rfc822", "message/global"})
# The headers a bounce returns instead of the whole message (RFC 3462, RFC 6533): kept as attachments so
# triage can name the returned Message-ID.
RETURNED_HEADER_TYPES = frozenset({"text/rfc822-headers", "message/global-headers"})
_EXTENSIONS = {
    "image/jpeg": ".jpg", "image/jpg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/bmp": ".bmp",
    "image/tiff": ".tif", "image/webp": ".webp", "image/heic": ".heic", "application/pdf": ".pdf",
    "application/zip": ".zip", "text/plain": ".txt", "text/html": ".html", "message/rfc822": ".eml",
    "text/rfc822-headers": ".txt", "message/global-headers": ".txt",
}


def parse_mail(raw: bytes, *, fast: bool = True) -> Mail:
    """Parse raw RFC 822 bytes. Any input yields a Mail; what had to be worked around is in `defects`.
    `fast=False` never uses the scanner (the differential test and the benchmark's floor compare both)."""
    try:
        return _parse(bytes(raw), fast)
    except Exception as exc:  # the last line of defence: one bad message never stops the run
        return _empty_mail(f"unparsable: {type(exc).__name__}: {exc}")


def _empty_mail(defect: str) -> Mail:
    return Mail(
        message_id=None, subject="", from_addr="", from_name="", to=(), date=None,
        content_type="text/plain", headers=(), text="", html="", attachments=(), defects=(defect,),
    )


def _parse(raw: bytes, fast: bool) -> Mail:
    defects: list[str] = []
    message = _message_tree(mend_broken_folds(raw, defects), defects, fast)
    headers = tuple((str(name).lower(), _header_text(value)) for name, value in message.raw_items())
    senders = _addresses(_raw_all(message, "from"))
    walk = _Walk(crlf=b"\r\n" in raw[:4096])
    walk.part(message, depth=0)
    defects += walk.defects
    text = "\n".join(walk.texts)
    html = "\n".join(walk.htmls)
    if not text.strip() and html:
        text = html_to_text(html)
    return Mail(
        message_id=_message_id(_raw(message, "message-id")),
        subject=_header_text(_raw(message, "subject") or ""),
        from_addr=senders[0][1] if senders else "",
        from_name=senders[0][0] if senders else "",
        to=tuple(address for _, address in _addresses(_raw_all(message, "to")) if address),
        date=_date(_raw(message, "date")),
        content_type=message.get_content_type(),
        headers=headers,
        text=text,
        html=html,
        attachments=tuple(walk.attachments),
        defects=tuple(dict.fromkeys(defects)),
        machine_marks=machine_marks(message),
    )


class _LineEndAtEnd:
    """email.feedparser's NLCRE_eol (CRLF, CR or LF at the very end of a text), looked for where it can
    match. The parser calls `search` once per part on the whole payload to strip its last line end, and the
    regex tries every position on the way: 0.23 s for a 50 MB photo, 7 of 56 s of a profiled benchmark run.
    A match ends at the end and is at most two characters long, so searching the last two gives the same
    match text, which is all the parser uses (tests/unit/test_parse.py compares both)."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern

    def search(self, text: str) -> re.Match[str] | None:
        return self.pattern.search(text[-2:])


@functools.cache
def _feedparser() -> types.ModuleType:
    """A private copy of `email.feedparser` whose NLCRE_eol is `_LineEndAtEnd`, loaded on first use. The
    standard module stays as it is for every other user in the process; the copy builds the same
    `email.message.Message` trees."""
    spec = importlib.util.find_spec("email.feedparser")
    if spec is None or spec.loader is None:  # pragma: no cover - the standard library always has it
        raise ImportError("email.feedparser not found")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.NLCRE_eol = _LineEndAtEnd(module.NLCRE_eol)
    return module


_HEADER_LINE = re.compile(rb"^(?:From |[\x21-\x39\x3b-\x7e]+:|[\t ])")  # a header, or its continuation
_HEADER_END = re.compile(rb"\r?\n\r?\n")
HEADER_SCAN = 1 << 20  # the blank line that ends the headers is looked for in the first MiB


def mend_broken_folds(raw: bytes, defects: list[str]) -> bytes:
    """A line among the headers that is neither a header nor a continuation (a fold whose leading space was
    lost) makes the parser end the headers there, and every header after it is lost. When a real header
    follows such a line before the blank line, the line is read as a continuation of the header above it and
    a defect is noted. A stray line after the last header is left as it is: there the body may simply have
    no blank line before it."""
    found = _HEADER_END.search(raw, 0, HEADER_SCAN)
    if found is None or found.start() == 0:
        return raw
    lines = raw[:found.start()].split(b"\n")
    headers = [i for i, line in enumerate(lines) if _HEADER_LINE.match(line) and line[:1] not in (b" ", b"\t")]
    broken = [i for i in range(1, max(headers, default=0)) if not _HEADER_LINE.match(lines[i])]
    if not headers or headers[0] != 0 or not broken:
        return raw
    for i in broken:
        lines[i] = b" " + lines[i]
    defects.append(f"broken header fold: {len(broken)} line(s) read as continuations")
    return b"\n".join(lines) + raw[found.start():]


def _message_tree(raw: bytes, defects: list[str], fast: bool) -> Message:
    """The scanner's tree; else the feed parser's, checked by mail-parser; else the standard library's own."""
    scanned = scan(raw) if fast else None
    if scanned is not None:
        try:
            checked = mailparser.MailParser(_skeleton(scanned))
            defects += sorted(c for c in checked.defects_categories if c.endswith("HeaderDefect"))
            return scanned
        except Exception:
            pass  # mail-parser fails on this tree: take the way below, which says so
    try:
        parsed = mailparser.MailParser(stdlib_tree(raw))
        if parsed.message is not None:
            defects += sorted(c for c in parsed.defects_categories if c.endswith("HeaderDefect"))
            return parsed.message
    except Exception as exc:
        defects.append(f"mail-parser failed ({type(exc).__name__}: {exc}); parsed with the standard library")
    return email.message_from_bytes(raw, policy=policy.compat32)


def _skeleton(part: Message) -> Message:
    """The tree with the same headers, defects, preambles and epilogues and every leaf empty: what mail-parser
    needs to report the header defects it finds, without decoding a single file."""
    copy = Message()
    copy._headers = part._headers  # type: ignore[attr-defined]
    copy._unixfrom = part.get_unixfrom()  # type: ignore[attr-defined]
    copy._default_type = part.get_default_type()  # type: ignore[attr-defined]
    copy.defects = part.defects
    copy.preamble, copy.epilogue = part.preamble, part.epilogue
    copy._payload = [_skeleton(c) for c in part.get_payload()] if part.is_multipart() else ""  # type: ignore
    return copy


def stdlib_tree(raw: bytes) -> Message:
    """What `email.message_from_bytes` (compat32) returns, fed in slices: it would first decode the whole
    message to one str and wrap that in a StringIO (four bytes a character), five times the message
    in memory at once; the feed parser takes the bytes a slice at a time with the same result."""
    parser = _feedparser().BytesFeedParser(policy=policy.compat32)
    view = memoryview(raw)
    for start in range(0, len(raw), FEED_SLICE):
        parser.feed(bytes(view[start:start + FEED_SLICE]))
    return parser.close()


def _header_text(value: object) -> str:
    try:
        return decode_header(value if isinstance(value, str | bytes) else str(value))
    except Exception:
        return decode_undeclared(header_bytes(str(value)))


def _message_id(value: object) -> str | None:
    if value is None:
        return None
    text = _header_text(value)
    match = re.search(r"<([^<>]*)>", text)
    text = (match.group(1) if match else text).strip()
    return text or None


def _addresses(values: list[object]) -> list[tuple[str, str]]:
    """(decoded display name, lower-case address) for every mailbox in the given header values."""
    result = []
    for value in values:
        # Raw 8-bit bytes become text first; encoded words are decoded only after the structure is
        # known, so a comma or angle bracket inside a decoded name cannot split an address.
        text = re.sub(r"\r?\n(?=[ \t])", "", decode_undeclared(header_bytes(str(value))))
        try:
            pairs = get_addresses(text, decode_names=False)
        except Exception:
            pairs = email.utils.getaddresses([text])
        for name, address in pairs:
            if address:
                result.append((_header_text(name).strip("\"' "), address.strip().lower()))
    return result


def _date(value: object) -> datetime | None:
    if value is None:
        return None
    text = str(value).strip()
    try:
        result = parse_mail_date(text)
        if result.value is not None:
            offset = timedelta(minutes=round(float(result.timezone) * 60))
            return result.value.astimezone(timezone(offset))
    except Exception:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(decode_undeclared(header_bytes(text)))
    except Exception:
        return None
    if parsed is None or parsed.year < 1900:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class _Walk:
    """Collects bodies and attachments from a message tree, depth first, in order."""

    crlf: bool
    texts: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)

    def part(self, part: Message, depth: int) -> None:
        ctype = part.get_content_type()
        self.defects += [f"{ctype}: {type(d).__name__}" for d in part.defects]
        if depth > MAX_DEPTH:
            self.defects.append(f"{TOO_DEEP}: inner parts not read")
            return
        filename = _filename(part)
        if ctype in ATTACHED_MESSAGE_TYPES:
            self.attached_message(part, filename)
        elif part.is_multipart():
            # returned headers, or a named message/* part such as a delivery-status
            if ctype in RETURNED_HEADER_TYPES or (ctype.startswith("message/") and filename):
                self.attach(part, filename, self.serialize_children(part))
                return
            if ctype.startswith("message/"):
                return  # delivery-status, disposition-notification: report data, not files (see machine_marks)
            for child in part.get_payload():
                if isinstance(child, Message):
                    self.part(child, depth + 1)
        else:
            self.leaf(part, ctype, filename)

    def leaf(self, part: Message, ctype: str, filename: str) -> None:
        disposition = (part.get_content_disposition() or "").strip().lower()
        if (filename or disposition == "attachment" or part.get_content_maintype() in FILE_TYPES
                or ctype in RETURNED_HEADER_TYPES):
            self.attach(part, filename, _payload(part))
        elif ctype == "text/html":
            self.htmls.append(_text(part))
        elif ctype == "text/plain" or ctype.startswith("multipart/"):  # multipart here: no boundary
            self.texts.append(_text(part))

    def attach(self, part: Message, filename: str, payload: bytes) -> None:
        ctype = part.get_content_type()
        if not filename:
            filename = f"part{len(self.attachments) + 1}{_EXTENSIONS.get(ctype, '.bin')}"
        content_id = _message_id(_raw(part, "content-id"))
        self.attachments.append(Attachment(
            filename=filename,
            content_type=ctype,
            disposition=(part.get_content_disposition() or "").strip().lower(),
            content_id=content_id,
            payload=payload,
        ))

    def attached_message(self, part: Message, filename: str) -> None:
        payload = part.get_payload()
        if not isinstance(payload, list):  # not parsed as a message: keep the bytes as they are
            self.attach(part, filename or "message.eml", _payload(part))
            return
        inner = next((m for m in payload if isinstance(m, Message)), None)
        if not filename and inner is not None:
            subject = _header_text(_raw(inner, "subject") or "").strip()
            filename = f"{subject or 'message'}.eml"
        data = self.serialize_children(part)
        encoding = _transfer_encoding(part)
        if encoding == "base64":
            data = decode_base64(data)
        elif encoding == "quoted-printable":
            data = binascii.a2b_qp(data)
        self.attach(part, filename, data)

    def serialize_children(self, part: Message) -> bytes:
        out = io.BytesIO()
        rules = policy.compat32.clone(linesep="\r\n" if self.crlf else "\n")
        for child in part.get_payload():
            if isinstance(child, Message):
                try:
                    BytesGenerator(out, mangle_from_=False, policy=rules).flatten(child)
                except Exception as exc:
                    self.defects.append(f"attached message not serialisable: {type(exc).__name__}")
                    out.write(header_bytes(str(child)))
        return out.getvalue()


def _transfer_encoding(part: Message) -> str:
    value = (_raw(part, "content-transfer-encoding") or "").strip().lower()
    return re.split(r"[\s;]", value, maxsplit=1)[0]


def _payload(part: Message) -> bytes:
    """The decoded bytes of a leaf part; broken base64 yields what can be decoded."""
    encoding = _transfer_encoding(part)
    span = getattr(part, "span", None)  # a scanned part still in the message: decoded where it lies
    if span is not None and encoding == "base64":
        return decode_base64_in(*span)
    if span is not None:
        data = span[0][span[1]:span[2]]
    else:
        # The stored payload: get_payload() would already have decoded raw 8-bit bytes lossily.
        raw = getattr(part, "_payload", None)
        data = header_bytes(raw if isinstance(raw, str | bytes) else str(part.get_payload()))
    if encoding == "base64":
        return decode_base64(data)
    if encoding == "quoted-printable":
        return binascii.a2b_qp(data)
    if encoding in ("x-uuencode", "uuencode", "uue", "x-uue"):
        try:
            decoded = part.get_payload(decode=True)
            if isinstance(decoded, bytes):
                return decoded
        except Exception:
            pass
    return data


def _text(part: Message) -> str:
    charset = _param(part, "content-type", "charset")
    return decode_bytes(_payload(part), charset or None)


def _raw(part: Message, name: str) -> str | None:
    """First raw value of a header (the stdlib's own getter turns 8-bit bytes into U+FFFD)."""
    for key, value in part.raw_items():
        if str(key).lower() == name:
            return str(value)
    return None


def _raw_all(part: Message, name: str) -> list[str]:
    return [str(value) for key, value in part.raw_items() if str(key).lower() == name]


def _filename(part: Message) -> str:
    """The file name as the sender wrote it: RFC 2231, RFC 2047 or raw 8-bit bytes; "" when none."""
    for header, param in (("content-disposition", "filename"), ("content-type", "name")):
        name = _param(part, header, param).strip().strip("\"'").strip()
        if name:
            return name
    return ""


def _param(part: Message, header: str, name: str) -> str:
    """A decoded header parameter: RFC 2231 (with continuations) preferred, else RFC 2047 or raw."""
    raw = _raw(part, header)
    if raw is None:
        return ""
    plain: str | None = None
    sections: list[tuple[int, bool, str]] = []
    for key, value in _split_params(raw):
        match = re.fullmatch(rf"{re.escape(name)}(?:\*(\d+))?(\*?)", key)
        if match is None:
            continue
        if match.group(1) is None and not match.group(2):
            plain = value if plain is None else plain
        else:
            sections.append((int(match.group(1) or 0), bool(match.group(2)), value))
    if sections:
        return _rfc2231(sorted(sections, key=lambda s: s[0]))
    return decode_header(plain) if plain else ""


def _rfc2231(sections: list[tuple[int, bool, str]]) -> str:
    charset = ""
    data = b""
    for index, (_, encoded, value) in enumerate(sections):
        if encoded and index == 0:
            match = re.fullmatch(r"([^']*)'[^']*'(.*)", value, re.DOTALL)
            if match:
                charset, value = match.groups()
        chunk = header_bytes(value)
        data += urllib.parse.unquote_to_bytes(chunk) if encoded else chunk
    text = decode_bytes(data, charset) if charset else decode_undeclared(data)
    return decode_header(text) if "=?" in text else text


def _split_params(value: str) -> list[tuple[str, str]]:
    """(lower-case name, unquoted value) for each `; name=value` after the first token.

    A backslash right after a raw 8-bit byte is the second byte of a GBK character, not an escape.
    """
    value = re.sub(r"\r?\n(?=[ \t])", "", value)
    params: list[tuple[str, str]] = []
    pieces: list[str] = []
    current: list[str] = []
    quoted = False
    index = 0
    while index < len(value):
        char = value[index]
        escapes = index + 1 < len(value) and value[index + 1] in '"\\'
        if quoted and char == "\\" and escapes and not _is_raw_byte(value, index - 1):
            current.append(value[index + 1])
            index += 2
            continue
        if char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            pieces.append("".join(current))
            current = []
            index += 1
            continue
        current.append(char)
        index += 1
    pieces.append("".join(current))
    for piece in pieces[1:]:
        key, sep, val = piece.partition("=")
        if sep:
            val = val.strip()
            if len(val) >= 2 and val[0] == '"' and val[-1] == '"':
                val = val[1:-1]
            params.append((key.strip().lower(), val.replace('"', "") if val.count('"') == 1 else val))
    return params


def _is_raw_byte(text: str, index: int) -> bool:
    return index >= 0 and "\udc80" <= text[index] <= "\udcff"
