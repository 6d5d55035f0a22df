"""Pipeline against floor on the same mailbox, alternately, each round from a fresh data folder."""

from __future__ import annotations

import hashlib
import json
import shutil
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.child import ChildRun, run_child
from bench.cpu import NONE, CpuTimes
from bench.load import clear_keyword
from tests.e2e.harness import INTAKE, write_config
from tests.e2e.servers import Dovecot, SmtpSink

NOW = "2020-12-20T10:00:00+08:00"  # inside the campaign: nothing is late
KEYWORD = "$IntakeDone"


@dataclass(frozen=True)
class Round:
    name: str  # pipeline | floor | wire floor | store floor
    seconds: float
    peak_rss_mb: float
    messages: int
    raw_bytes: int
    cpu_s: float = 0.0  # the process's own CPU time (user + system)
    machine: CpuTimes = NONE  # every core's time during the round: the process, Dovecot, the sink, the kernel

    @property
    def messages_per_s(self) -> float:
        return self.messages / self.seconds

    @property
    def mb_per_s(self) -> float:
        return self.raw_bytes / 1e6 / self.seconds


@dataclass
class Throughput:
    messages: int
    raw_bytes: int
    largest_message: int
    pipeline: list[Round] = field(default_factory=list)
    floor: list[Round] = field(default_factory=list)
    wire: list[Round] = field(default_factory=list)  # the wire floor: fetch, SHA-256, one fsync'd write
    store: list[Round] = field(default_factory=list)  # the store floor: the wire floor and every file kept
    reprocess: list[Round] = field(default_factory=list)  # `intake reprocess --all` after each pipeline round
    kinds: dict[str, int] = field(default_factory=dict)  # the mix of the mailbox
    stored_states: dict[str, int] = field(default_factory=dict)
    replies_sent: int = 0
    profile: list[str] = field(default_factory=list)  # Markdown summary of the profiled round

    @staticmethod
    def best(rounds: list[Round]) -> Round:
        return min(rounds, key=lambda r: r.seconds)

    @property
    def ratio(self) -> float:
        """Pipeline throughput ÷ floor throughput, best round of each (same messages, so a time ratio)."""
        return self.best(self.floor).seconds / self.best(self.pipeline).seconds

    @property
    def wire_ratio(self) -> float:
        """Pipeline throughput ÷ the wire floor's (best round of each)."""
        return self.best(self.wire).seconds / self.best(self.pipeline).seconds

    @property
    def store_ratio(self) -> float:
        """Pipeline throughput ÷ the store floor's (best round of each)."""
        return self.best(self.store).seconds / self.best(self.pipeline).seconds

    @property
    def median_ratio(self) -> float:
        return statistics.median(r.seconds for r in self.floor) / statistics.median(r.seconds for r in self.pipeline)

    @property
    def peak_rss_mb(self) -> float:
        return max(r.peak_rss_mb for r in self.pipeline)


def intake_command(folder: Path, bot_source: Path | None = None, profile: Path | None = None) -> list[str]:
    """The `intake` command; from another checkout of the bot (`bot_source`, for before/after figures)
    and/or under cProfile (`profile`: where the stats go), through a launcher written in `folder`."""
    if bot_source is None and profile is None:
        return [str(INTAKE)]
    launcher = "import sys; from bot.cli.main import main; sys.argv[0] = 'intake'; sys.exit(main())"
    if bot_source is not None:
        launcher = f"import sys; sys.path.insert(0, {str(bot_source.resolve())!r}); " + launcher
    script = folder.resolve() / "intake_launcher.py"  # run from each round's own folder
    script.write_text(launcher + "\n", encoding="utf-8")
    prefix = [sys.executable, "-m", "cProfile", "-o", str(profile)] if profile is not None else [sys.executable]
    return [*prefix, str(script)]


