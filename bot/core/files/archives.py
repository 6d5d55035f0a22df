"""Archive readers within limits: ZIP (GBK names from Chinese Windows), 7z (py7zr), RAR (Debian's bsdtar).

Each reader returns the entries it read within the budget and at most one problem that stopped or
marred it (encrypted entries, a bomb, corruption); entries read before the problem are kept. Memory
stays bounded by the budget: no entry is read whose declared size passes what is left, and every read
goes in chunks and stops as soon as it would pass it, so a header that lies cannot make us allocate more.
"""

from __future__ import annotations

import io
import os
import re
import resource
import shutil
import stat
import struct
import subprocess
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import py7zr
from py7zr.exceptions import PasswordRequired
from py7zr.io import Py7zIO, WriterFactory

from bot.core.settings import Limits

CHUNK = 1024 * 1024
RATIO_FLOOR = 1024 * 1024  # entries smaller than this never trip the ratio limit (text compresses well)
JUNK = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
BSDTAR_TIMEOUT = 120  # seconds for one bsdtar run

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
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030", "replace")


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


class _OverBudget(Exception):
    pass


class _CappedIO(Py7zIO):
    """One 7z entry in memory; all entries of a factory share one byte allowance."""

    def __init__(self, factory: _CappedFactory) -> None:
        self.factory = factory
        self.buffer = io.BytesIO()

    def write(self, s: bytes | bytearray) -> int:
        if len(s) > self.factory.left:
            raise _OverBudget
        self.factory.left -= len(s)
        return self.buffer.write(s)

    def read(self, size: int | None = None) -> bytes:
        return self.buffer.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.buffer.seek(offset, whence)

    def flush(self) -> None:
        return None

    def size(self) -> int:
        return self.buffer.getbuffer().nbytes


class _CappedFactory(WriterFactory):
    def __init__(self, left: int) -> None:
        self.left = left
        self.products: dict[str, _CappedIO] = {}

    def create(self, filename: str) -> _CappedIO:
        product = _CappedIO(self)
        self.products[filename] = product
        return product


def read_7z(payload: bytes, budget: Budget) -> Listing:
    listing = Listing("7z")
    try:
        archive = py7zr.SevenZipFile(io.BytesIO(payload))
    except PasswordRequired as exc:  # the names themselves are encrypted
        raise ArchiveError("archive_encrypted", (("format", "7z"),)) from exc
    except Exception as exc:
        raise ArchiveError("archive_corrupt", (("format", "7z"),)) from exc
    with archive:
        if archive.needs_password():
            raise ArchiveError("archive_encrypted", (("format", "7z"),))
        files = [(f.filename, clean_name(f.filename), f.uncompressed or 0) for f in archive.list()
                 if not f.is_directory]
        files = [f for f in files if f[1] and not is_junk(f[1])]
        # 7z compresses many files as one stream: the ratio is the archive's, not each entry's.
        limit = budget.refusal(sum(f[2] for f in files), len(payload)) if files else None
        if limit is None and len(files) > budget.entries_left:
            limit = "entries"
        if limit:
            return listing.stop("archive_bomb", limit=limit)
        factory = _CappedFactory(budget.bytes_left)
        try:
            archive.extract(targets=[f[0] for f in files], factory=factory)
        except _OverBudget:
            listing.stop("archive_bomb", limit="bytes")
        except Exception:
            listing.stop("archive_corrupt")
    for original, name, declared in files:
        product = factory.products.get(original)
        if product is None or product.size() != declared:  # not reached, or cut short by corruption
            listing.stop("archive_corrupt")
            continue
        budget.take(declared)
        listing.entries.append(Entry(name, product.buffer.getvalue()))
    return listing


# -- RAR (bsdtar from libarchive-tools) -----------------------------------------------------------

_LISTED = re.compile(r"^(\S)\S*\s+\d+\s+\S+\s+\S+\s+(\d+)\s+\S+\s+\d+\s+\S+\s(.*)$")
_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}


