"""Targets, the printed summary and bench/RESULTS.md."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from bench.console import ConsoleTimes
from bench.cpu import CpuTimes
from bench.scale import Scale
from bench.throughput import Throughput
from bench.workers import Workers

MIB = 1024 * 1024
RATIO_TARGET = 0.5
WIRE_TARGET = 0.5  # pipeline ÷ the wire floor
STDLIB_TARGET = 3.0  # pipeline ÷ the standard library's floor, parsing at the speed of the wire
RSS_BASE_MB = 250
THREE_WORKERS_TARGET = 1.5  # three workers on PostgreSQL ÷ one, throughput
POSTGRES_TARGET = 0.8  # one worker on PostgreSQL ÷ one on SQLite, throughput
IDLE_SECONDS = 0.3
REPORT_SECONDS = 2.0
CONSOLE_MS = 300  # each page of the staff console at 500 units and 10,000 mails
NOTES = Path(__file__).with_name("OPTIMISATIONS.md")  # what was changed in the bot, kept across runs


@dataclass(frozen=True)
class Target:
    name: str
    passed: bool | None  # None: not measured
    detail: str

    @property
    def verdict(self) -> str:
        return "n/a" if self.passed is None else "PASS" if self.passed else "FAIL"


def rss_limit(tp: Throughput) -> float:
    return RSS_BASE_MB + 3 * tp.largest_message / MIB


def targets(tp: Throughput, scale: Scale | None, workers: Workers | None = None) -> list[Target]:
    largest_mb = tp.largest_message / MIB
    limit = rss_limit(tp)
    found = [
        Target("pipeline throughput ≥ 0.5 × floor", tp.ratio >= RATIO_TARGET,
               f"ratio {tp.ratio:.2f} (best of each; medians give {tp.median_ratio:.2f})"),
        Target("peak RSS < 250 MB + 3 × largest message", tp.peak_rss_mb < limit,
               f"{tp.peak_rss_mb:.0f} MB < {limit:.0f} MB (largest message {largest_mb:.1f} MB)"),
    ]
    if tp.wire:
        found += [
            Target(f"pipeline throughput ≥ {WIRE_TARGET} × wire floor", tp.wire_ratio >= WIRE_TARGET,
                   f"ratio {tp.wire_ratio:.2f} (best of each)" + _cores_at_target(tp)),
            Target(f"pipeline throughput ≥ {STDLIB_TARGET:g} × floor", tp.ratio >= STDLIB_TARGET,
                   f"ratio {tp.ratio:.2f}"),
        ]
    if workers is not None:
        found += workers_targets(workers, limit)
    if scale is None:
        return found
    small, large = scale.idle[0], scale.idle[-1]
    found += [
        Target(f"idle poll: same IMAP commands at {small.messages:,} and {large.messages:,} messages",
               scale.constant_commands and len(scale.idle) > 1,
               f"{len(small.commands)} vs {len(large.commands)}: {' '.join(large.commands)}"),
        Target(f"idle poll at {large.messages:,} messages < {IDLE_SECONDS} s (in process)",
               large.median < IDLE_SECONDS, f"median {large.median * 1000:.0f} ms, best {large.best * 1000:.0f} ms"),
    ]
    for report in scale.reports:
        if report.subprocess_seconds is None:
            found.append(Target(f"{report.name} < {REPORT_SECONDS:g} s", None, "not built"))
        else:
            found.append(Target(f"{report.name} at {large.messages:,} messages, {scale.units} units < "
                                f"{REPORT_SECONDS:g} s", report.subprocess_seconds < REPORT_SECONDS,
                                f"{report.subprocess_seconds:.2f} s as a command, median of "
                                f"{len(report.command_runs)} ({_runs(report.command_runs)}); "
                                f"{report.in_process_seconds or 0:.2f} s of it in the work itself"))
    if scale.console is not None:
        found += console_targets(scale.console)
    return found


def workers_targets(workers: Workers, rss_limit: float) -> list[Target]:
    one, three, sqlite = (workers.best("PostgreSQL", 1), workers.best("PostgreSQL", 3), workers.best("SQLite", 1))
    return [
        Target(f"three workers on PostgreSQL ≥ {THREE_WORKERS_TARGET} × one worker",
               workers.three_over_one >= THREE_WORKERS_TARGET,
               f"{workers.three_over_one:.2f} × ({three.messages_per_s:.1f} against {one.messages_per_s:.1f} msg/s, "
               "best round of each)"),
        Target(f"one worker on PostgreSQL ≥ {POSTGRES_TARGET} × one on SQLite",
               workers.postgres_over_sqlite >= POSTGRES_TARGET,
               f"{workers.postgres_over_sqlite:.2f} × ({one.messages_per_s:.1f} against {sqlite.messages_per_s:.1f} "
               "msg/s)"),
        Target("peak RSS of each worker < 250 MB + 3 × largest message", workers.peak_rss_mb < rss_limit,
               f"{workers.peak_rss_mb:.0f} MB < {rss_limit:.0f} MB"),
    ]


def workers_lines(workers: Workers) -> list[str]:
    return [f"workers, {r.name}: {r.seconds:.1f} s, {r.messages_per_s:.1f} msg/s, peak RSS "
            f"{', '.join(f'{m:.0f}' for m in r.peak_rss_mb)} MB, messages each {list(r.shares)}"
            for r in workers.rounds] + [
        f"three workers ÷ one on PostgreSQL: {workers.three_over_one:.2f}; PostgreSQL ÷ SQLite, one worker: "
        f"{workers.postgres_over_sqlite:.2f}"]


def _workers_section(workers: Workers) -> list[str]:
    return [
        "## Several workers",
        "",
        "The same mailbox taken by one `intake poll --once` on SQLite, one on PostgreSQL, and two and three started "
        "together on one PostgreSQL database and one data folder, in turn, each round from a fresh data folder and "
        "database. PostgreSQL is a throwaway cluster on loopback like the tests' (fsync off). Time is from the first "
        "start to the last exit, start-up included.",
        "",
        "| round | seconds | msg/s | peak RSS of each worker | messages each finished | replies |",
        "|---|---:|---:|---|---|---:|",
        *(f"| {r.name} | {r.seconds:.2f} | {r.messages_per_s:.1f} | "
          f"{', '.join(f'{m:.0f}' for m in r.peak_rss_mb)} MB | {', '.join(map(str, r.shares))} | {r.replies} |"
          for r in workers.rounds),
        "",
        f"**Three workers ÷ one on PostgreSQL (throughput): {workers.three_over_one:.2f}; one worker on PostgreSQL "
        f"÷ on SQLite: {workers.postgres_over_sqlite:.2f}** (best round of each).",
        "",
    ]


def wire_budget(tp: Throughput) -> tuple[float, CpuTimes]:
    """The longest the pipeline may take at the wire target, and the machine's CPU in its best round."""
    return tp.best(tp.wire).seconds / WIRE_TARGET, tp.best(tp.pipeline).machine


