"""RAR archives through Debian's bsdtar (libarchive-tools): the only code that starts a process. The archive
is written to a temporary folder, listed and extracted there within the mail's budget, and removed."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
import zlib
from dataclasses import dataclass

from bot.core.files.archives import (
    ArchiveError,
    Budget,
    Entry,
    Listing,
    RarHeader,
    clean_name,
    is_junk,
    rar_headers,
    read_capped,
)
from bot.core.mail.charsets import utf8_or_gbk

BSDTAR_TIMEOUT = 120  # seconds for one bsdtar run


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
    """Run bsdtar; with `file_cap`, no file it writes may grow past that many bytes (RLIMIT_FSIZE, set by
    util-linux's prlimit on the child it then becomes: no Python code runs between fork and exec, which
    `preexec_fn` would do and which is unsafe in a process with threads)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
    if file_cap is not None:
        prlimit = shutil.which("prlimit") or "prlimit"
        args = [prlimit, f"--fsize={file_cap}:{file_cap}", "--", *args]
    try:
        return subprocess.run(args, capture_output=True, timeout=BSDTAR_TIMEOUT, env=env)
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
    return utf8_or_gbk(raw)


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
