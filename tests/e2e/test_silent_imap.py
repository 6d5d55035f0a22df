"""An IMAP server that accepts the connection and then goes silent: `poll --once` gives up in bounded time.

A minimal loopback server answers up to a chosen command and then reads without ever answering. With
`timeout_seconds = 2` and one short retry delay the bot must try exactly twice, stop with the
catalogue's mailbox error and exit 1: no traceback, no busy loop, nothing stored.
"""

from __future__ import annotations

import re
import resource
import socketserver
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.harness import INTAKE, Setup, write_config
from tests.e2e.servers import SmtpSink

pytestmark = pytest.mark.any_database  # runs once, in the SQLite pass: see pyproject.toml

TIMEOUT = 2
RETRY_DELAYS = (0.2,)


@dataclass
class Silent:
    """Where the server stops answering, and what it saw."""

    silent_at: str  # "accept" (no greeting), "greeting" (greets, then nothing), or a command: SELECT, FETCH …
    connections: list[float] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)


def _handler(state: Silent) -> type[socketserver.StreamRequestHandler]:
    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            state.connections.append(time.monotonic())
            if state.silent_at == "accept":
                self._drain()
                return
            self.wfile.write(b"* OK IMAP4rev1 Service Ready\r\n")
            if state.silent_at == "greeting":
                self._drain()
                return
            for line in self.rfile:
                tag, _, rest = line.decode("ascii", "replace").strip().partition(" ")
                words = rest.split(" ")
                command = words[1].upper() if words[0].upper() == "UID" else words[0].upper()
                state.commands.append(command)
                if command == state.silent_at:
                    self._drain()
                    return
                self.wfile.write(self._answer(tag, command))

        def _answer(self, tag: str, command: str) -> bytes:
            done = f"{tag} OK {command} completed\r\n".encode()
            if command == "CAPABILITY":
                return b"* CAPABILITY IMAP4rev1 UIDPLUS\r\n" + done
            if command == "SELECT":
                return (b"* FLAGS (\\Seen)\r\n* 1 EXISTS\r\n* OK [UIDVALIDITY 7] UIDs valid\r\n"
                        b"* OK [UIDNEXT 2] Predicted next UID\r\n* OK [PERMANENTFLAGS (\\Seen \\*)] Ok\r\n"
                        + f"{tag} OK [READ-WRITE] SELECT completed\r\n".encode())
            if command == "SEARCH":
                return b"* SEARCH 1\r\n" + done
            if command == "LOGOUT":
                return b"* BYE\r\n" + done
            return done

        def _drain(self) -> None:
            """Read and never answer, until the client hangs up."""
            while self.rfile.readline():
                pass

    return Handler


@pytest.fixture
def silent_server(request: pytest.FixtureRequest) -> Iterator[tuple[Silent, tuple[str, int]]]:
    state = Silent(request.param)
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, server.server_address  # type: ignore[misc]
    finally:
        server.shutdown()
        server.server_close()


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@pytest.mark.parametrize(
    ("silent_server", "commands"),
    [
        ("accept", []),
        ("greeting", []),
        ("SELECT", ["CAPABILITY", "LOGIN", "CAPABILITY", "SELECT"]),
        ("FETCH", ["CAPABILITY", "LOGIN", "CAPABILITY", "SELECT", "SEARCH", "FETCH"]),
    ],
    indirect=["silent_server"],
)
def test_a_server_that_goes_silent_is_given_up_in_bounded_time(
    tmp_path: Path, silent_server: tuple[Silent, tuple[str, int]], commands: list[str], smtp_sink: SmtpSink
) -> None:
    state, (host, port) = silent_server
    stub = type("Stub", (), {"host": host, "port": port, "user": "collect@163.example", "password": "code"})()
    config = write_config(tmp_path, stub, smtp_sink)  # type: ignore[arg-type]
    text = config.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^timeout_seconds = 20\n(retry_delays = .*\n)",
                  f"timeout_seconds = {TIMEOUT}\nretry_delays = {list(RETRY_DELAYS)}\n", text, count=1)
    assert f"timeout_seconds = {TIMEOUT}\n" in text
    config.write_text(text, encoding="utf-8")

    cpu_before = _children_cpu_seconds()
    started = time.monotonic()
    proc = subprocess.run([str(INTAKE), "--config", str(config), "poll", "--once"], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    elapsed = time.monotonic() - started
    cpu = _children_cpu_seconds() - cpu_before

    attempts = len(RETRY_DELAYS) + 1
    assert proc.returncode == 1
    output = " ".join(proc.stdout.split())
    assert "邮箱连接失败：" in output
    assert f"IMAP server {host}:{port} did not answer within {TIMEOUT} s" in output
    assert "Traceback" not in proc.stdout + proc.stderr
    # One connection per attempt, each given up after one timeout: no busy loop of reconnections ...
    assert len(state.connections) == attempts
    assert state.commands == commands * attempts
    gaps = [b - a for a, b in zip(state.connections, state.connections[1:], strict=False)]
    assert all(TIMEOUT <= gap < TIMEOUT + 3 for gap in gaps), gaps
    assert elapsed < attempts * TIMEOUT + sum(RETRY_DELAYS) + 10
    # ... and no spinning while waiting: the waits themselves cost no CPU.
    assert cpu < elapsed - attempts * TIMEOUT + 1, (cpu, elapsed)
    # Nothing stored: no message rows, and no file besides the database and the worker lock.
    assert Setup(tmp_path, config, tmp_path / "data", stub, smtp_sink).query(  # type: ignore[arg-type]
        "SELECT count(*) FROM message") == [(0,)]
    files = {p.name for p in (tmp_path / "data").rglob("*") if p.is_file()}
    assert files - {"intake.db", "intake.db-wal", "intake.db-shm"} == {"intake.lock"}