def _cores_at_target(tp: Throughput) -> str:
    seconds, machine = wire_budget(tp)
    if not machine.cores:
        return ""
    return (f"; its round's work on this machine ({machine.busy:.1f} CPU-s) done in {seconds:.2f} s needs "
            f"{machine.cores_busy(seconds):.2f} of {machine.cores} cores busy throughout")


def cpu_rows(tp: Throughput, workers: Workers | None) -> list[tuple[str, float, float, CpuTimes]]:
    """(round, seconds, its own CPU, the machine's CPU) for the best round of each kind."""
    kinds = (("standard library's floor", tp.floor), ("wire floor", tp.wire), ("store floor", tp.store),
             ("pipeline", tp.pipeline), ("`reprocess --all`", tp.reprocess))
    rows = [(name, r.seconds, r.cpu_s, r.machine) for name, rounds in kinds if rounds for r in [tp.best(rounds)]]
    if workers is not None:
        sets = dict.fromkeys((r.database, r.workers) for r in workers.rounds)
        rows += [(r.name, r.seconds, r.cpu_s, r.machine) for r in (workers.best(*s) for s in sets)]
    return rows


def cpu_lines(tp: Throughput, workers: Workers | None) -> list[str]:
    return [f"CPU, {name}: {seconds:.1f} s, its own {own:.1f} s, the machine busy {m.busy:.1f} CPU-s "
            f"({m.cores_busy(seconds):.2f} of {m.cores} cores), least {m.least_seconds:.1f} s"
            for name, seconds, own, m in cpu_rows(tp, workers) if m.cores]


