"""`intake` keeps the memory a message freed for the next one: a buffer of a message's size allocated again
costs no new pages from the kernel (counted as minor page faults, in a fresh interpreter each way)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, resource, sys
from bot.adapters.allocator import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
size = 40 * 1024 * 1024
buffer = bytearray(size)  # the first message: its pages are new either way
del buffer
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):  # ten more messages of the same size
    buffer = bytearray(size)
    del buffer
print(json.dumps({"kept": kept, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""


def _faults(mode: str) -> dict[str, object]:
    run = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return json.loads(run.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_memory_is_reused_without_new_pages() -> None:
    default, kept = _faults("default"), _faults("keep")
    assert kept["kept"] is True
    pages = 10 * 40 * 1024 * 1024 // 4096
    assert default["faults"] >= pages  # each buffer handed back and faulted in anew: 10 × 10,240 pages
    assert kept["faults"] < pages // 20  # the same pages each time
