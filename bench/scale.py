"""A mailbox of many processed messages: the idle poll (IMAP commands and time) and the staff reports.

The mailbox is filled with small campaign mails from every unit of a large roster (MULTIAPPEND), and the
bot processes them itself with `intake poll --once`: the cursor, the keyword on the server and every
row are exactly what a real first run leaves. Filled in two steps (the small size, then the rest) so the
idle poll is measured on both sizes with the same database and mailbox. Last, mail that needs a decision is
added (one for every REVIEW_SHARE) and the staff console's pages are timed over the data folder
(bench/console.py); `run_console_only` does that part alone.
"""

from __future__ import annotations

import imaplib
import json
import shutil
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bench.child import ChildRun, run_child
from bench.console import ConsoleTimes, time_console
from bench.corpus import Unit, review_messages, small_messages, units, units_csv
from bench.load import append_all
from bench.throughput import NOW
from tests.e2e.harness import INTAKE, write_config
from tests.e2e.servers import Dovecot, SmtpSink

SCALE_USER = "scale@example.org"
IDLE_REPEATS = 5
REPORT_REPEATS = 3  # each report command and its in-process work; the median is what counts
REVIEW_SHARE = 50  # one mail that needs a decision for every 50 of the large mailbox, added for the console
CONSOLE_READY = "console-ready.json"  # in a data folder built by `--only console`: what it holds


@dataclass
class IdlePoll:
    messages: int  # in the mailbox, all processed
    commands: list[str]  # IMAP commands of one in-process poll cycle, in order
    seconds: list[float]  # in-process poll cycles (connect … logout, outbox flush)
    subprocess_seconds: float  # `intake poll --once` as a user runs it (start-up and sweep included)

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


@dataclass
class Report:
    name: str
    command_runs: list[float]  # the command as staff run it, REPORT_REPEATS times
    in_process_runs: list[float]  # the same work in this process (no start-up, imports or exit)

    @property
    def subprocess_seconds(self) -> float | None:
        return statistics.median(self.command_runs) if self.command_runs else None

    @property
    def in_process_seconds(self) -> float | None:
        return statistics.median(self.in_process_runs) if self.in_process_runs else None


@dataclass
class Scale:
    units: int
    fill_seconds: dict[int, float] = field(default_factory=dict)  # messages processed → poll --once time
    idle: list[IdlePoll] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)
    console: ConsoleTimes | None = None

    @property
    def constant_commands(self) -> bool:
        return len({len(i.commands) for i in self.idle}) == 1


class CommandCounter:
    """Counts the IMAP commands this process sends. imapclient sends some through imaplib's own command
    method and others (SEARCH, FETCH …) by itself, but every command line goes out through
    IMAP4.send and starts with a fresh tag, so that is where they are counted."""

    def __init__(self) -> None:
        self.names: list[str] = []

    @contextmanager
    def counting(self) -> Iterator[list[str]]:
        original = imaplib.IMAP4.send
        names = self.names = []

        def send(imap: imaplib.IMAP4, data: bytes) -> None:
            tag = imap.tagpre
            if data.startswith(tag):
                words = data.split(b" ", 3)
                name = words[1] if len(words) > 1 else b""
                if name.upper() == b"UID" and len(words) > 2:
                    name += b" " + words[2]
                names.append(name.decode("ascii", "replace").strip())
            original(imap, data)

        imaplib.IMAP4.send = send  # type: ignore[method-assign]
        try:
            yield names
        finally:
            imaplib.IMAP4.send = original  # type: ignore[method-assign]


