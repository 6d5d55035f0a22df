"""Previews of stored files for the staff console: thumbnails made once and cached on disk, a photo's facts,
a document's first lines. The making is the core's (bot/core/files/preview.py); this is the disk.

The cache: `<cache_dir>/<sha256[:2]>/<sha256>.jpg`, or `<sha256>.none` when the file has no thumbnail (not an
image, broken, too large), so a broken image is decoded once, not on every page view. Entries are named by the
content's hash: they never go stale and may be deleted at any time.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path, PurePosixPath, PureWindowsPath

from bot.core.files.preview import THUMBNAIL_SIDE, DocumentPreview, PhotoFacts, document_preview, photo_facts, thumbnail
from storage.files import TMP_PREFIX, FileStore, sha256_hex

_SHA256 = re.compile(r"[0-9a-f]{64}")


class Previews:
    """Previews of the files under one data folder. Safe to share between threads and processes: a cache
    entry appears whole (a temporary file beside it, then a rename) and making it twice is harmless."""

    def __init__(self, store_root: Path, cache_dir: Path, max_image_pixels: int,
                 max_side: int = THUMBNAIL_SIDE) -> None:
        self.store = FileStore(store_root)
        self.cache_dir = cache_dir
        self.max_image_pixels = max_image_pixels
        self.max_side = max_side

    def thumbnail_path(self, sha256: str, stored_path: str) -> Path | None:
        """The cached thumbnail of the stored file whose content hashes to `sha256`, made on the first call.

        None when the file has no thumbnail (remembered), when it is missing, or when its bytes do not hash
        to `sha256` (neither remembered: the cache holds only what is true of that content). ValueError for
        a malformed hash or a path that is absolute or leaves the data folder."""
        if not _SHA256.fullmatch(sha256):
            raise ValueError(f"not a SHA-256 in lowercase hex: {sha256!r}")
        source = self._resolve(stored_path)
        folder = self.cache_dir / sha256[:2]
        jpeg, no_thumbnail = folder / f"{sha256}.jpg", folder / f"{sha256}.none"
        if jpeg.is_file():
            return jpeg
        if no_thumbnail.is_file():
            return None
        payload = _read(source)
        if payload is None or sha256_hex(payload) != sha256:
            return None
        made = thumbnail(payload, max_side=self.max_side, max_image_pixels=self.max_image_pixels)
        if made is None:
            _write_atomic(no_thumbnail, b"")
            return None
        _write_atomic(jpeg, made)
        return jpeg

    def facts(self, stored_path: str) -> PhotoFacts | None:
        """Size upright, capture time and camera of a stored image; None when it is not one (or is missing)."""
        payload = _read(self._resolve(stored_path))
        return None if payload is None else photo_facts(payload, max_image_pixels=self.max_image_pixels)

    def document(self, stored_path: str, kind: str) -> DocumentPreview | None:
        """Title and first lines of a stored document of `kind` (its FileFacts kind); None when unreadable."""
        payload = _read(self._resolve(stored_path))
        return None if payload is None else document_preview(payload, kind)

    def _resolve(self, stored_path: str) -> Path:
        """The file of a path relative to the data folder; never a path outside it (FileStore.absolute also
        refuses a symbolic link that leads out)."""
        posix, windows = PurePosixPath(stored_path), PureWindowsPath(stored_path)
        if not stored_path or "\x00" in stored_path:
            raise ValueError(f"not a stored path: {stored_path!r}")
        if posix.is_absolute() or windows.is_absolute() or windows.drive or windows.root:
            raise ValueError(f"stored paths are relative to the data folder: {stored_path!r}")
        if ".." in posix.parts or ".." in windows.parts:
            raise ValueError(f"stored paths never go up a folder: {stored_path!r}")
        return self.store.absolute(stored_path)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def _write_atomic(path: Path, data: bytes) -> None:
    """Whole or not at all, with a temporary name of its own (two page views may make the same entry at once;
    storage.files.write_atomic names its temporary file by the process only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=path.parent)
    try:
        os.fchmod(handle, 0o644)  # as the data folder's files are, not mkstemp's 0600
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
