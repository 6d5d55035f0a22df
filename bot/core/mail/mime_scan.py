"""The MIME structure of a message found with `bytes.find`, not line by line. Pure.

`scan(raw)` builds the tree the standard library's feed parser (compat32) builds from the same bytes, part for
part: the same headers (parsed by the feed parser's own header code), preambles, epilogues, defects and default
types, and the same payloads; a part whose main type is not `text` keeps its payload as a span of the raw
message, not copied, until a reader asks for the string (`WireMessage`). The feed parser reads every line
of every part (a 50 MB photo is 700,000 lines of base64); here a part's body is one slice between two boundary
lines, found by searching the message for the boundary.

The scanner follows the feed parser only where that is simple and certain. A message in any other form (no
start or close delimiter, two boundary lines in a row, a bare CR next to a boundary line,
an envelope line at the end of a header block, message/delivery-status, a header block longer than
HEADER_WINDOW, deeper than MAX_SCAN_DEPTH or more than MAX_SCAN_PARTS parts) is declined: `scan` returns None
and the caller parses it with the standard library. tests/unit/test_mime_scan.py compares both trees over the
public corpora, the project's fixtures and generated messages.
"""

from __future__ import annotations

import io
from email import errors, policy
from email.feedparser import NLCRE, FeedParser, headerRE
from email.message import Message

HEADER_WINDOW = 1 << 16  # a header block must end within this many bytes of its part's start
MAX_SCAN_DEPTH = 48  # nesting beyond this is declined (the walk in parse.py stops earlier)
MAX_SCAN_PARTS = 5000
CR = 0x0D
_BLANKS = frozenset(b" \t")


class Declined(Exception):
    """The message has a form the scanner does not follow; the feed parser will."""


class WireMessage(Message):
    """A compat32 message whose leaf payload may still be a span of the raw message, `span` = (raw, start, end),
    not copied. Whoever reads `_payload` (the standard library's generator, get_payload) gets the string the feed
    parser would have stored, decoded from those bytes on first use; parse.py decodes the span itself."""

    span: tuple[bytes, int, int] | None = None
    _text: str | list[Message] | None = None

    @property  # type: ignore[override]
    def _payload(self) -> str | list[Message] | None:
        if self.span is not None:
            raw, start, end = self.span
            self._text, self.span = raw[start:end].decode("ascii", "surrogateescape"), None
        return self._text

    @_payload.setter
    def _payload(self, value: str | list[Message] | None) -> None:
        self._text, self.span = value, None

    def is_multipart(self) -> bool:
        return self.span is None and isinstance(self._text, list)  # without decoding a span


def scan(raw: bytes) -> Message | None:
    """The feed parser's tree of `raw`, or None when the message is declined."""
    try:
        return _Scanner(raw).root()
    except Declined:
        return None


