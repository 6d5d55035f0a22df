"""Run `intake` in a real process with a fault injected from outside the product code: the launcher wraps one
function of the bot so that the process kills itself (SIGKILL, as the kernel's OOM killer would) at the
moment a test chooses. Nothing in `bot/` knows about it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# The launcher: argv[1] names the function to wrap ("module:attribute"), argv[2] the condition, the rest are
# intake's own arguments.
#   marker:<text>  kill when the raw message bytes passed to the function contain <text> (every time)
#   once:<file>    kill at the first call, and create <file> so that the next run goes through
LAUNCHER = """
import os, signal, sys, importlib
target, condition = sys.argv[1], sys.argv[2]
module_name, _, attribute = target.partition(":")
module = importlib.import_module(module_name)
original = getattr(module, attribute)
kind, _, value = condition.partition(":")

def wrapped(*args, **kwargs):
    if kind == "marker" and any(isinstance(a, bytes) and value.encode() in a for a in args):
        os.kill(os.getpid(), signal.SIGKILL)
    if kind == "once" and not os.path.exists(value):
        open(value, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return original(*args, **kwargs)

setattr(module, attribute, wrapped)
from bot.cli.main import main
sys.argv = ["intake", *sys.argv[3:]]
sys.exit(main())
"""


def intake_with_fault(target: str, condition: str, config: Path, *args: str, cwd: Path,
                      timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", LAUNCHER, target, condition, "--config", str(config), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd)
