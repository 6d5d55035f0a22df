"""Where a profiled `intake poll --once` round spent its time, as Markdown for RESULTS.md: own time by
area, then the functions with the most own time. A built-in function no rule names (a list's append, a
regex search) counts in the area of its heaviest caller. cProfile slows Python code more than C code, so
the shares lean towards the Python parts; they show where time goes, not what the unprofiled round took."""

from __future__ import annotations

import pstats
from collections import defaultdict
from pathlib import Path

# (area, substrings of "file:function" that put a function in it); the first that matches wins.
AREAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("the standard library's MIME parser (`email.feedparser`, `email.parser`)",
     ("email/feedparser.py", "email/parser.py", "'readlines' of '_io._IOBase'")),
    ("writing files and fsync", ("_io.BufferedWriter", "posix.fsync", "io.open", "posix.replace", "posix.rename",
                                 "posix.write", "posix.ftruncate", "storage/durable.py")),
    ("SHA-256", ("openssl_sha256", "_hashlib")),
    ("base64 and quoted-printable", ("binascii",)),
    ("IMAP: imapclient, imaplib and the socket", ("imapclient/", "imaplib.py", "recv_into", "_socket", "ssl.py")),
    ("database: SQLAlchemy, SQLModel, sqlite3", ("sqlalchemy/", "sqlmodel/", "sqlite3", "pydantic")),
    ("documents and images: python-docx, pypdf, Pillow, zip", ("docx/", "pypdf/", "PIL/", "zipfile", "zlib", "lxml")),
    ("replies: Jinja2 and the email generator", ("jinja2/", "email/generator.py", "email/_header_value_parser",
                                                 "email/headerregistry", "email/_policybase", "email/policy")),
    ("mail-parser", ("mailparser/",)),
    ("the bot's own code (`bot/`, `storage/`)", ("/bot/", "/storage/")),
)
OTHER = "everything else"


def _name(key: Key) -> str:
    filename, line, function = key
    if filename == "~":
        return function
    for marker in ("site-packages/", "/lib/python3."):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            if marker.startswith("/lib/"):
                filename = filename.split("/", 1)[1]
            break
    else:
        filename = filename.rsplit("/main/", 1)[-1] if "/main/" in filename else Path(filename).name
    return f"{filename}:{line} {function}"


Key = tuple[str, int, str]  # file, line, function, as pstats keys them ("~" for built-ins)


def area_of(key: Key, callers: dict[Key, tuple[int, int, float, float]] | None = None) -> str:
    text = f"{key[0]}:{key[2]}"
    for area, needles in AREAS:
        if any(needle in text for needle in needles):
            return area
    if key[0] == "~" and callers:  # a built-in: where its heaviest caller belongs
        heaviest = max(callers, key=lambda caller: callers[caller][2])
        return area_of(heaviest)
    return OTHER


def summary(path: Path, top: int = 12) -> list[str]:
    stats = pstats.Stats(str(path))
    entries = stats.stats  # type: ignore[attr-defined]  # key -> (primitive calls, calls, own, cumulative, callers)
    total = sum(own for _cc, _nc, own, _ct, _callers in entries.values())
    by_area: dict[str, float] = defaultdict(float)
    for key, (_cc, _nc, own, _ct, callers) in entries.items():
        by_area[area_of(key, callers)] += own
    lines = [
        "## Profile summary",
        "",
        f"One more `intake poll --once` round over the same mailbox under cProfile (not timed): {total:.1f} s of own",
        "time in all. cProfile slows Python code more than C code, so Python-heavy parts look larger than they are.",
        "",
        "| area | own time | share |",
        "|---|---:|---:|",
        *(f"| {area} | {seconds:.1f} s | {100 * seconds / total:.0f}% |"
          for area, seconds in sorted(by_area.items(), key=lambda kv: -kv[1])),
        "",
        f"The {top} functions with the most own time:",
        "",
        "| function | calls | own time | share |",
        "|---|---:|---:|---:|",
    ]
    heaviest = sorted(entries.items(), key=lambda kv: -kv[1][2])[:top]
    for key, (_cc, calls, own, _ct, _callers) in heaviest:
        lines.append(f"| `{_name(key)}` | {calls:,} | {own:.2f} s | {100 * own / total:.0f}% |")
    lines.append("")
    return lines
