"""Archive readers within limits: ZIP (GBK names from Chinese Windows) and 7z (sevenzip.py); for RAR, the headers
(encryption, CRCs) that bsdtar does not report well. RAR itself is read by bot/adapters/bsdtar.py.

Each reader returns the entries it read within the budget and at most one problem that stopped or
marred it (encrypted entries, a bomb, corruption); entries read before the problem are kept. Memory
stays bounded by the budget: no entry is read whose declared size passes what is left, and every read
goes in chunks and stops as soon as it would pass it, so a header that lies cannot make us allocate more.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from bot.core.mail.charsets import utf8_or_gbk
from bot.core.settings import Limits

CHUNK = 1024 * 1024
RATIO_FLOOR = 1024 * 1024  # entries smaller than this never trip the ratio limit (text compresses well)
JUNK = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})

Params = tuple[tuple[str, str | int], ...]


class ArchiveError(Exception):
    """The archive as a whole cannot be opened."""

    def __init__(self, code: str, params: Params = ()) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


@dataclass
class Budget:
    """What is left of the limits for one mail, shared by every archive in it."""

    limits: Limits
    bytes_left: int = 0
    entries_left: int = 0

    def __post_init__(self) -> None:
        self.bytes_left = self.limits.max_unpacked_bytes
        self.entries_left = self.limits.max_entries

    def refusal(self, declared: int, packed: int) -> str | None:
        """The limit an entry of this declared size would pass ("entries" | "bytes" | "ratio"), or None."""
        if self.entries_left <= 0:
            return "entries"
        if declared > self.bytes_left:
            return "bytes"
        if declared > RATIO_FLOOR and declared > packed * self.limits.max_ratio:
            return "ratio"
        return None

    def take(self, size: int) -> None:
        self.entries_left -= 1
        self.bytes_left -= size


@dataclass(frozen=True)
class Entry:
    name: str  # path inside the archive, "/"-separated, no empty, "." or ".." segments
    data: bytes


@dataclass
class Listing:
    fmt: str
    entries: list[Entry] = field(default_factory=list)
    problem: tuple[str, Params] | None = None

    def stop(self, code: str, **params: str | int) -> Listing:
        """Record the problem that ends (or mars) this archive; the first one recorded wins."""
        if self.problem is None:
            self.problem = (code, (("format", self.fmt), *params.items()))
        return self


# Reads one archive's entries within the budget (ArchiveError when it cannot be opened at all).
ArchiveReader = Callable[[bytes, Budget], Listing]


def clean_name(name: str) -> str:
    """An entry name as "/"-separated segments, without the ones that would climb or mean nothing."""
    return "/".join(s for s in name.replace("\\", "/").split("/") if s not in ("", ".", ".."))


def is_junk(name: str) -> bool:
    """Folders and files that operating systems add by themselves (macOS resource forks, thumbnails)."""
    segments = name.split("/")
    return "__MACOSX" in segments or segments[-1] in JUNK or segments[-1].startswith("._")


def read_capped(stream: BinaryIO | Any, cap: int) -> bytes | None:
    """Up to `cap` bytes read in chunks, or None when the stream holds more (a header that lied)."""
    chunks: list[bytes] = []
    total = 0
    while chunk := stream.read(min(CHUNK, cap + 1 - total)):
        total += len(chunk)
        if total > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


# -- ZIP -------------------------------------------------------------------------------------------


def zip_is_document(payload: bytes) -> bool:
    """DOCX, XLSX, PPTX and OpenDocument files are zips too, but documents, not archives."""
    try:
        names = set(zipfile.ZipFile(io.BytesIO(payload)).namelist())
    except Exception:
        return False
    return "[Content_Types].xml" in names or "mimetype" in names


def zip_name(info: zipfile.ZipInfo) -> str:
    """The entry's real name: the Info-ZIP Unicode Path field when it still matches, UTF-8 when flagged,
    else the bytes as Windows Explorer and WinRAR on Chinese Windows write them: GBK, or UTF-8 when
    they happen to be valid UTF-8 (some tools write UTF-8 without setting the flag)."""
    if info.flag_bits & 0x800:
        raw = info.orig_filename.encode("utf-8", "surrogateescape")
    else:
        raw = info.orig_filename.encode("cp437")  # zipfile decoded the bytes as cp437: undo it losslessly
    unicode_path = _unicode_path_field(info.extra, raw)
    if unicode_path is not None:
        return unicode_path
    if info.flag_bits & 0x800:
        return info.orig_filename
    return utf8_or_gbk(raw)


def _unicode_path_field(extra: bytes, raw_name: bytes) -> str | None:
    """The UTF-8 name of extra field 0x7075, unless its CRC shows the header name changed since."""
    offset = 0
    while offset + 4 <= len(extra):
        header_id, size = struct.unpack_from("<HH", extra, offset)
        data = extra[offset + 4 : offset + 4 + size]
        offset += 4 + size
        if header_id != 0x7075 or len(data) < 5 or data[0] != 1:
            continue
        if struct.unpack_from("<I", data, 1)[0] != zlib.crc32(raw_name):
            return None
        try:
            return data[5:].decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def read_zip(payload: bytes, budget: Budget) -> Listing:
    try:
        archive = zipfile.ZipFile(io.BytesIO(payload))
        infos = archive.infolist()
    except Exception as exc:
        raise ArchiveError("archive_corrupt", (("format", "zip"),)) from exc
    listing = Listing("zip")
    encrypted = False
    for info in infos:
        name = clean_name(zip_name(info))
        if info.is_dir() or not name or is_junk(name):
            continue
        if info.flag_bits & 0x1:
            encrypted = True
            continue
        limit = budget.refusal(info.file_size, info.compress_size)
        if limit:
            return listing.stop("archive_bomb", limit=limit)
        try:
            with archive.open(info) as stream:  # zipfile itself never yields more than file_size
                data = read_capped(stream, min(budget.bytes_left, info.file_size))
        except Exception:  # this entry is damaged; the directory still says where the others are
            listing.stop("archive_corrupt")
            continue
        if data is None:
            return listing.stop("archive_bomb", limit="bytes")
        budget.take(len(data))
        listing.entries.append(Entry(name, data))
    if encrypted:
        if not listing.entries:
            raise ArchiveError("archive_encrypted", (("format", "zip"),))
        listing.stop("archive_encrypted")
    return listing


# -- 7z --------------------------------------------------------------------------------------------


def read_7z(payload: bytes, budget: Budget) -> Listing:
    """A 7z archive (bot/core/files/sevenzip.py), imported with py7zr and its ciphers when the first 7z comes:
    they take about a tenth of a second to load, which every command would pay otherwise."""
    from bot.core.files.sevenzip import read_7z as read

    return read(payload, budget)


# -- RAR headers (the archive itself is read by bot/adapters/bsdtar.py) ---------------------------------


@dataclass(frozen=True)
class RarHeader:
    encrypted: bool
    crc: int | None  # CRC32 of the unpacked file, when the header gives it


def rar_headers(payload: bytes) -> list[RarHeader] | None:
    """Each file header (in order, folders included): encrypted? and its CRC; None when the headers are.

    bsdtar from Debian 12 hands out the ciphertext of a stored encrypted entry as if it were the file,
    and a damaged file at its declared size, so encryption and CRC are read from the headers here.
    Parsing stops quietly at the first thing it does not know.
    """
    found: list[RarHeader] = []
    try:
        if payload.startswith(b"Rar!\x1a\x07\x01\x00"):
            return _rar5_headers(payload, found)
        return _rar4_headers(payload, found)
    except (IndexError, struct.error, ValueError):
        return found


def _rar4_headers(b: bytes, found: list[RarHeader]) -> list[RarHeader] | None:
    pos = 7
    while pos + 7 <= len(b):
        head_type, head_flags, head_size = struct.unpack_from("<BHH", b, pos + 2)
        if head_size < 7:
            break
        if head_type == 0x73 and head_flags & 0x80:
            return None
        add = struct.unpack_from("<I", b, pos + 7)[0] if head_flags & 0x8000 or head_type == 0x74 else 0
        if head_type == 0x74:
            is_dir = head_flags & 0xE0 == 0xE0
            crc = None if is_dir else struct.unpack_from("<I", b, pos + 16)[0]
            found.append(RarHeader(bool(head_flags & 0x04), crc))
        elif head_type == 0x7B:
            break
        pos += head_size + add
    return found


def _vint(b: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = b[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        shift += 7
        if not byte & 0x80:
            return value, pos


def _rar5_headers(b: bytes, found: list[RarHeader]) -> list[RarHeader] | None:
    pos = 8
    while pos + 4 < len(b):
        size, start = _vint(b, pos + 4)
        head_type, cursor = _vint(b, start)
        head_flags, cursor = _vint(b, cursor)
        extra_size = data_size = 0
        if head_flags & 1:
            extra_size, cursor = _vint(b, cursor)
        if head_flags & 2:
            data_size, cursor = _vint(b, cursor)
        if head_type == 4:  # archive encryption header: every header after it is encrypted
            return None
        if head_type == 2:
            file_flags, cursor = _vint(b, cursor)
            _size, cursor = _vint(b, cursor)
            _attributes, cursor = _vint(b, cursor)
            cursor += 4 if file_flags & 0x02 else 0  # modification time
            crc = struct.unpack_from("<I", b, cursor)[0] if file_flags & 0x04 else None
            encrypted = _rar5_has_crypt_record(b[start + size - extra_size : start + size])
            found.append(RarHeader(encrypted, crc))
        elif head_type == 5:
            break
        pos = start + size + data_size
    return found


def _rar5_has_crypt_record(extra: bytes) -> bool:
    pos = 0
    while pos < len(extra):
        size, start = _vint(extra, pos)
        record_type, _ = _vint(extra, start)
        if record_type == 1:
            return True
        pos = start + size
    return False
