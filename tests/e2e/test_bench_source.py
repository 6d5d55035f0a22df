"""`python -m bench --bot-source DIR` times that checkout in every round, the rounds of several workers included
(they ran the installed `intake` whatever was asked, so a before/after comparison of them compared the code with
itself)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.run import Options, run
from tests.e2e.conftest import _require_dovecot

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.any_database  # the rounds start their own PostgreSQL cluster beside SQLite


def test_the_workers_rounds_run_the_checkout_given(tmp_path: Path) -> None:
    _require_dovecot()
    checkout = tmp_path / "checkout"
    shutil.copytree(REPO / "bot", checkout / "bot", ignore=shutil.ignore_patterns("__pycache__", "demo-output"))
    for shared in ("storage", "templates"):
        (checkout / shared).symlink_to(REPO / shared)
    started = tmp_path / "started"
    main = checkout / "bot" / "cli" / "main.py"  # this checkout's intake says so each time it starts
    main.write_text(main.read_text(encoding="utf-8") + f"\nopen({str(started)!r}, 'a').write('x')\n",
                    encoding="utf-8")
    options = Options(messages=5, rounds=1, results=None, cache=tmp_path / "photos", workdir=tmp_path / "work",
                      bot_source=checkout, only="workers")
    _, _, workers, _ = run(options, say=lambda _line: None)

    assert workers is not None
    assert [(r.database, r.workers, r.messages) for r in workers.rounds] == [
        ("SQLite", 1, 5), ("PostgreSQL", 1, 5), ("PostgreSQL", 2, 5), ("PostgreSQL", 3, 5)]
    assert started.read_text() == "x" * 7  # every worker of every round was the checkout's