def _cpu_section(tp: Throughput, workers: Workers | None) -> list[str]:
    rows = [row for row in cpu_rows(tp, workers) if row[3].cores]
    if not rows:
        return []
    cores = rows[0][3].cores
    out = [
        "## The machine's CPU in each round",
        "",
        "Every core's time while the best round of each kind ran, from /proc/stat. Busy is running anything: the "
        "round's process, Dovecot serving the mail, the SMTP sink (in the benchmark's own process), the kernel. "
        "Its own is the round's process alone (its workers together), user + system. The least time is the busy "
        f"time spread over all {cores} cores: no arrangement of the same work finishes sooner on this machine.",
        "",
        f"| round | seconds | its own CPU | the machine busy | cores busy (of {cores}) | least time | stolen by the "
        "host |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *(f"| {name} | {seconds:.2f} | {own:.1f} s | {m.busy:.1f} CPU-s | {m.cores_busy(seconds):.2f} | "
          f"{m.least_seconds:.2f} s | {m.steal:.1f} CPU-s |" for name, seconds, own, m in rows),
        "",
    ]
    if tp.wire and tp.pipeline:
        seconds, machine = wire_budget(tp)
        pipeline = tp.best(tp.pipeline)
        out += [
            f"**The wire target on this machine.** It asks for the pipeline in at most {seconds:.2f} s ("
            f"{1 / WIRE_TARGET:g} × the wire floor's {tp.best(tp.wire).seconds:.2f} s). The pipeline's round kept "
            f"the machine busy for {machine.busy:.1f} CPU-seconds: done in {seconds:.2f} s, that work needs "
            f"{machine.cores_busy(seconds):.2f} of the {cores} cores busy from start to end, where the pipeline keeps "
            f"{machine.cores_busy(pipeline.seconds):.2f} busy (one process, whose Python runs on one core at a time)."
            + (_two_workers(tp, workers) if workers is not None else ""),
            "",
        ]
    return out


def _two_workers(tp: Throughput, workers: Workers) -> str:
    if not workers.of("PostgreSQL", 2):
        return ""
    best = workers.best("PostgreSQL", 2)
    return (f" Two workers on PostgreSQL, two processes, kept {best.machine.cores_busy(best.seconds):.2f} cores busy "
            f"and took {best.seconds:.2f} s: {tp.best(tp.wire).seconds / best.seconds:.2f} × the wire floor.")


def console_targets(console: ConsoleTimes) -> list[Target]:
    return [Target(f"console {page.name} at {console.messages:,} messages, {console.units} units < {CONSOLE_MS} ms",
                   page.median * 1000 < CONSOLE_MS,
                   f"median {page.median * 1000:.0f} ms of {len(page.seconds)} ({_ms(page.seconds)}), in process; "
                   f"first view {page.warm_up * 1000:.0f} ms; shows {page.shows}") for page in console.pages]


def console_lines(console: ConsoleTimes) -> list[str]:
    head = (f"console, {console.messages:,} messages, {console.units} units, {console.files:,} files, "
            f"{console.review_entries:,} review entries (median of {len(console.pages[0].seconds)} in process):"
            if console.pages else "console: no page timed")
    return [head, *(f"  {p.name}: {p.median * 1000:.0f} ms (first view {p.warm_up * 1000:.0f} ms, "
                    f"{p.size / 1000:.0f} kB, shows {p.shows})" for p in console.pages)]


