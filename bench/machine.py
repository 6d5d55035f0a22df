"""A short description of the machine the figures come from."""

from __future__ import annotations

import os
import platform
import shutil
from pathlib import Path


def describe(workdir: Path) -> dict[str, str]:
    return {
        "CPU": _cpu_model(),
        "Cores": f"{os.cpu_count()} logical",
        "Memory": _memory(),
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "OS": f"{platform.system()} {platform.release()}",
        "Disk": _disk(workdir),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _disk(path: Path) -> str:
    """File system type and size of the folder the benchmark writes to."""
    path = path.resolve()
    best, kind = "", "?"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            device, mount, fstype = line.split()[:3]
            if (str(path) == mount or str(path).startswith(mount.rstrip("/") + "/")) and len(mount) > len(best):
                best, kind = mount, f"{fstype} on {device}"
    except OSError:
        pass
    usage = shutil.disk_usage(path)
    return f"{kind}, {usage.total / 1e9:.0f} GB ({usage.free / 1e9:.0f} GB free)"
