"""NetEase's "Unsafe Login": a minimal IMAP server on loopback that refuses SELECT as 163 does."""

from __future__ import annotations

import socket
import socketserver
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import INTAKE, write_config
from tests.e2e.servers import SmtpSink

pytestmark = pytest.mark.any_database  # runs once, in the SQLite pass: see pyproject.toml


class _Unsafe163(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        self.wfile.write(b"* OK Coremail System IMap Server Ready(163com[10.0.0.1])\r\n")
        for line in self.rfile:
            tag, _, rest = line.decode("ascii", "replace").strip().partition(" ")
            command = rest.split(" ", 1)[0].upper()
            if command == "CAPABILITY":
                self.wfile.write(b"* CAPABILITY IMAP4rev1 XLIST SPECIAL-USE ID LITERAL+ STARTTLS\r\n")
                self.wfile.write(f"{tag} OK CAPABILITY completed\r\n".encode())
            elif command == "LOGIN":
                self.wfile.write(f"{tag} OK LOGIN completed\r\n".encode())
            elif command == "ID":
                self.wfile.write(b'* ID ("name" "Coremail Imap")\r\n' + f"{tag} OK ID completed\r\n".encode())
            elif command in ("SELECT", "EXAMINE"):
                self.wfile.write(f"{tag} NO SELECT Unsafe Login. Please contact kefu@188.com for help\r\n".encode())
            elif command == "LOGOUT":
                self.wfile.write(b"* BYE\r\n" + f"{tag} OK LOGOUT completed\r\n".encode())
                return
            else:
                self.wfile.write(f"{tag} BAD unknown command\r\n".encode())


@pytest.fixture
def unsafe_server() -> Iterator[tuple[str, int]]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Unsafe163)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address  # type: ignore[misc]
    finally:
        server.shutdown()
        server.server_close()


def test_unsafe_login_is_explained_in_words_a_person_can_act_on(
    tmp_path: Path, unsafe_server: tuple[str, int], smtp_sink: SmtpSink
) -> None:
    host, port = unsafe_server
    stub = type("Stub", (), {"host": host, "port": port, "user": "collect@163.example", "password": "code"})()
    config = write_config(tmp_path, stub, smtp_sink)  # type: ignore[arg-type]
    proc = subprocess.run([str(INTAKE), "--config", str(config), "poll", "--once"], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert proc.returncode == 1
    assert "Unsafe Login" in proc.stdout and "授权码" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    with socket.create_connection((host, port), timeout=5):
        pass  # the server is still there: the bot gave up cleanly, no busy loop