def summary_lines(tp: Throughput, scale: Scale | None, workers: Workers | None = None) -> list[str]:
    best_p, best_f = tp.best(tp.pipeline), tp.best(tp.floor)
    lines = [
        f"mailbox: {tp.messages} messages, {tp.raw_bytes / 1e6:.0f} MB, largest {tp.largest_message / MIB:.1f} MB",
        f"pipeline: {best_p.messages_per_s:.1f} msg/s, {best_p.mb_per_s:.1f} MB/s, peak RSS {tp.peak_rss_mb:.0f} MB"
        f" (rounds: {', '.join(f'{r.seconds:.1f} s' for r in tp.pipeline)})",
        f"floor:    {best_f.messages_per_s:.1f} msg/s, {best_f.mb_per_s:.1f} MB/s, peak RSS "
        f"{max(r.peak_rss_mb for r in tp.floor):.0f} MB (rounds: {', '.join(f'{r.seconds:.1f} s' for r in tp.floor)})",
        f"ratio pipeline ÷ floor (throughput): {tp.ratio:.2f}",
    ]
    if tp.wire:
        best_w = tp.best(tp.wire)
        lines += [f"wire floor: {best_w.messages_per_s:.1f} msg/s, {best_w.mb_per_s:.1f} MB/s (rounds: "
                  f"{', '.join(f'{r.seconds:.1f} s' for r in tp.wire)})",
                  f"ratio pipeline ÷ wire floor (throughput): {tp.wire_ratio:.2f}"]
    if tp.store:
        best_s = tp.best(tp.store)
        lines += [f"store floor: {best_s.messages_per_s:.1f} msg/s, {best_s.mb_per_s:.1f} MB/s (rounds: "
                  f"{', '.join(f'{r.seconds:.1f} s' for r in tp.store)})",
                  f"ratio pipeline ÷ store floor (throughput): {tp.store_ratio:.2f}"]
    if tp.reprocess:
        best_r = tp.best(tp.reprocess)
        lines.append(f"reprocess --all: {best_r.messages} stored messages, {best_r.mb_per_s:.1f} MB/s (rounds: "
                     f"{', '.join(f'{r.seconds:.1f} s' for r in tp.reprocess)})")
    if workers is not None:
        lines += workers_lines(workers)
    lines += cpu_lines(tp, workers)
    if scale is not None:
        for idle in scale.idle:
            lines.append(f"idle poll, {idle.messages:,} processed messages: {len(idle.commands)} IMAP commands, "
                         f"median {idle.median * 1000:.0f} ms in process, {idle.subprocess_seconds:.2f} s as "
                         "`intake poll --once`")
        for report in scale.reports:
            figure = ("not built" if report.subprocess_seconds is None else
                      f"{report.subprocess_seconds:.2f} s as a command, {report.in_process_seconds:.2f} s in process")
            lines.append(f"{report.name}: {figure}")
        if scale.console is not None:
            lines += console_lines(scale.console)
    return lines


def sane(tp: Throughput, scale: Scale | None) -> list[str]:
    """What is wrong with the figures themselves (not the targets): empty when they make sense."""
    wrong = []
    for r in [*tp.pipeline, *tp.floor, *tp.wire, *tp.store]:
        if not (r.seconds > 0 and r.messages_per_s > 0 and r.mb_per_s > 0):
            wrong.append(f"{r.name}: non-positive figures {r}")
    if not (math.isfinite(tp.ratio) and tp.ratio > 0):
        wrong.append(f"ratio {tp.ratio}")
    if not tp.peak_rss_mb > 0:
        wrong.append("peak RSS not measured")
    if scale is not None:
        wrong += [f"idle poll sent no command at {i.messages}" for i in scale.idle if not i.commands]
        if scale.console is not None:
            wrong += [f"console {p.name}: non-positive times {p.seconds}" for p in scale.console.pages
                      if not (p.seconds and all(s > 0 for s in p.seconds))]
    return wrong


