"""Archive readers with limits: ZIP (GBK names from Chinese Windows), 7z (py7zr), RAR (bsdtar).

Each reader returns the entries it could read within the budget, and at most one problem that
stopped it (encrypted entries, a bomb, corruption). Memory stays bounded by the budget: an entry is
read in chunks and abandoned as soon as it would pass what is left.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass, field
from typing import Any

from bot.config import Limits

CHUNK = 1024 * 1024
RATIO_FLOOR = 1024 * 1024  # entries smaller than this never trip the ratio limit
JUNK = ("__MACOSX/", ".DS_Store", "Thumbs.db", "desktop.ini")
BSDTAR_TIMEOUT = 120


class ArchiveError(Exception):
    """The archive as a whole cannot be opened."""

    def __init__(self, code: str, params: tuple[tuple[str, str | int], ...] = ()) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


@dataclass
class Budget:
    """What is left of the limits for one mail."""

    limits: Limits
    bytes_left: int = 0
    entries_left: int = 0

    def __post_init__(self) -> None:
        self.bytes_left = self.limits.max_unpacked_bytes
        self.entries_left = self.limits.max_entries


@dataclass(frozen=True)
class Entry:
    name: str  # path inside the archive, "/"-separated
    data: bytes


@dataclass
class Listing:
    entries: list[Entry] = field(default_factory=list)
    problem: tuple[str, tuple[tuple[str, str | int], ...]] | None = None


def _bomb(limit: str) -> tuple[str, tuple[tuple[str, str | int], ...]]:
    return "archive_bomb", (("limit", limit),)


def is_junk(name: str) -> bool:
    leaf = name.rstrip("/").rsplit("/", 1)[-1]
    return name.startswith("__MACOSX/") or "/__MACOSX/" in name or leaf in JUNK or leaf.startswith("._")


def _admit(budget: Budget, declared: int, packed: int) -> tuple[str, tuple[tuple[str, str | int], ...]] | None:
    """Why this entry may not be read, or None."""
    if budget.entries_left <= 0:
        return _bomb("entries")
    if declared > budget.bytes_left:
        return _bomb("bytes")
    if declared > RATIO_FLOOR and packed > 0 and declared / packed > budget.limits.max_ratio:
        return _bomb("ratio")
    return None


def _read_capped(stream: Any, cap: int) -> bytes | None:
    """Up to `cap` bytes, or None when the stream holds more (a header that lied)."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(min(CHUNK, cap + 1 - total))
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > cap:
            return None
        chunks.append(chunk)


# -- ZIP -------------------------------------------------------------------------------------------


def zip_is_document(payload: bytes) -> bool:
    """DOCX, XLSX, PPTX and OpenDocument files are zips too, but documents, not archives."""
    try:
        names = set(zipfile.ZipFile(io.BytesIO(payload)).namelist())
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        return False
    return "[Content_Types].xml" in names or "mimetype" in names


def zip_name(info: zipfile.ZipInfo) -> str:
    """The entry's real name: the Info-ZIP Unicode Path field, else UTF-8 when flagged, else the
    bytes Windows Explorer / WinRAR on Chinese Windows write: GBK (UTF-8 when they happen to be)."""
    unicode_path = _unicode_path_field(info.extra)
    if unicode_path:
        return unicode_path
    if info.flag_bits & 0x800:
        return info.filename
    try:
        raw = info.filename.encode("cp437")
    except UnicodeEncodeError:
        return info.filename
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030", "replace")


def _unicode_path_field(extra: bytes) -> str | None:
    offset = 0
    while offset + 4 <= len(extra):
        header_id, size = struct.unpack_from("<HH", extra, offset)
        data = extra[offset + 4:offset + 4 + size]
        if header_id == 0x7075 and len(data) > 5 and data[0] == 1:
            try:
                return data[5:].decode("utf-8")
            except UnicodeDecodeError:
                return None
        offset += 4 + size
    return None


def read_zip(payload: bytes, budget: Budget) -> Listing:
    try:
        archive = zipfile.ZipFile(io.BytesIO(payload))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, struct.error) as exc:
        raise ArchiveError("archive_corrupt", (("format", "zip"),)) from exc
    listing = Listing()
    encrypted = False
    for info in infos:
        name = zip_name(info).replace("\\", "/")
        if info.is_dir() or name.endswith("/") or is_junk(name):
            continue
        if info.flag_bits & 0x1:
            encrypted = True
            continue
        refusal = _admit(budget, info.file_size, info.compress_size)
        if refusal:
            listing.problem = refusal
            return listing
        try:
            with archive.open(info) as stream:
                data = _read_capped(stream, min(budget.bytes_left, max(info.file_size, 0)))
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError,
                zipfile.LargeZipFile):
            listing.problem = ("archive_corrupt", (("format", "zip"),))
            return listing
        if data is None:
            listing.problem = _bomb("bytes")
            return listing
        budget.entries_left -= 1
        budget.bytes_left -= len(data)
        listing.entries.append(Entry(name, data))
    if encrypted:
        listing.problem = ("archive_encrypted", (("format", "zip"),))
        if not listing.entries:
            raise ArchiveError("archive_encrypted", (("format", "zip"),))
    return listing


