"""Text from mail bytes: charset labels as senders really write them, RFC 2047 words, lenient base64.

Nothing here raises for any input: a wrong or unknown label falls back to UTF-8, then GB18030,
then a lossless single-byte or replacement decode.
"""

from __future__ import annotations

import binascii
import codecs
import functools
import re

import pybase64

# Labels that mean "some GB encoding": GB18030 is a superset of all of them, so GBK-only
# characters such as 镕 and 喆 survive a gb2312 label.
_GB_LABELS = frozenset({
    "gb2312", "gbk", "cp936", "x-gbk", "euc-cn", "x-euc-cn", "gb_2312-80", "gb_2312", "gb-2312",
    "csgb2312", "cn-gb", "chinese", "ms936", "windows-936", "gb18030", "gb-18030",
})
_ALIASES = {
    "big5": "big5hkscs", "big5-hkscs": "big5hkscs", "x-big5": "big5hkscs", "cn-big5": "big5hkscs",
    "csbig5": "big5hkscs", "windows-874": "cp874", "tis-620": "cp874", "iso-8859-11": "cp874",
    "uft-8": "utf-8", "utf8": "utf-8", "utf-8": "utf-8", "unicode-1-1-utf-7": "utf-7", "utf7": "utf-7",
    "ks_c_5601-1987": "cp949", "euc-kr": "cp949", "ks_c_5601": "cp949",
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932",
    "iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "iso8859-1": "cp1252",
    "x-mac-roman": "mac-roman", "macintosh": "mac-roman",
}
# Codecs worth trying after a declared one fails, before the generic fallbacks.
_NEIGHBOURS = {"big5hkscs": ("cp950",), "iso2022_jp": ("iso2022_jp_2", "iso2022_jp_ext")}
# Labels that carry no information about 8-bit bytes.
_UNDECLARED = frozenset({
    "", "none", "unknown-8bit", "x-unknown", "unknown", "us-ascii", "ascii", "default", "x-user-defined",
})
_FALLBACKS = ("utf-8", "gb18030")


def normalize_charset(name: str | bytes | None) -> str:
    """A Python codec name for a mail charset label, or "" when the label says nothing usable."""
    if isinstance(name, bytes):
        name = name.decode("ascii", "replace")
    label = (name or "").strip().strip("\"'").strip().lower()
    label = label.split("*", 1)[0]  # RFC 2231 language suffix: utf-8*en
    if label in _UNDECLARED:
        return ""
    if label in _GB_LABELS:
        return "gb18030"
    label = _ALIASES.get(label, label)
    try:
        info = codecs.lookup(label)
        # Only real text encodings; "base64", "rot13", "undefined" and friends are not charsets.
        b"\0\0\0\0".decode(info.name)
    except (LookupError, UnicodeError, ValueError):
        return ""
    return info.name


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode text bytes with the declared charset, falling back to UTF-8, GB18030, then leniently."""
    codec = normalize_charset(charset)
    candidates = [codec, *_NEIGHBOURS.get(codec, ())] if codec else []
    if codec and _single_byte(codec) and not data.isascii():
        candidates.insert(0, "utf-8")  # UTF-8 sent under a legacy label; legacy text is almost never valid UTF-8
    candidates += [c for c in _FALLBACKS if c not in candidates]
    for candidate in candidates:
        try:
            return _clean(data.decode(candidate))
        except (UnicodeError, LookupError):
            continue
    if codec == "cp1252":
        return _clean(data.decode("latin-1"))
    return _clean(data.decode(codec or "utf-8", "replace"))


@functools.lru_cache(maxsize=64)
def _single_byte(codec: str) -> bool:
    return len(bytes(range(0x80, 0x100)).decode(codec, "replace")) == 0x80


def _clean(text: str) -> str:
    """Drop a byte-order mark and replace lone surrogates (utf-7 can produce them)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    return _SURROGATE.sub("\ufffd", text)


_SURROGATE = re.compile("[\ud800-\udfff]")


def header_bytes(value: str | bytes) -> bytes:
    """The original bytes of a header value (the stdlib keeps raw 8-bit bytes as surrogate escapes)."""
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "surrogateescape")


def utf8_or_gbk(data: bytes) -> str:
    """Bytes no charset was declared for, as Chinese Windows writes them (names in ZIP, RAR and TNEF files,
    old Word text): UTF-8 when they are valid UTF-8, else GB18030 (which reads all of GBK), never failing."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030", "replace")


def decode_undeclared(data: bytes) -> str:
    """Header or parameter bytes without a declared charset: UTF-8, then GB18030."""
    return decode_bytes(data, None)


_ENCODED_WORD = re.compile(rb"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
_FOLD = re.compile(rb"(?:[ \t]*\r?\n)+[ \t]+")


def decode_header(value: str | bytes) -> str:
    """Decode a header value: raw 8-bit bytes, and RFC 2047 words wherever they appear.

    Adjacent encoded words of one charset are joined as bytes before decoding, so a multibyte
    character split between two words survives. Whitespace between encoded words is dropped.
    """
    data = _FOLD.sub(b" ", header_bytes(value))
    pieces: list[tuple[str | None, bytes]] = []  # (charset, bytes); None for literal text
    position = 0
    for match in _ENCODED_WORD.finditer(data):
        literal = data[position:match.start()]
        if literal and not (literal.isspace() and pieces and pieces[-1][0] is not None):
            pieces.append((None, literal))
        charset = match.group(1).decode("ascii", "replace")
        word = _decode_word(match.group(2), match.group(3))
        if pieces and pieces[-1][0] is not None and _same(pieces[-1][0], charset):
            pieces[-1] = (pieces[-1][0], pieces[-1][1] + word)
        else:
            pieces.append((charset, word))
        position = match.end()
    if position < len(data):
        pieces.append((None, data[position:]))
    return "".join(decode_undeclared(b) if cs is None else decode_bytes(b, cs) for cs, b in pieces).strip()


def _same(a: str, b: str) -> bool:
    return a.lower() == b.lower() or (normalize_charset(a) or a) == (normalize_charset(b) or b)


def _decode_word(encoding: bytes, text: bytes) -> bytes:
    if encoding in (b"b", b"B"):
        return decode_base64(text)
    return binascii.a2b_qp(text, header=True)


_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/=]")


def decode_base64(data: bytes) -> bytes:
    """Decode as much base64 as there is: stray characters skipped, missing padding tolerated,
    blocks padded in the middle (concatenated encoders) decoded one after another."""
    return decode_base64_in(data, 0, len(data))


def decode_base64_in(raw: bytes, start: int, end: int) -> bytes:
    """`decode_base64(raw[start:end])`, without copying the encoded text first (a part's span of a message)."""
    first_pad = raw.find(b"=", start, end)
    if first_pad < 0 or not raw[first_pad:end].strip(b"= \t\r\n"):
        # The usual case, padding only at the end: skipping line breaks and stray characters as binascii does,
        # without the two copies below. pybase64 (SIMD) gives binascii's bytes three times as fast
        # (tests/unit/test_charsets.py compares them).
        try:
            return pybase64.b64decode(memoryview(raw)[start:end], validate=False)
        except binascii.Error:
            pass  # a dangling character or missing padding: the careful way below
    return _decode_base64_blocks(raw[start:end])


def _decode_base64_blocks(data: bytes) -> bytes:
    out = bytearray()
    for block in re.split(rb"=+", _NOT_BASE64.sub(b"", data)):
        if len(block) % 4 == 1:  # one dangling character carries no whole byte
            block = block[:-1]
        if block:
            out += binascii.a2b_base64(block + b"=" * (-len(block) % 4))
    return bytes(out)
