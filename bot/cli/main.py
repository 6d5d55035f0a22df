"""The `intake` entry point: every group of commands registered on one app."""

from __future__ import annotations

import gc
import sys

import bot.cli.campaigns  # noqa: F401  (each import registers its commands on `app`)
import bot.cli.db  # noqa: F401
import bot.cli.demo  # noqa: F401
import bot.cli.mail  # noqa: F401
import bot.cli.reminders  # noqa: F401
import bot.cli.reports  # noqa: F401
import bot.cli.staff  # noqa: F401
import bot.cli.users  # noqa: F401
import bot.cli.web  # noqa: F401
from bot.adapters.allocator import keep_freed_memory
from bot.cli.app import app


def main() -> None:
    # What is imported by now lives until exit: kept out of every collection, the collector skips it during
    # the run and the interpreter's final collections skip it at exit (0.13 s of a 0.6 s start-and-exit).
    gc.freeze()
    keep_freed_memory()
    # A helper thread back from a write, a hash or a socket read (they release the GIL) waits for the GIL while
    # the main thread runs Python: at most 0.5 ms, not the default 5, so the archiver, the writers and the
    # fetch keep up instead of the main thread waiting for them (bench/OPTIMISATIONS.md, 10).
    sys.setswitchinterval(0.0005)
    app()


if __name__ == "__main__":
    main()
