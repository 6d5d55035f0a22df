"""The file store: safe names, atomic writes, content-addressed raw archive, start-up sweep."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import threading
import unicodedata
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path, PurePosixPath

from storage.durable import write_new

RESERVED_WINDOWS = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                    *(f"LPT{i}" for i in range(1, 10))}
FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
MAX_NAME_BYTES = 180
TMP_PREFIX = ".tmp-"


class UnsafePathError(ValueError):
    """A computed path would leave the data folder."""


def safe_name(name: str, fallback: str = "file") -> str:
    """A file name that is safe on Linux and Windows: no folders, no control characters, bounded."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[/\\]", name)[-1]  # last component only; folders are data, never paths
    name = FORBIDDEN.sub("_", name)
    name = name.strip().strip(".").strip()
    if not name:
        return fallback
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    if stem.upper() in RESERVED_WINDOWS or name.upper() in RESERVED_WINDOWS:
        stem = "_" + stem if dot else "_" + name
    ext = ext[:16]
    while len(((stem + "." + ext) if ext else stem).encode("utf-8")) > MAX_NAME_BYTES:
        stem = stem[:-1]
    result = f"{stem}.{ext}" if ext else stem
    return result or fallback


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def numbered(name: str, n: int) -> str:
    """`photo.jpg`, 2 → `photo (2).jpg`."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return f"{name} ({n})"
    return f"{stem} ({n}).{ext}"


class FileStore:
    """Everything under one data folder; every path it returns is relative to that folder."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir.resolve()
        # Threads start with the first write; used from the poll's fetcher and the main thread. The raw archive
        # has its own, so a message's raw bytes never wait behind the files of the one before, and its hash is
        # taken on another while they are written.
        self._archiver = ThreadPoolExecutor(max_workers=1, thread_name_prefix="raw-archiver")
        self._hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="raw-hasher")
        self._raw_numbers = itertools.count(1)  # one temporary file a message: several are written before kept
        self._writer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="file-writer")

    def absolute(self, relative: str) -> Path:
        path = (self.root / relative).resolve()
        if path != self.root and self.root not in path.parents:
            raise UnsafePathError(f"path leaves the data folder: {relative!r}")
        return path

    def archive_raw(self, raw: bytes) -> str:
        """Keep the raw message byte for byte under its hash; writing it twice is harmless."""
        return self.archiving(raw).keep()[0]

    def archiving(self, raw: bytes) -> RawWrite:
        """Start archiving the raw message on the store's threads (a temporary file and its fsync on one, the
        hash on the other, at once), so the disk works while the message is judged; `keep` or `drop` it then."""
        digest = self._hasher.submit(sha256_hex, raw)
        return RawWrite(self, self._archiver.submit(self._write_raw, raw, digest, next(self._raw_numbers)))

    def _write_raw(self, raw: bytes, hashing: Future[str], number: int) -> tuple[str, str, Path | None]:
        """On the archiver thread: a temporary file of its own in the data folder itself (nothing under raw/ until
        the message is known to be campaign mail), removed again when the archive has the message already."""
        tmp = write_temporary(self.root / f"raw-{number}.eml", raw)
        try:
            digest = hashing.result()
            relative = f"raw/{digest[:2]}/{digest}.eml"
            path = self.absolute(relative)
            if path.exists() and path.stat().st_size == len(raw):
                tmp.unlink()
                return relative, digest, None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return relative, digest, tmp

    def place(self, folder: Iterable[str], filename: str, payload: bytes, sha256: str) -> str:
        """Store a file idempotently: the same content lands at the same path, never overwriting
        a different file of the same name (that one gets ` (2)`, ` (3)` …)."""
        placing = self.placing()
        relative = placing.place(folder, filename, payload, sha256)
        placing.wait()
        return relative

    def placing(self) -> Placing:
        """A batch of files written on the store's writer threads (see `Placing`)."""
        return Placing(self)

    def writer(self) -> ThreadPoolExecutor:
        return self._writer

    def sweep(self, top: str, referenced: set[str], before: datetime | None = None) -> list[str]:
        """Remove temporary files and files no row refers to under `top` (a crash leftover); with `before`,
        only those last written (or placed again) before it."""
        removed: list[str] = []
        base = self.absolute(top)
        cutoff = before.timestamp() if before is not None else None

        def old(path: Path) -> bool:
            try:
                return cutoff is None or path.stat().st_mtime < cutoff
            except FileNotFoundError:
                return False

        if base.exists():
            for path in sorted(base.rglob("*")):
                if not path.is_file():
                    continue
                relative = str(path.relative_to(self.root).as_posix())
                if (path.name.startswith(TMP_PREFIX) or relative not in referenced) and old(path):
                    path.unlink(missing_ok=True)
                    removed.append(relative)
        raw_tmps = [*(self.root / "raw").rglob(f"{TMP_PREFIX}*")] if (self.root / "raw").exists() else []
        for raw_tmp in [*raw_tmps, *self.root.glob(f"{TMP_PREFIX}*")]:  # raw messages being archived
            if old(raw_tmp):
                raw_tmp.unlink(missing_ok=True)
                removed.append(str(raw_tmp.relative_to(self.root).as_posix()))
        return removed