def run_scale(workdir: Path, dovecot: Dovecot, sink: SmtpSink, total: int, small: int, unit_count: int,
              console: bool = True) -> Scale:
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    if SCALE_USER not in dovecot.users:
        dovecot.add_user(SCALE_USER, dovecot.password)
    roster = units(unit_count)
    config = _config(workdir, dovecot, sink, roster)
    mails = list(small_messages(total, roster))
    scale = Scale(unit_count)
    done = 0
    for size in sorted({min(small, total), total}):
        append_all(dovecot, mails[done:size], user=SCALE_USER)
        fill = _intake(config, workdir, "poll", "--once", timeout=7200)
        scale.fill_seconds[size - done] = fill.seconds + drain_outbox(config)
        done = size
        scale.idle.append(idle_poll(config, workdir, size))
    scale.reports = reports(config, workdir)
    if console:  # after the idle polls and the reports, whose mailbox stays as it was measured before
        scale.console = console_pages(config, workdir, dovecot, roster, total)
    return scale


def review_count(total: int) -> int:
    return max(2, total // REVIEW_SHARE)


def fill_review(config: Path, workdir: Path, dovecot: Dovecot, roster: list[Unit], total: int) -> tuple[int, float]:
    """Add mail that needs a decision (unassigned mail, unclassified files; bench/corpus.review_messages) to
    the large mailbox and let the bot process it; how many and the seconds it took."""
    count = append_all(dovecot, review_messages(review_count(total), roster), user=SCALE_USER)
    fill = _intake(config, workdir, "poll", "--once", timeout=1800)
    return count, fill.seconds + drain_outbox(config)


def console_pages(config: Path, workdir: Path, dovecot: Dovecot, roster: list[Unit], total: int,
                  profile_dir: Path | None = None) -> ConsoleTimes:
    """The review mail added, then the console's pages timed over the data folder."""
    count, seconds = fill_review(config, workdir, dovecot, roster, total)
    times = time_console(config, datetime.fromisoformat(NOW), profile_dir=profile_dir)
    times.review_mails, times.review_fill_seconds = count, seconds
    return times


def run_console_only(workdir: Path, total: int, unit_count: int, profile_dir: Path | None = None,
                     say: Callable[[str], None] = print) -> ConsoleTimes:
    """The console's part alone (`python -m bench --only console`): the large mailbox processed in one go
    (no idle poll, no reports), the review mail added, the pages timed. A work folder kept from an earlier run
    of the same size (CONSOLE_READY) is timed again without building it anew."""
    ready = workdir / CONSOLE_READY
    wanted = {"messages": total, "units": unit_count, "review_mails": review_count(total)}
    if ready.is_file() and {k: v for k, v in json.loads(ready.read_text()).items() if k in wanted} == wanted:
        say(f"timing the console over the data folder kept in {workdir} …")
        built = json.loads(ready.read_text())
        times = time_console(workdir / "config.toml", datetime.fromisoformat(NOW), profile_dir=profile_dir)
        times.review_mails, times.review_fill_seconds = built["review_mails"], built["review_fill_seconds"]
        return times
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    roster = units(unit_count)
    with Dovecot({SCALE_USER: "secret"}) as dovecot, SmtpSink() as sink:
        config = _config(workdir, dovecot, sink, roster)
        say(f"processing {total:,} messages from {unit_count} units (`intake poll --once`) …")
        append_all(dovecot, small_messages(total, roster), user=SCALE_USER)
        fill = _intake(config, workdir, "poll", "--once", timeout=7200).seconds + drain_outbox(config)
        say(f"  {fill:.0f} s; adding {review_count(total)} mails that need a decision, timing the console …")
        times = console_pages(config, workdir, dovecot, roster, total, profile_dir)
    ready.write_text(json.dumps(wanted | {"fill_seconds": fill, "review_fill_seconds": times.review_fill_seconds}),
                     encoding="utf-8")
    return times


def _config(workdir: Path, dovecot: Dovecot, sink: SmtpSink, roster: list[Unit]) -> Path:
    config = write_config(workdir, dovecot, sink)
    text = config.read_text(encoding="utf-8").replace(f'username = "{dovecot.user}"', f'username = "{SCALE_USER}"')
    config.write_text(text, encoding="utf-8")
    (workdir / "units.csv").write_text(units_csv(roster), encoding="utf-8-sig")
    return config


def _intake(config: Path, workdir: Path, *args: str, timeout: float = 600) -> ChildRun:
    run = run_child([str(INTAKE), "--config", str(config), "--now", NOW, *args], workdir, timeout=timeout)
    if run.returncode != 0:
        raise RuntimeError(f"intake {' '.join(args)} exited {run.returncode}:\n{run.stdout}\n{run.stderr[-4000:]}")
    return run


def drain_outbox(config: Path) -> float:
    """Send the replies left by a large first run (a flush sends at most 500), so the poll that follows is
    idle; the seconds it took."""
    from bot.adapters.config_file import load_config
    from bot.bootstrap import build
    from bot.worker.jobs import flush

    app = build(load_config(config))
    clock = _fixed_clock(datetime.fromisoformat(NOW))
    start = time.perf_counter()
    while flush(app, clock).sent:
        pass
    seconds = time.perf_counter() - start
    app.engine.dispose()
    return seconds


def idle_poll(config: Path, workdir: Path, messages: int) -> IdlePoll:
    """Poll cycles over a mailbox with nothing new: in this process (timed without interpreter start-up,
    IMAP commands counted) and once as `intake poll --once`."""
    from bot.adapters.config_file import load_config
    from bot.bootstrap import build
    from bot.worker.jobs import poll_and_flush

    subprocess_seconds = _intake(config, workdir, "poll", "--once").seconds
    app = build(load_config(config))
    clock = _fixed_clock(datetime.fromisoformat(NOW))
    counter = CommandCounter()
    seconds: list[float] = []
    commands: list[str] = []
    for _ in range(IDLE_REPEATS):
        with counter.counting() as names:
            start = time.perf_counter()
            report = poll_and_flush(app, clock)
            seconds.append(time.perf_counter() - start)
        if report.error or (report.poll and report.poll.fetched):
            raise RuntimeError(f"the idle poll was not idle: {report}")
        commands = list(names)
    app.engine.dispose()
    return IdlePoll(messages, commands, seconds, subprocess_seconds)


def _fixed_clock(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def reports(config: Path, workdir: Path) -> list[Report]:
    """status --json, the digest and the XLSX export over the large mailbox, each REPORT_REPEATS times: as
    commands (what staff wait for) and in process (the same work, without interpreter start-up, imports
    and exit)."""
    import json

    from bot.adapters.config_file import load_config
    from bot.bootstrap import build
    from bot.office.digest import write_digest
    from bot.office.exports import write_xlsx
    from bot.office.status import status_report, unit_report

    app = build(load_config(config))
    now = datetime.fromisoformat(NOW)
    campaign = app.config.campaigns[0]
    out = workdir / "reports"
    out.mkdir(exist_ok=True)
    work: list[tuple[str, list[str], Callable[[], object]]] = [
        ("status --json", ["status", "--json"],
         lambda: json.dumps(status_report(app.engine, app.roster, campaign), ensure_ascii=False)),
        ("digest --out", ["digest", "--out", str(out / "d.html")],
         lambda: write_digest(app.digests().build(now), out / "d2.html")),
        ("export --xlsx", ["export", "--xlsx", str(out / "u.xlsx")],
         lambda: write_xlsx(unit_report(app.engine, app.roster, campaign), app.templates, now, campaign.timezone,
                            out / "u2.xlsx")),
    ]
    results = [Report(name, [], []) for name, _args, _work in work]
    for _ in range(REPORT_REPEATS):  # interleaved, so a slow moment of the machine spreads over all three
        for report, (_name, args, in_process) in zip(results, work, strict=True):
            report.command_runs.append(_intake(config, workdir, *args).seconds)
            report.in_process_runs.append(_timed(in_process))
    app.engine.dispose()
    return results


def _timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start