def markdown(machine: dict[str, str], tp: Throughput, scale: Scale | None, found: list[Target],
             command: str, seed: int, workers: Workers | None = None) -> str:
    best_p, best_f = tp.best(tp.pipeline), tp.best(tp.floor)
    out = [
        "# Benchmark results",
        "",
        f"Written by `{command}` (seed {seed}); every run rewrites this file. Figures from one run on one machine,",
        "shared with other work: compare the ratios, which come from the same run, more than the absolute times.",
        "",
        "## Machine",
        "",
        *(f"- {k}: {v}" for k, v in machine.items()),
        "",
        "## Mailbox",
        "",
        f"{tp.messages} messages, {tp.raw_bytes / 1e6:.0f} MB as the server holds them, the largest "
        f"{tp.largest_message / MIB:.1f} MB. Mix: {tp_mix(tp)}.",
        "Written by the project's fixture writers (Foxmail, 163 webmail, Outlook, iPhone, QQ Mail, 163 auto-reply);",
        "photos are seeded noise JPEGs with camera EXIF (1–5 MB, 2–10 a mail), so sizes are real.",
        "",
        "## Throughput (`intake poll --once` against the floor, alternately, fresh data folder each round)",
        "",
        "| | msg/s | MB/s | seconds (each round) | peak RSS |",
        "|---|---:|---:|---|---:|",
        f"| pipeline | {best_p.messages_per_s:.1f} | {best_p.mb_per_s:.1f} | "
        f"{', '.join(f'{r.seconds:.2f}' for r in tp.pipeline)} | {tp.peak_rss_mb:.0f} MB |",
        f"| floor | {best_f.messages_per_s:.1f} | {best_f.mb_per_s:.1f} | "
        f"{', '.join(f'{r.seconds:.2f}' for r in tp.floor)} | {max(r.peak_rss_mb for r in tp.floor):.0f} MB |",
        *([f"| wire floor | {tp.best(tp.wire).messages_per_s:.1f} | {tp.best(tp.wire).mb_per_s:.1f} | "
           f"{', '.join(f'{r.seconds:.2f}' for r in tp.wire)} | {max(r.peak_rss_mb for r in tp.wire):.0f} MB |"]
          if tp.wire else []),
        *([f"| store floor | {tp.best(tp.store).messages_per_s:.1f} | {tp.best(tp.store).mb_per_s:.1f} | "
           f"{', '.join(f'{r.seconds:.2f}' for r in tp.store)} | {max(r.peak_rss_mb for r in tp.store):.0f} MB |"]
          if tp.store else []),
        *([f"| `reprocess --all` ({tp.best(tp.reprocess).messages} stored) | "
           f"{tp.best(tp.reprocess).messages_per_s:.1f} | {tp.best(tp.reprocess).mb_per_s:.1f} | "
           f"{', '.join(f'{r.seconds:.2f}' for r in tp.reprocess)} | "
           f"{max(r.peak_rss_mb for r in tp.reprocess):.0f} MB |"] if tp.reprocess else []),
        "",
        f"**Ratio pipeline ÷ floor (throughput): {tp.ratio:.2f}** "
        f"(best round of each; medians: {tp.median_ratio:.2f})."
        + (f" **Ratio pipeline ÷ wire floor: {tp.wire_ratio:.2f}.**" if tp.wire else "")
        + (f" Ratio pipeline ÷ store floor: {tp.store_ratio:.2f}." if tp.store else ""),
        "",
        f"The pipeline stored {sum(tp.stored_states.values())} messages ({_states(tp.stored_states)}) and sent "
        f"{tp.replies_sent} replies to the SMTP sink in the timed run. The floor is `bench/floor.py`: imapclient "
        "`BODY.PEEK[]` one message at a time, the standard library parser, SHA-256 and a plain write per "
        "attachment (no fsync, no archive opened, no database, no reply). The wire floor is the same fetch, "
        "SHA-256 and one fsync'd write of each message's raw bytes, no parsing: what archiving costs anyway. "
        "The store floor is the wire floor's work, then every attachment parsed out with the bot's own parser, "
        "hashed and written once with fsync: the data work the pipeline cannot avoid, one thing after another, "
        "with none of its bookkeeping (no archive opened, nothing classified, no database, no reply). "
        "`reprocess --all` runs after each pipeline round over what it stored: every stored message read from the "
        "archive and judged again (no fetch, no reply; files already in place are not written again). All run "
        "as subprocesses, start-up included; peak RSS is the child's VmHWM.",
        "",
    ]
    if workers is not None:
        out += _workers_section(workers)
    out += _cpu_section(tp, workers)
    if scale is not None:
        out += _scale_section(scale)
    out += tp.profile
    out += ["## Targets", "", "| target | result | figure |", "|---|---|---|",
            *(f"| {t.name} | **{t.verdict}** | {t.detail} |" for t in found), ""]
    if NOTES.exists():
        out += [NOTES.read_text(encoding="utf-8").rstrip(), ""]
    return "\n".join(out)


