"""The whole benchmark: build the mailbox, time pipeline and floor alternately, the large-mailbox figures,
check the targets, write RESULTS.md."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import corpus, machine, profile_summary, results
from bench.console import profile_lines
from bench.load import append_all, save
from bench.scale import SCALE_USER, Scale, run_console_only, run_scale
from bench.throughput import Throughput, floor_round, intake_command, pipeline_round
from bench.workers import Workers, run_workers
from tests.e2e.servers import Dovecot, SmtpSink

RESULTS = Path(__file__).with_name("RESULTS.md")


@dataclass(frozen=True)
class Options:
    messages: int = 300
    seed: int = 2020
    rounds: int = 2
    units: int = 40  # senders of the throughput mailbox
    idle_small: int = 1000
    idle_large: int = 10_000
    report_units: int = 500
    results: Path | None = RESULTS
    cache: Path | None = None  # photo pool; default: a temporary folder removed at the end
    workdir: Path | None = None
    profile: Path | None = None  # where the profiled round's stats go (default: the work folder)
    no_profile: bool = False  # no profiled round, no profile summary
    bot_source: Path | None = None  # time another checkout of the bot (before/after figures)
    skip_scale: bool = False
    skip_workers: bool = False
    only: str | None = None  # "console": the console's pages over the large data folder; "workers": that part


def parse(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--messages", type=int, default=300, help="messages in the throughput mailbox (default 300)")
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument("--rounds", type=int, default=2, help="pipeline and floor rounds each, alternately")
    p.add_argument("--idle-small", type=int, default=1000, help="first size of the idle-poll mailbox")
    p.add_argument("--idle-large", type=int, default=10_000, help="second size, also used for the reports")
    p.add_argument("--report-units", type=int, default=500)
    p.add_argument("--results", type=Path, default=RESULTS, help="where RESULTS.md goes")
    p.add_argument("--no-results", action="store_true", help="write no RESULTS.md")
    p.add_argument("--cache", type=Path, help="keep the generated photo pool here between runs")
    p.add_argument("--workdir", type=Path, help="work folder (default: a temporary one, removed at the end)")
    p.add_argument("--profile", type=Path, help="keep the profiled round's cProfile stats in this file")
    p.add_argument("--no-profile", action="store_true", help="no profiled round (and no profile summary)")
    p.add_argument("--bot-source", type=Path, help="time the bot from this checkout instead (before/after)")
    p.add_argument("--skip-scale", action="store_true", help="throughput only: no idle poll, no reports")
    p.add_argument("--skip-workers", action="store_true", help="no rounds with several workers and PostgreSQL")
    p.add_argument("--only", choices=["console", "workers"],
                   help="console: only the staff console's pages over the large data folder (built, or kept in "
                        "--workdir from an earlier run of the same size); workers: only the rounds of one, two and "
                        "three workers on PostgreSQL and one on SQLite. Either prints and writes no RESULTS.md")
    a = p.parse_args(argv)
    return Options(a.messages, a.seed, a.rounds, 40, a.idle_small, a.idle_large, a.report_units,
                   None if a.no_results else a.results, a.cache, a.workdir, a.profile, a.no_profile, a.bot_source,
                   a.skip_scale, a.skip_workers, a.only)


Report = tuple[Throughput, Scale | None, Workers | None, list[results.Target]]


def run(options: Options, say: Callable[[str], None] = print) -> Report:
    work = options.workdir or Path(tempfile.mkdtemp(prefix="intake-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        return _run(options, work, say)
    finally:
        if options.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


def _run(options: Options, work: Path, say: Callable[[str], None]) -> Report:
    pool = corpus.PhotoPool(options.cache or work / "photos", options.seed)
    roster = corpus.units(options.units)
    say(f"generating {options.messages} messages (seed {options.seed}) …")
    mails = save(corpus.generate(options.messages, roster, pool, options.seed), work / "mail")
    tp = Throughput(len(mails), sum(m.size for m in mails), max(m.size for m in mails),
                    kinds=dict(Counter(m.kind for m in mails)))
    command = intake_command(work, options.bot_source)
    scale, workers = None, None
    users = {"intake@example.org": "secret", SCALE_USER: "secret"}  # the second one for the large mailbox
    with Dovecot(users) as dovecot, SmtpSink() as sink:
        say("loading them into Dovecot …")
        append_all(dovecot, mails)
        shutil.rmtree(work / "mail")
        if options.only == "workers":
            workers = run_workers(work / "workers", dovecot, sink, corpus.units_csv(roster), tp.messages,
                                  options.rounds, say, command)
            return tp, None, workers, results.workers_targets(workers, results.rss_limit(tp))
        for n in range(options.rounds):
            tp.floor.append(floor_round(work / "floor", dovecot, tp.messages))
            say(f"  floor round {n + 1}: {tp.floor[-1].seconds:.2f} s")
            tp.wire.append(floor_round(work / "wire", dovecot, tp.messages, wire=True))
            say(f"  wire floor round {n + 1}: {tp.wire[-1].seconds:.2f} s")
            tp.store.append(floor_round(work / "store", dovecot, tp.messages, store=True))
            say(f"  store floor round {n + 1}: {tp.store[-1].seconds:.2f} s")
            round_, extra = pipeline_round(work / "pipeline", dovecot, sink, corpus.units_csv(roster), tp.messages,
                                           command, reprocess=True)
            tp.pipeline.append(round_)
            tp.reprocess.append(extra["reprocess"])
            tp.stored_states, tp.replies_sent = extra["states"], extra["replies"]
            say(f"  pipeline round {n + 1}: {round_.seconds:.2f} s, peak RSS {round_.peak_rss_mb:.0f} MB; "
                f"reprocess --all: {tp.reprocess[-1].seconds:.2f} s")
        tp.raw_bytes = tp.pipeline[-1].raw_bytes  # as the server counts them
        if not options.no_profile:
            stats = options.profile or work / "pipeline.prof"
            pipeline_round(work / "pipeline", dovecot, sink, corpus.units_csv(roster), tp.messages,
                           intake_command(work, options.bot_source, stats))
            tp.profile = profile_summary.summary(stats)
            say(f"  profile of one more pipeline round: {stats}")
        if not options.skip_workers:
            say("several workers: one on SQLite, one, two and three on PostgreSQL …")
            workers = run_workers(work / "workers", dovecot, sink, corpus.units_csv(roster), tp.messages,
                                  options.rounds, say, command)
        if not options.skip_scale:
            say(f"idle poll and reports: {options.idle_large:,} messages from {options.report_units} units …")
            scale = run_scale(work / "scale", dovecot, sink, options.idle_large, options.idle_small,
                              options.report_units)
    return tp, scale, workers, results.targets(tp, scale, workers)


def console_only(options: Options, say: Callable[[str], None] = print) -> int:
    """`python -m bench --only console`: the console's three pages over --idle-large messages from
    --report-units units, with a cProfile of one more request of each (printed for a page over its target)."""
    work = options.workdir or Path(tempfile.mkdtemp(prefix="intake-bench-"))
    try:
        profiles = work / "console-profiles"
        console = run_console_only(work / "scale", options.idle_large, options.report_units, profiles, say)
        print()
        for line in results.console_lines(console):
            print(line)
        print()
        found = results.console_targets(console)
        for target in found:
            print(f"{target.verdict:4}  {target.name}: {target.detail}")
        for page in console.pages:
            if page.median * 1000 >= results.CONSOLE_MS:
                stats = profiles / f"console-{page.name.replace(' ', '-')}.prof"
                print(f"\n{page.name}: one request under cProfile ({stats}), by cumulative time:")
                for line in profile_lines(stats):
                    print(line)
        return 0 if all(t.passed for t in found) else 1
    finally:
        if options.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    if options.only == "console":
        return console_only(options)
    tp, scale, workers, found = run(options)
    print()
    if options.only == "workers" and workers is not None:
        for line in results.workers_lines(workers):
            print(line)
        for target in found:
            print(f"{target.verdict:4}  {target.name}: {target.detail}")
        return 0 if all(t.passed for t in found) else 1
    for line in results.summary_lines(tp, scale, workers):
        print(line)
    print()
    for target in found:
        print(f"{target.verdict:4}  {target.name}: {target.detail}")
    wrong = results.sane(tp, scale)
    for problem in wrong:
        print(f"INSANE: {problem}", file=sys.stderr)
    if options.results is not None:
        command = "make bench" + (f" N={options.messages}" if options.messages != 300 else "")
        text = results.markdown(machine.describe(options.workdir or Path(tempfile.gettempdir())), tp, scale,
                                found, command, options.seed, workers)
        options.results.write_text(text, encoding="utf-8")
        print(f"\nwritten: {options.results}")
    return 1 if wrong else 0
