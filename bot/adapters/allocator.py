"""The C allocator told to keep the memory a message freed for the next one.

By default glibc hands every block over 128 KiB (its threshold grows up to 32 MiB) straight back to the
kernel when it is freed, and gives back the top of the heap beyond 128 KiB. Each message of several
megabytes then costs fresh pages from the kernel for every buffer it passes through (the fetched bytes,
each decoded attachment, each file read back): a page fault per 4 KiB, which on a virtual machine costs
more than the copy itself (here allocating and filling a 40 MB buffer ran at 1.7 GB/s, reusing one at
9 GB/s). Kept in the process, the next message reuses the pages. The peak stays the peak: memory is
reused, not added to, so the high-water mark is that of the largest message, as before; a long-running
`intake run` stays at that mark between cycles instead of shrinking back (`tests/unit/test_allocator.py`).

Only glibc has `mallopt`; elsewhere this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

KEEP_BYTES = 256 << 20  # blocks up to this size come from the heap; this much free heap is kept


def keep_freed_memory(keep_bytes: int = KEEP_BYTES) -> bool:
    """Raise glibc's mmap and trim thresholds to `keep_bytes`, with one arena; False where there is no glibc or
    it refused."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # One arena for every thread: a thread's own arena would keep its own freed blocks beside the main one's.
    done = all(mallopt(option, value) for option, value in
               ((M_ARENA_MAX, 1), (M_MMAP_THRESHOLD, keep_bytes), (M_TRIM_THRESHOLD, keep_bytes)))
    if not done:
        log.debug("mallopt refused the thresholds; the allocator keeps its defaults")
    return done
