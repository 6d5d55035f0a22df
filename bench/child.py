"""Run a command as a child process: wall time, its own peak RSS and CPU time, and the machine's CPU meanwhile.

The peak is the kernel's high-water mark of the child's memory (VmHWM in /proc/PID/status), read every few
milliseconds: it only grows, so the last reading before exit misses at most the final milliseconds. Not
ru_maxrss from wait4: on Linux that starts from the *parent's* RSS at fork (the forked copy is measured
before exec), so a child of a large benchmark process would report the benchmark's own size.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench.cpu import CpuTimes, machine_times


@dataclass(frozen=True)
class ChildRun:
    seconds: float
    peak_rss_mb: float  # VmHWM of the child after exec
    returncode: int
    stdout: str
    stderr: str
    cpu_seconds: float  # the child's own user + system time (and its children's it waited for)
    machine: CpuTimes  # every core's time while it ran (bench/cpu.py)


def run_child(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 3600) -> ChildRun:
    out_path, err_path = cwd / ".bench-stdout", cwd / ".bench-stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        before = machine_times()
        start = time.perf_counter()
        proc = subprocess.Popen(args, cwd=cwd, stdout=out, stderr=err, env=env)
        deadline = start + timeout
        status_file = Path(f"/proc/{proc.pid}/status")
        peak_kib = 0
        while True:
            peak_kib = max(peak_kib, high_water_kib(status_file))
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.004)
        seconds = time.perf_counter() - start
        machine = machine_times() - before
    proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped: keep Popen from waiting again
    stdout = out_path.read_text(errors="replace")
    stderr = err_path.read_text(errors="replace")
    out_path.unlink()
    err_path.unlink()
    return ChildRun(seconds, peak_kib / 1024, proc.returncode, stdout, stderr, usage.ru_utime + usage.ru_stime,
                    machine)


def high_water_kib(status_file: Path) -> int:
    """VmHWM of a running process in KiB; 0 once it has exited (a zombie has no memory lines)."""
    try:
        for line in status_file.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0
