"""7z archives within limits, through py7zr: every entry in memory, all of them under one byte allowance."""

from __future__ import annotations

import io

import py7zr
from py7zr.exceptions import PasswordRequired
from py7zr.io import Py7zIO, WriterFactory

from bot.core.files.archives import ArchiveError, Budget, Entry, Listing, clean_name, is_junk


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