class Placing:
    """A message's files, each named at once (idempotently, as `FileStore.place`) and written on the store's writer
    threads while the rest of its record is made; `wait` before the transaction that names them commits."""

    def __init__(self, store: FileStore) -> None:
        self.store = store
        self.named: dict[str, str] = {}  # relative path → SHA-256, for files still being written
        self.writes: list[Future[None]] = []
        self.folders: set[Path] = set()  # where files were moved in: each made durable once, in `wait`

    def place(self, folder: Iterable[str], filename: str, payload: bytes, sha256: str) -> str:
        parts = [safe_name(p, "_") for p in folder]
        directory = PurePosixPath(*parts)
        base = safe_name(filename)
        for n in range(1, 10_000):
            name = base if n == 1 else numbered(base, n)
            relative = str(directory / name)
            if relative in self.named:
                if self.named[relative] == sha256:
                    return relative
                continue
            path = self.store.absolute(relative)
            if not path.exists():
                self.named[relative] = sha256
                self.folders.add(path.parent)
                self.writes.append(self.store.writer().submit(write_in_place, path, payload))
                return relative
            if path.stat().st_size == len(payload) and sha256_hex(path.read_bytes()) == sha256:
                os.utime(path)  # placed again: young, so a sweep beside other workers spares it
                return relative
        raise OSError(f"too many files named {base!r} in {directory}")

    def wait(self) -> None:
        """Every file written and on disk, and the folders that name them; the first error, if any, raised."""
        first = next((e for e in self.settle() if e is not None), None)
        if first is not None:
            raise first
        for folder in sorted(self.folders):
            fsync_folder(folder)

    def settle(self) -> list[BaseException | None]:
        """Wait for every write, whatever its outcome; their errors."""
        return [f.exception() for f in self.writes]


class RawWrite:
    """A raw message being archived: kept (moved into place under its hash) once it is known to be campaign mail,
    dropped (its temporary file removed) when it is not. Either waits for the archiver thread first."""

    def __init__(self, store: FileStore, written: Future[tuple[str, str, Path | None]]) -> None:
        self.store = store
        self.written = written
        self.kept: tuple[str, str] | None = None

    def keep(self) -> tuple[str, str]:
        """(path relative to the data folder, SHA-256) of the archived message, durable on disk."""
        if self.kept is None:
            relative, digest, tmp = self.written.result()
            if tmp is not None:
                path = self.store.absolute(relative)
                path.parent.mkdir(parents=True, exist_ok=True)
                publish(tmp, path)
            self.kept = relative, digest
        return self.kept

    def drop(self) -> None:
        if self.kept is None:
            try:
                _, _, tmp = self.written.result()
            except OSError:
                return
            if tmp is not None:
                tmp.unlink(missing_ok=True)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` at `path` whole or not at all: a temporary file beside it, fsync, rename, fsync the folder."""
    publish(write_temporary(path, data), path)


def write_in_place(path: Path, data: bytes) -> None:
    """`write_atomic` but for the folder's fsync, which the caller does once for all it wrote there."""
    os.replace(write_temporary(path, data), path)


def write_temporary(path: Path, data: bytes) -> Path:
    """`data` in a temporary file beside `path`, on disk (fsync'd); the file's path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Unique to the process and thread: two writer threads may write files whose names begin alike.
    tmp = path.with_name(f"{TMP_PREFIX}{os.getpid()}-{threading.get_ident()}-{path.name[:40]}")
    write_new(tmp, data)
    return tmp


def publish(tmp: Path, path: Path) -> None:
    """Move a written temporary file to its place, and make the move itself durable (fsync the folder)."""
    os.replace(tmp, path)
    fsync_folder(path.parent)


def fsync_folder(folder: Path) -> None:
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