class _Scanner:
    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.parts = 0
        self.headers = FeedParser(policy=policy.compat32)  # its header code only; fed nothing

    def root(self) -> Message:
        message, _ = self.part(0, len(self.raw), digest=False, depth=0)
        return message

    def part(self, start: int, end: int, digest: bool, depth: int) -> tuple[Message, Message]:
        """The part in raw[start:end], and the message whose trailing line end belongs to the boundary after it
        (the feed parser's `_last`: the part itself, or for message/* the innermost message)."""
        self.parts += 1
        if self.parts > MAX_SCAN_PARTS or depth > MAX_SCAN_DEPTH:
            raise Declined("too many or too deep parts")
        message = WireMessage(policy=policy.compat32)
        if digest:
            message.set_default_type("message/rfc822")
        body = self.header_block(message, start, end)
        ctype = message.get_content_type()
        maintype = message.get_content_maintype()
        if ctype == "message/delivery-status":
            raise Declined(ctype)
        if maintype == "message":
            inner, last = self.part(body, end, digest=False, depth=depth + 1)
            message.attach(inner)
            return message, last
        if maintype == "multipart":
            self.multipart(message, body, end, depth)
            return message, message
        if maintype == "text":
            message._payload = self.raw[body:end].decode("ascii", "surrogateescape")
        else:
            message.span = (self.raw, body, end)
        return message, message

    def header_block(self, message: Message, start: int, end: int) -> int:
        """Parse the headers at raw[start:end] into `message` as the feed parser does; the body's offset."""
        window_end = min(end, start + HEADER_WINDOW)
        text = self.raw[start:window_end].decode("ascii", "surrogateescape")
        lines = io.StringIO(text, newline="").readlines()  # split at CRLF, CR or LF, as the feed parser does
        headers: list[str] = []
        offset = start
        for index, line in enumerate(lines):
            if window_end < end and index == len(lines) - 1:
                raise Declined("header block longer than the window")
            if not headerRE.match(line):
                if NLCRE.match(line):
                    offset += len(line)  # the blank line that ends the headers
                else:
                    message.policy.handle_defect(message, errors.MissingHeaderBodySeparatorDefect())
                break
            headers.append(line)
            offset += len(line)
        if len(headers) > 1 and headers[-1].startswith("From "):
            raise Declined("an envelope line ends the header block")
        self.headers._cur = message
        self.headers._parse_headers(headers)
        self.headers._cur = None
        return offset

    def multipart(self, message: Message, body: int, end: int, depth: int) -> None:
        boundary = message.get_boundary()
        if boundary is None:
            raise Declined("multipart without a boundary")
        try:
            encoding = message.get("content-transfer-encoding", "8bit").lower()
        except AttributeError as exc:  # a Header object: the feed parser fails here too
            raise Declined("undecodable transfer encoding") from exc
        if encoding not in ("7bit", "8bit", "binary"):
            message.policy.handle_defect(message, errors.InvalidMultipartContentTransferEncodingDefect())
        try:
            separator = ("--" + boundary).encode("ascii", "surrogateescape")
        except UnicodeEncodeError as exc:  # an RFC 2231 boundary decoded to characters beyond bytes
            raise Declined("boundary not in bytes") from exc
        lines = self.boundary_lines(separator, body, end)
        if not lines or lines[0][2] or not lines[-1][2]:
            raise Declined("no start or no close delimiter")
        first = lines[0][0]
        if first > body:
            message.preamble = _strip_text_line_end(self.raw[body:first].decode("ascii", "surrogateescape"))
        digest = message.get_content_type() == "multipart/digest"
        for (_, after, _), (following, _, _) in zip(lines, lines[1:], strict=False):
            if after == following:
                raise Declined("two boundary lines in a row")
            child, last = self.part(after, following, digest, depth + 1)
            message.attach(child)
            _strip_last_line_end(last)
        message.epilogue = self.raw[lines[-1][1]:end].decode("ascii", "surrogateescape")

    def boundary_lines(self, separator: bytes, body: int, end: int) -> list[tuple[int, int, bool]]:
        """(start, end after the line end, is the close delimiter) of each line in raw[body:end] the feed
        parser's boundary pattern matches, up to and including the close delimiter."""
        raw = self.raw
        found: list[tuple[int, int, bool]] = []
        position = body
        while True:
            at = raw.find(separator, position, end)
            if at < 0:
                return found
            position = at + 1
            if at > body:
                before = raw[at - 1]
                if before == CR:
                    raise Declined("a bare CR before a boundary line")
                if before != 0x0A:
                    continue  # inside a line
            cursor = at + len(separator)
            close = raw.startswith(b"--", cursor) and cursor + 2 <= end
            if close:
                cursor += 2
            while cursor < end and raw[cursor] in _BLANKS:
                cursor += 1
            if cursor == end:
                if end != len(raw):
                    raise Declined("a boundary line runs into the end of its region")
                after = end
            elif raw[cursor] == 0x0A:
                after = cursor + 1
            elif raw.startswith(b"\r\n", cursor) and cursor + 2 <= end:
                after = cursor + 2
            elif raw[cursor] == 0x0D:
                raise Declined("a bare CR ends a boundary line")
            else:
                continue  # more text on the line: not a boundary
            found.append((at, after, close))
            if close:
                return found


def _strip_line_end(data: bytes) -> bytes:
    if data.endswith(b"\r\n"):
        return data[:-2]
    if data.endswith((b"\n", b"\r")):
        return data[:-1]
    return data


def _line_end_length(raw: bytes, start: int, end: int) -> int:
    """The length of the line end that ends raw[start:end]: 2, 1 or 0."""
    if end - start >= 2 and raw[end - 2:end] == b"\r\n":
        return 2
    return 1 if end > start and raw[end - 1] in (0x0A, 0x0D) else 0


def _strip_text_line_end(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith(("\n", "\r")):
        return text[:-1]
    return text


def _strip_last_line_end(last: Message) -> None:
    """What the feed parser does after each subpart: the line end before a boundary belongs to the boundary."""
    if last.is_multipart():
        if last.epilogue == "":
            last.epilogue = None
        elif last.epilogue is not None:
            last.epilogue = _strip_text_line_end(last.epilogue)
    elif isinstance(last, WireMessage) and last.span is not None:
        raw, start, end = last.span
        last.span = (raw, start, end - _line_end_length(raw, start, end))
    elif isinstance(last._payload, str):
        last._payload = _strip_text_line_end(last._payload)