def tp_mix(tp: Throughput) -> str:
    return ", ".join(f"{kind} {count}" for kind, count in sorted(tp.kinds.items(), key=lambda kv: -kv[1]))


def _states(states: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(states.items()))


def _scale_section(scale: Scale) -> list[str]:
    large = scale.idle[-1]
    out = [
        f"## A mailbox of {large.messages:,} processed messages from {scale.units} units",
        "",
        "Small campaign mails (one PDF or PNG each) from every unit, APPENDed in bulk, then processed by the bot "
        "itself with `intake poll --once` (the replies it queued sent by its own flusher), so the cursor, the "
        "keyword on the server and every row are what a real run leaves. Processing them took "
        + ", ".join(f"{s:.0f} s for {n:,}" for n, s in scale.fill_seconds.items()) + ".",
        "",
        "| messages | IMAP commands of an idle poll | in process (median / best) | `intake poll --once` |",
        "|---:|---|---:|---:|",
    ]
    out += [f"| {i.messages:,} | {len(i.commands)}: {' '.join(i.commands)} | {i.median * 1000:.0f} / "
            f"{i.best * 1000:.0f} ms | {i.subprocess_seconds:.2f} s |" for i in scale.idle]
    out += [
        "",
        "The in-process poll cycle is `bot.worker.jobs.poll_and_flush` (roster check, connect, log in, ID, SELECT, "
        "search above the cursor, log out, outbox flush), commands counted as they leave imaplib. The command adds "
        "interpreter start-up and the start-up sweep of the data folder.",
        "",
        "Each report three times, interleaved; the median counts, every run is listed.",
        "",
        "| report | as a command: median (runs) | the work in process: median (runs) |",
        "|---|---:|---:|",
    ]
    out += [f"| `{r.name}` | " + ("not built | |" if r.subprocess_seconds is None else
            f"{r.subprocess_seconds:.2f} s ({_runs(r.command_runs)}) | "
            f"{r.in_process_seconds:.2f} s ({_runs(r.in_process_runs)}) |") for r in scale.reports]
    if scale.console is not None:
        out += ["", *_console_section(scale.console)]
    return [*out, ""]


def _console_section(console: ConsoleTimes) -> list[str]:
    return [
        "### The staff console",
        "",
        f"{console.review_mails} more mails that need a decision (half from strangers naming no unit, half from "
        "units with a file of no category) added to the same mailbox and processed by `intake poll --once` "
        f"({console.review_fill_seconds:.0f} s), then the console over the data folder: "
        f"{console.messages:,} stored messages, {console.units} units, {console.files:,} files, "
        f"{console.review_entries:,} review entries. Each page requested through Starlette's test client in "
        "process, logged in as a staff account: one first view (the thumbnails its photos link to fetched then), "
        f"then {len(console.pages[0].seconds) if console.pages else 0} requests; the median counts. Every response "
        "was checked for what it shows.",
        "",
        "| page | shows | median (runs) | first view | HTML |",
        "|---|---|---:|---:|---:|",
        *(f"| {p.name} (`{p.path}`) | {p.shows} | {p.median * 1000:.0f} ms ({_ms(p.seconds)}) | "
          f"{p.warm_up * 1000:.0f} ms | {p.size / 1000:.0f} kB |" for p in console.pages),
    ]


def _ms(seconds: list[float]) -> str:
    return ", ".join(f"{s * 1000:.0f}" for s in seconds)


def _runs(seconds: list[float]) -> str:
    return ", ".join(f"{s:.2f}" for s in seconds)