def read_rar(payload: bytes, budget: Budget) -> Listing:
    """Entries of a RAR archive, through bsdtar on a temporary folder (the one place this step touches disk)."""
    bsdtar = shutil.which("bsdtar")
    if bsdtar is None:
        raise ArchiveError("archive_unsupported", (("format", "rar"),))
    with tempfile.TemporaryDirectory(prefix="intake-rar-") as tmp:
        path = os.path.join(tmp, "archive.rar")
        with open(path, "wb") as handle:
            handle.write(payload)
        listed = _bsdtar([bsdtar, "-tvf", path])
        headers = [_listed_entry(line) for line in listed.stdout.split(b"\n") if line]
        if listed.returncode != 0 and (not headers or _rar_error(listed.stderr) != "archive_corrupt"):
            raise ArchiveError(_rar_error(listed.stderr), (("format", "rar"),))
        found = rar_headers(payload)
        if found is None or (found and all(h.encrypted for h in found)):
            raise ArchiveError("archive_encrypted", (("format", "rar"),))
        # Both list the file headers in archive order; past the end of ours, assume the worst we saw.
        found += [RarHeader(any(h.encrypted for h in found), None)] * (len(headers) - len(found))
        files = []
        for listed_entry, header in zip(headers, found, strict=False):
            if listed_entry is not None and listed_entry[0] and not header.encrypted:
                name = clean_name(_rar_name(listed_entry[2]))
                if name and not is_junk(name):
                    files.append(_RarFile(listed_entry[2], listed_entry[1], name, header.crc))
        listing = _extract_rar(bsdtar, path, len(payload), files, os.path.join(tmp, "out"), budget)
        if any(h.encrypted for h in found):
            listing.stop("archive_encrypted")
        if listed.returncode != 0:  # cut short: the entries listed before the damage are kept
            listing.stop("archive_corrupt")
        return listing


@dataclass(frozen=True)
class _RarFile:
    raw: bytes  # the name's bytes as bsdtar wrote it on disk
    declared: int
    name: str
    crc: int | None


def _extract_rar(bsdtar: str, path: str, packed: int, files: list[_RarFile], out: str, budget: Budget) -> Listing:
    listing = Listing("rar")
    limit = budget.refusal(sum(f.declared for f in files), packed)
    if limit is None and len(files) > budget.entries_left:
        limit = "entries"
    if limit:
        return listing.stop("archive_bomb", limit=limit)
    os.mkdir(out)
    # bsdtar stops each file at its declared size; the file-size limit holds even if it did not.
    done = _bsdtar([bsdtar, "-xf", path, "-C", out, "--no-same-owner", "--no-same-permissions"],
                   file_cap=budget.bytes_left + 1)
    for file in files:
        data = _read_extracted(os.path.join(out.encode(), file.raw), file.declared, budget.bytes_left)
        # bsdtar leaves a damaged file at its declared size: only the CRC tells it is whole
        if data is not None and (file.crc is None or zlib.crc32(data) == file.crc):
            budget.take(len(data))
            listing.entries.append(Entry(file.name, data))
    if done.returncode == -25:  # SIGXFSZ: a file grew past the limit
        listing.stop("archive_bomb", limit="bytes")
    elif done.returncode != 0:
        listing.stop(_rar_error(done.stderr))
    elif len(listing.entries) < len(files):
        listing.stop("archive_corrupt")
    return listing


def _bsdtar(args: list[str], file_cap: int | None = None) -> subprocess.CompletedProcess[bytes]:
    def limit_file_size() -> None:
        if file_cap is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_cap, file_cap))

    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
    try:
        return subprocess.run(args, capture_output=True, timeout=BSDTAR_TIMEOUT, env=env, preexec_fn=limit_file_size)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, 1, b"", b"timed out")


def _listed_entry(line: bytes) -> tuple[bool, int, bytes] | None:
    """(is a regular file, declared size, raw name bytes) from one `bsdtar -tv` line."""
    match = _LISTED.match(line.decode("utf-8", "surrogateescape"))
    if match is None:
        return None
    kind, size, name = match.groups()
    if kind == "-" and " link to " in name:  # a hard link: its data is another entry's
        return False, 0, b""
    return kind == "-", int(size), _unescape(name)


def _unescape(name: str) -> bytes:
    """The name's bytes: bsdtar prints bytes that are not valid UTF-8 as \\ooo escapes."""
    out = bytearray()
    i = 0
    while i < len(name):
        if name[i] == "\\" and re.match(r"[0-7]{3}", name[i + 1 : i + 4]):
            out.append(int(name[i + 1 : i + 4], 8) & 0xFF)
            i += 4
        elif name[i] == "\\" and name[i + 1 : i + 2] in _ESCAPES:
            out.append(_ESCAPES[name[i + 1]])
            i += 2
        else:
            out += name[i].encode("utf-8", "surrogateescape")
            i += 1
    return bytes(out)


def _rar_name(raw: bytes) -> str:
    """UTF-8 (RAR5, RAR4 Unicode names as bsdtar converts them), else GBK as WinRAR on Chinese Windows writes."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030", "replace")


def _read_extracted(path: bytes, declared: int, cap: int) -> bytes | None:
    """The extracted file's bytes when it is a regular file of its declared size; None otherwise."""
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size != declared or declared > cap:
            return None
        with open(path, "rb") as handle:
            return read_capped(handle, declared)
    except OSError:
        return None


def _rar_error(stderr: bytes) -> str:
    text = stderr.decode("utf-8", "replace").lower()
    if "encrypt" in text or "passphrase" in text or "password" in text:
        return "archive_encrypted"
    if "unsupported" in text or "not supported" in text or "timed out" in text:
        return "archive_unsupported"
    return "archive_corrupt"


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