# -- 7z --------------------------------------------------------------------------------------------


def read_7z(payload: bytes, budget: Budget) -> Listing:
    try:
        import py7zr
        from py7zr.exceptions import PasswordRequired
        from py7zr.io import BytesIOFactory
    except ImportError as exc:
        raise ArchiveError("archive_unsupported", (("format", "7z"),)) from exc
    try:
        archive = py7zr.SevenZipFile(io.BytesIO(payload))
    except PasswordRequired as exc:
        raise ArchiveError("archive_encrypted", (("format", "7z"),)) from exc
    except Exception as exc:
        raise ArchiveError("archive_corrupt", (("format", "7z"),)) from exc
    with archive:
        if archive.needs_password():
            raise ArchiveError("archive_encrypted", (("format", "7z"),))
        files = [f for f in archive.list() if not f.is_directory and not is_junk(f.filename)]
        total = sum(f.uncompressed or 0 for f in files)
        listing = Listing()
        refusal = _admit(budget, total, len(payload)) if files else None
        if refusal is None and len(files) > budget.entries_left:
            refusal = _bomb("entries")
        if refusal:
            listing.problem = refusal
            return listing
        factory = BytesIOFactory(budget.bytes_left + 1)  # each entry capped: a lying header stops here
        try:
            archive.extractall(factory=factory)
        except Exception as exc:
            raise ArchiveError("archive_corrupt", (("format", "7z"),)) from exc
    for name, product in factory.products.items():
        if is_junk(name) or name.endswith("/"):
            continue
        product.seek(0)
        data = _read_capped(product, budget.bytes_left)
        if data is None:
            listing.problem = _bomb("bytes")
            return listing
        budget.entries_left -= 1
        budget.bytes_left -= len(data)
        listing.entries.append(Entry(name.replace("\\", "/"), data))
    return listing


# -- RAR (bsdtar from libarchive-tools) -----------------------------------------------------------


def read_rar(payload: bytes, budget: Budget) -> Listing:
    bsdtar = shutil.which("bsdtar")
    if bsdtar is None:
        raise ArchiveError("archive_unsupported", (("format", "rar"),))
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    with tempfile.TemporaryDirectory(prefix="intake-rar-") as tmp:
        path = os.path.join(tmp, "archive.rar")
        with open(path, "wb") as handle:
            handle.write(payload)
        listed = subprocess.run([bsdtar, "-tf", path], capture_output=True, timeout=BSDTAR_TIMEOUT, env=env)
        if listed.returncode != 0:
            raise ArchiveError(_rar_error(listed.stderr), (("format", "rar"),))
        names = [n for n in listed.stdout.decode("utf-8", "replace").splitlines() if n and not n.endswith("/")]
        listing = Listing()
        for name in names:
            if is_junk(name):
                continue
            if budget.entries_left <= 0:
                listing.problem = _bomb("entries")
                return listing
            data = _bsdtar_entry(bsdtar, path, name, budget.bytes_left, env)
            if isinstance(data, str):
                listing.problem = (data, (("format", "rar"),)) if data != "archive_bomb" else _bomb("bytes")
                return listing
            budget.entries_left -= 1
            budget.bytes_left -= len(data)
            listing.entries.append(Entry(name, data))
    return listing


def _bsdtar_entry(bsdtar: str, path: str, name: str, cap: int, env: dict[str, str]) -> bytes | str:
    """One entry's bytes through a pipe, never more than `cap`; or the problem code."""
    proc = subprocess.Popen([bsdtar, "-xOf", path, name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        data = _read_capped(proc.stdout, cap)
        if data is None:
            proc.kill()
            return "archive_bomb"
        _out, err = proc.communicate(timeout=BSDTAR_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        return _rar_error(err)
    return data


def _rar_error(stderr: bytes) -> str:
    text = stderr.decode("utf-8", "replace").lower()
    if "encrypt" in text or "passphrase" in text or "password" in text:
        return "archive_encrypted"
    if "unsupported" in text or "not supported" in text:
        return "archive_unsupported"
    return "archive_corrupt"