def pipeline_round(
    workdir: Path, dovecot: Dovecot, sink: SmtpSink, units_csv: str, expected: int,
    command: list[str] | None = None, reprocess: bool = False,
) -> tuple[Round, dict]:
    """`intake poll --once` over the whole mailbox from a fresh folder; the sink receives the replies. With
    `reprocess`, then `intake reprocess --all` over what it stored (`extra["reprocess"]`)."""
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    config = write_config(workdir, dovecot, sink)
    (workdir / "units.csv").write_text(units_csv, encoding="utf-8-sig")
    clear_keyword(dovecot, KEYWORD)
    sink.clear()
    run = run_child([*(command or [str(INTAKE)]), "--config", str(config), "--now", NOW, "poll", "--once"], workdir)
    _check(run, "intake poll --once")
    states = _states(config)
    if sum(states.values()) != expected:
        raise RuntimeError(f"intake recorded {sum(states.values())} of {expected} messages: {states}\n{run.stdout}")
    if bad := _archive_mismatches(config):  # a fast pipeline that archives the wrong bytes is no result
        raise RuntimeError(f"{len(bad)} archived messages do not match their hash, first {bad[0]}")
    raw_bytes = _raw_total(dovecot)
    extra: dict = {"states": states, "replies": len(sink.messages), "stdout": run.stdout.strip()}
    if reprocess:  # every stored message through the pipeline again, from the archive: no fetch, no reply
        again = run_child([*(command or [str(INTAKE)]), "--config", str(config), "--now", NOW, "reprocess", "--all"],
                          workdir)
        _check(again, "intake reprocess --all")
        stored = states.get("stored", 0)
        extra["reprocess"] = Round("reprocess --all", again.seconds, again.peak_rss_mb, stored,
                                   _archived_bytes(config), again.cpu_seconds, again.machine)
    shutil.rmtree(workdir / "data", ignore_errors=True)
    return Round("pipeline", run.seconds, run.peak_rss_mb, expected, raw_bytes, run.cpu_seconds, run.machine), extra


def floor_round(workdir: Path, dovecot: Dovecot, expected: int, wire: bool = False, store: bool = False) -> Round:
    """The standard library's floor, or with `wire` the wire floor, or with `store` the store floor
    (bench/floor.py)."""
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    args = [sys.executable, "-m", "bench.floor", "--host", dovecot.host, "--port", str(dovecot.port),
            "--user", dovecot.user, "--password", dovecot.password, "--out", str(workdir / "files"),
            *(["--wire"] if wire else []), *(["--store"] if store else [])]
    run = run_child(args, Path.cwd())
    _check(run, "bench.floor")
    counts = json.loads(run.stdout)
    if counts["messages"] != expected:
        raise RuntimeError(f"the floor fetched {counts['messages']} of {expected} messages")
    shutil.rmtree(workdir, ignore_errors=True)
    name = "store floor" if store else "wire floor" if wire else "floor"
    return Round(name, run.seconds, run.peak_rss_mb, counts["messages"], counts["raw_bytes"], run.cpu_seconds,
                 run.machine)


def _check(run: ChildRun, what: str) -> None:
    if run.returncode != 0:
        raise RuntimeError(f"{what} exited {run.returncode}:\n{run.stdout}\n{run.stderr[-4000:]}")


def _states(config: Path) -> dict[str, int]:
    """Messages by ledger state, from the config's database (SQLite or PostgreSQL)."""
    from sqlalchemy import create_engine, text

    from bot.adapters.config_file import load_config

    engine = create_engine(load_config(config).storage.database_url)
    try:
        with engine.connect() as connection:
            return {state: count for state, count in
                    connection.execute(text("SELECT state, count(*) FROM message GROUP BY state"))}
    finally:
        engine.dispose()




def _archived_bytes(config: Path) -> int:
    """The raw bytes of the stored messages, as the ledger records them."""
    from sqlalchemy import create_engine, text

    from bot.adapters.config_file import load_config

    engine = create_engine(load_config(config).storage.database_url)
    try:
        with engine.connect() as c:
            return int(c.execute(text("SELECT coalesce(sum(raw_size), 0) FROM message WHERE state = 'stored'"))
                       .scalar_one())
    finally:
        engine.dispose()


def _archive_mismatches(config: Path) -> list[str]:
    """Archived raw messages whose bytes do not have the SHA-256 their row and their name give."""
    from sqlalchemy import create_engine, text

    from bot.adapters.config_file import load_config

    loaded = load_config(config)
    engine = create_engine(loaded.storage.database_url)
    try:
        with engine.connect() as c:
            rows = c.execute(text("SELECT raw_path, raw_sha256 FROM message WHERE raw_path IS NOT NULL")).all()
    finally:
        engine.dispose()
    data = loaded.storage.data_dir
    return [path for path, digest in rows if not (path.endswith(f"{digest}.eml") and
                                                   hashlib.sha256((data / path).read_bytes()).hexdigest() == digest)]


def _raw_total(dovecot: Dovecot) -> int:
    """The mailbox's size in bytes as the server reports it (RFC822.SIZE of every message)."""
    from tests.e2e.servers import imap_login

    with imap_login(dovecot) as client:
        client.select_folder("INBOX", readonly=True)
        uids = client.search("ALL")
        sizes = client.fetch(uids, ["RFC822.SIZE"]) if uids else {}
    return sum(int(item[b"RFC822.SIZE"]) for item in sizes.values())
