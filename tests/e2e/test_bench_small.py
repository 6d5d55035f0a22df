"""The benchmark in miniature (20 messages, one, two and three workers, a 150-message idle mailbox, the console over
it): it runs and its figures are sane.

No target is asserted here (performance is never asserted in the suite); `make bench` checks them.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from bench import results
from bench.run import RESULTS, Options, run
from tests.e2e.conftest import _require_dovecot


def test_small_benchmark_runs_and_gives_sane_figures(tmp_path: Path) -> None:
    _require_dovecot()
    before = RESULTS.read_bytes() if RESULTS.exists() else None
    options = Options(messages=20, rounds=1, idle_small=50, idle_large=150, report_units=30, results=None,
                      cache=tmp_path / "photos", workdir=tmp_path / "work")
    tp, scale, workers, found = run(options, say=lambda _line: None)

    assert tp.messages == 20 and tp.raw_bytes > 20_000_000  # the mix holds photo mails of several MB
    assert sum(tp.stored_states.values()) == 20 and tp.replies_sent > 0
    assert [r.name for r in tp.wire] == ["wire floor"]  # fetch, hash, one fsync'd write: no parsing
    assert tp.wire[0].raw_bytes == tp.pipeline[0].raw_bytes and tp.wire_ratio > 0
    assert [r.name for r in tp.store] == ["store floor"]  # the wire floor, and every attachment kept
    assert tp.store[0].raw_bytes == tp.pipeline[0].raw_bytes and tp.store_ratio > 0
    (again,) = tp.reprocess  # every stored message judged again from the archive
    assert again.messages == tp.stored_states["stored"] and again.seconds > 0
    assert 0 < again.raw_bytes <= tp.pipeline[0].raw_bytes
    for r in [*tp.pipeline, *tp.floor, *tp.wire, *tp.store]:
        assert r.messages == 20 and r.seconds > 0 and r.messages_per_s > 0 and r.mb_per_s > 0
        assert r.peak_rss_mb > 20  # a Python process that held mail of several MB
    assert math.isfinite(tp.ratio) and tp.ratio > 0
    assert results.sane(tp, scale) == []
    cores = os.cpu_count()
    for r in [*tp.pipeline, *tp.floor, *tp.wire, *tp.store, *tp.reprocess]:  # the machine's CPU during each round
        assert r.machine.cores == cores and 0 < r.cpu_s <= r.machine.busy + 0.1  # its own is part of the machine's
        assert 0 < r.machine.busy <= cores * r.seconds + 0.1 and r.machine.least_seconds <= r.seconds + 0.1

    assert scale is not None
    assert [i.messages for i in scale.idle] == [50, 150]
    assert scale.idle[0].commands == scale.idle[1].commands
    assert scale.idle[0].commands[:2] == ["CAPABILITY", "LOGIN"] and scale.idle[0].commands[-1] == "LOGOUT"
    assert all(s > 0 for i in scale.idle for s in i.seconds)
    assert [r.name for r in scale.reports] == ["status --json", "digest --out", "export --xlsx"]
    assert all(len(r.command_runs) == len(r.in_process_runs) == 3 and all(r.command_runs + r.in_process_runs)
               for r in scale.reports)

    assert workers is not None  # one worker on SQLite, one to three on PostgreSQL, each over the same mailbox
    assert [(r.database, r.workers) for r in workers.rounds] == [("SQLite", 1), ("PostgreSQL", 1), ("PostgreSQL", 2),
                                                                 ("PostgreSQL", 3)]
    for r in workers.rounds:
        assert r.messages == 20 and sum(r.shares) == 20 and r.seconds > 0 and r.replies == tp.replies_sent
        assert len(r.peak_rss_mb) == r.workers and all(m > 20 for m in r.peak_rss_mb)
        assert r.machine.cores == cores and 0 < r.cpu_s <= r.machine.busy + 0.1
    assert workers.three_over_one > 0 and workers.postgres_over_sqlite > 0

    console = scale.console
    assert console is not None  # the staff console's pages over the same data folder, review mail added
    assert console.units == 30 and console.review_mails == 3 and console.messages == 153
    assert console.review_entries >= 3
    assert [p.name for p in console.pages] == ["overview", "unit page", "review queue"]
    assert all(len(p.seconds) == 5 and all(s > 0 for s in p.seconds) and p.size > 0 for p in console.pages)
    assert console.pages[0].shows == "30 units"

    assert [t.verdict in ("PASS", "FAIL") for t in found] == [True] * 15
    assert [t.name.split(" at ")[0] for t in found[-3:]] == ["console overview", "console unit page",
                                                             "console review queue"]
    text = results.markdown({"CPU": "test"}, tp, scale, found, "make bench N=20", options.seed, workers)
    assert "Ratio pipeline ÷ floor" in text and "| 150 |" in text
    assert "## Several workers" in text and "| PostgreSQL, 3 workers |" in text
    assert "| wire floor |" in text and "Ratio pipeline ÷ wire floor" in text
    assert "## The machine's CPU in each round" in text and "| PostgreSQL, 2 workers | " in text
    assert "**The wire target on this machine.**" in text
    assert "Two workers on PostgreSQL, two processes, kept" in text
    assert "| store floor |" in text and "Ratio pipeline ÷ store floor" in text
    assert "### The staff console" in text and "| review queue (`/review`) |" in text
    assert tp.profile[0] == "## Profile summary" and "\n".join(tp.profile) in text
    assert "| the standard library's MIME parser (`email.feedparser`, `email.parser`) |" in text
    assert (tmp_path / "work" / "pipeline.prof").is_file()
    assert (RESULTS.read_bytes() if RESULTS.exists() else None) == before  # RESULTS.md left alone
