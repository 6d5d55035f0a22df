"""The machine's CPU time during a round, from /proc/stat: how much running the round cost every core together,
and so the least time this machine's cores allow for that work.

A round's process is only part of it: Dovecot serves the mail, the SMTP sink (in the benchmark's own process)
takes the replies, the kernel copies and writes. The busy time counts all of them; the child's own CPU time
(user + system, from `wait4`) is counted apart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

STAT = Path("/proc/stat")
TICK = os.sysconf("SC_CLK_TCK")  # USER_HZ: the unit of /proc/stat


@dataclass(frozen=True)
class CpuTimes:
    """CPU-seconds over all cores: `busy` running anything (user, nice, system, irq, softirq), `idle` with nothing
    to run or waiting for the disk (idle, iowait), `steal` taken by the host from this virtual machine."""

    busy: float
    idle: float
    steal: float
    cores: int

    def __sub__(self, earlier: CpuTimes) -> CpuTimes:
        return CpuTimes(self.busy - earlier.busy, self.idle - earlier.idle, self.steal - earlier.steal, self.cores)

    def cores_busy(self, seconds: float) -> float:
        """How many cores were busy on average over `seconds` of wall time."""
        return self.busy / seconds if seconds > 0 else 0.0

    @property
    def least_seconds(self) -> float:
        """The least wall time this much work takes on this machine: every core busy from start to end."""
        return self.busy / self.cores if self.cores else 0.0


NONE = CpuTimes(0.0, 0.0, 0.0, 0)  # not measured (no /proc/stat)


def parse_stat(text: str, tick: int = TICK) -> CpuTimes:
    """The machine's CPU times so far, from the text of /proc/stat (its first line sums every core)."""
    lines = text.splitlines()
    fields = [int(v) for v in lines[0].split()[1:]] + [0] * 10
    user, nice, system, idle, iowait, irq, softirq, steal = fields[:8]  # guest time is counted in user already
    cores = sum(1 for line in lines[1:] if line.startswith("cpu") and line[3:4].isdigit())
    return CpuTimes((user + nice + system + irq + softirq) / tick, (idle + iowait) / tick, steal / tick, cores)


def machine_times(stat: Path = STAT) -> CpuTimes:
    try:
        return parse_stat(stat.read_text())
    except (OSError, ValueError, IndexError):
        return NONE
