"""Several workers: the throughput mailbox taken by one `intake poll --once` on SQLite, one on PostgreSQL, and
two and three at once on PostgreSQL (one database, one data folder), in turn within the same run, each round from a
fresh data folder and database. The PostgreSQL server is a throwaway cluster like the tests' (fsync off: the
figures compare the bot's work, not the server's disk)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.child import high_water_kib
from bench.cpu import NONE, CpuTimes, machine_times
from bench.load import clear_keyword
from bench.throughput import KEYWORD, NOW, _states
from tests.e2e.harness import INTAKE, write_config
from tests.e2e.postgres import PostgresCluster
from tests.e2e.servers import Dovecot, SmtpSink

SETS = (("SQLite", 1), ("PostgreSQL", 1), ("PostgreSQL", 2), ("PostgreSQL", 3))


@dataclass(frozen=True)
class WorkersRound:
    database: str  # SQLite | PostgreSQL
    workers: int
    seconds: float  # from the first start to the last exit
    peak_rss_mb: tuple[float, ...]  # each worker's VmHWM
    messages: int
    replies: int
    shares: tuple[int, ...]  # messages each worker finished
    cpu_s: float = 0.0  # the workers' own CPU time together (user + system)
    machine: CpuTimes = NONE  # every core's time during the round (bench/cpu.py)

    @property
    def name(self) -> str:
        return f"{self.database}, {self.workers} worker{'s' if self.workers > 1 else ''}"

    @property
    def messages_per_s(self) -> float:
        return self.messages / self.seconds


@dataclass
class Workers:
    rounds: list[WorkersRound] = field(default_factory=list)

    def of(self, database: str, workers: int) -> list[WorkersRound]:
        return [r for r in self.rounds if r.database == database and r.workers == workers]

    def best(self, database: str, workers: int) -> WorkersRound:
        return min(self.of(database, workers), key=lambda r: r.seconds)

    @property
    def three_over_one(self) -> float:
        """Three workers' throughput ÷ one worker's, on PostgreSQL (best round of each)."""
        return self.best("PostgreSQL", 1).seconds / self.best("PostgreSQL", 3).seconds

    @property
    def postgres_over_sqlite(self) -> float:
        """One worker's throughput on PostgreSQL ÷ on SQLite (best round of each)."""
        return self.best("SQLite", 1).seconds / self.best("PostgreSQL", 1).seconds

    @property
    def peak_rss_mb(self) -> float:
        return max(max(r.peak_rss_mb) for r in self.rounds)


def run_workers(workdir: Path, dovecot: Dovecot, sink: SmtpSink, units_csv: str, expected: int, rounds: int = 1,
                say: Callable[[str], None] = print, intake: list[str] | None = None) -> Workers:
    """Each set of workers in turn, `rounds` times; `intake`: the command to run (default the installed `intake`;
    `bench.throughput.intake_command` gives another checkout's, for before/after figures)."""
    result = Workers()
    cluster = PostgresCluster()
    cluster.start()
    try:
        for n in range(rounds):
            for database, workers in SETS:
                url = cluster.create_database("bench") if database == "PostgreSQL" else None
                found = workers_round(workdir, dovecot, sink, units_csv, expected, url, workers, intake)
                result.rounds.append(found)
                say(f"  workers round {n + 1}, {found.name}: {found.seconds:.2f} s "
                    f"({found.messages_per_s:.1f} msg/s), peak RSS {max(found.peak_rss_mb):.0f} MB")
    finally:
        cluster.cleanup()
    return result


def workers_round(workdir: Path, dovecot: Dovecot, sink: SmtpSink, units_csv: str, expected: int, url: str | None,
                  workers: int, intake: list[str] | None = None) -> WorkersRound:
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    config = write_config(workdir, dovecot, sink)
    (workdir / "units.csv").write_text(units_csv, encoding="utf-8-sig")
    text = re.sub(r'database_url = "[^"]*"\n', "", config.read_text(encoding="utf-8"))  # SQLite unless given one
    if url is not None:
        text = text.replace('[storage]\ndata_dir = "data"\n', f'[storage]\ndata_dir = "data"\ndatabase_url = "{url}"\n')
    config.write_text(text, encoding="utf-8")
    clear_keyword(dovecot, KEYWORD)
    sink.clear()
    command = [*(intake or [str(INTAKE)]), "--config", str(config), "--now", NOW, "poll", "--once"]
    together = run_together([command] * workers, workdir)
    if any(together.codes):
        raise RuntimeError(f"intake poll --once exited {together.codes}:\n" +
                           "\n".join(e[-3000:] for e in together.errors))
    states = _states(config)
    if sum(states.values()) != expected:
        raise RuntimeError(f"{workers} workers recorded {sum(states.values())} of {expected} messages: {states}")
    shares = tuple(sorted((n for (n,) in _query(config, "SELECT count(*) FROM message GROUP BY worker")),
                          reverse=True))
    shutil.rmtree(workdir / "data", ignore_errors=True)
    return WorkersRound("PostgreSQL" if url else "SQLite", workers, together.seconds, tuple(together.peaks),
                        expected, len(sink.messages), shares, together.cpu_s, together.machine)


@dataclass(frozen=True)
class Together:
    seconds: float  # from the first start to the last exit
    peaks: list[float]  # each one's peak RSS (VmHWM), MB
    codes: list[int]
    errors: list[str]  # each one's stderr
    cpu_s: float  # their own CPU time together (user + system)
    machine: CpuTimes  # every core's time meanwhile


def run_together(commands: list[list[str]], cwd: Path, timeout: float = 3600) -> Together:
    """Start every command at once and wait for the last."""
    err_paths = [cwd / f".bench-stderr-{n}" for n in range(len(commands))]
    handles = [p.open("wb") for p in err_paths]
    before = machine_times()
    start = time.perf_counter()
    procs = [subprocess.Popen(c, cwd=cwd, stdout=subprocess.DEVNULL, stderr=h) for c, h in zip(commands, handles,
                                                                                                 strict=True)]
    peaks = [0] * len(procs)
    codes: list[int | None] = [None] * len(procs)
    cpu_s = 0.0
    while None in codes:
        for n, proc in enumerate(procs):
            if codes[n] is not None:
                continue
            peaks[n] = max(peaks[n], high_water_kib(Path(f"/proc/{proc.pid}/status")))
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                codes[n] = os.waitstatus_to_exitcode(status)
                cpu_s += usage.ru_utime + usage.ru_stime
                proc.returncode = codes[n]
            elif time.perf_counter() - start > timeout:
                proc.kill()
        time.sleep(0.004)
    seconds = time.perf_counter() - start
    machine = machine_times() - before
    for handle in handles:
        handle.close()
    errors = [p.read_text(errors="replace") for p in err_paths]
    for path in err_paths:
        path.unlink()
    return Together(seconds, [k / 1024 for k in peaks], [c or 0 for c in codes], errors, cpu_s, machine)


def _query(config: Path, sql: str) -> list[tuple[int]]:
    from sqlalchemy import create_engine, text

    from bot.adapters.config_file import load_config

    engine = create_engine(load_config(config).storage.database_url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql))]  # type: ignore[misc]
    finally:
        engine.dispose()
