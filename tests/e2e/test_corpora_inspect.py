"""`intake inspect --json` over all 494 public corpus messages: one object each, never a traceback."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bot.cli.demo import samples_dir
from tests.e2e.harness import INTAKE

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"


@pytest.mark.skipif(not (CORPORA / "MESSAGES.txt").is_file(), reason="the shared corpora are not beside the repository")
def test_inspect_handles_every_corpus_message(tmp_path: Path) -> None:
    files = [CORPORA / line.strip() for line in (CORPORA / "MESSAGES.txt").read_text().splitlines() if line.strip()]
    assert len(files) == 494
    proc = subprocess.run(
        [str(INTAKE), "--config", str(samples_dir() / "demo.toml"), "inspect", "--json",
         "--received-at", "2020-12-10T10:00:00+08:00", *map(str, files)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    result = json.loads(proc.stdout)
    # mbox files hold several messages, each with its own object
    assert len(result) >= 494
    failures = [r["file"] for r in result if not r.get("ok", False)]
    assert failures == []
    attachments = sum(len(r["attachments"]) for r in result)
    print(f"{len(result)} messages inspected, {attachments} files, "
          f"{sum(r['campaign_mail'] for r in result)} would count as campaign mail")
