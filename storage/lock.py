"""One worker at a time on a SQLite database: `run`, `poll` and `import` hold an exclusive lock on the data
folder. Workers sharing a database server take no lock (`shared`): claims in the database keep them apart.

The lock is an OS file lock (flock): it is released when the process ends, however it ends, so a
killed worker never leaves a stale lock behind. Staff commands (status, export) do not take it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType


class AlreadyRunning(RuntimeError):
    """Another worker holds the lock."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"another intake worker is running (pid {holder or '?'}, lock {path})")
        self.holder = holder


class WorkerLock:
    def __init__(self, data_dir: Path, shared: bool = False) -> None:
        self.path = data_dir / "intake.lock"
        self.fd: int | None = None
        self.shared = shared

    def acquire(self) -> None:
        if self.shared:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            raise AlreadyRunning(self.path, holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock
            self.fd = None

    def __enter__(self) -> WorkerLock:
        if self.fd is None:
            self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
