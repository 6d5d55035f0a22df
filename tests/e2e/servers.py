"""Real servers on loopback for end-to-end tests: a throwaway Dovecot IMAP server and an SMTP sink.

Dovecot runs from its own config in a fresh temporary directory (never /etc/dovecot); mail is stored in
Maildir owned by the unprivileged `nobody` user, because Dovecot refuses mail access as root. The helpers
below (`append`, `fetch_flags`, `list_uids`, ...) talk to it with imapclient, like the bot does.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from imapclient import IMAPClient, imap_utf7

LOOPBACK = "127.0.0.1"
DOVECOT_BINARY = shutil.which("dovecot", path=os.pathsep.join(["/usr/sbin", "/usr/local/sbin", os.defpath]))
STOP_TIMEOUT = 5.0  # seconds before stop() turns to SIGKILL
LINGER_AT_SHUTDOWN = {"dovecot", "anvil", "log"}  # the master and the helpers it keeps until the end
MAIL_OWNER = "nobody"  # any non-root account works; Dovecot will not touch mail as uid 0


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that was free a moment ago (the usual bind-to-0 trick; the race is harmless on loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def dovecot_missing_reason() -> str | None:
    """Why Dovecot cannot run here, or None when it can."""
    if DOVECOT_BINARY is None:
        return "dovecot is not installed (apt-get install dovecot-imapd, or run `make install` as root)"
    if os.geteuid() != 0:
        return "the Dovecot test server must be started as root (it drops to the dovecot/nobody users)"
    return None


class Dovecot:
    """One Dovecot instance with its own config, users and Maildirs in a temporary directory.

    `start()`, `stop()` and `restart()` may be called any number of times; the port and the mail survive a
    restart. `cleanup()` stops the server and removes the directory. Users are `name -> password`; the first
    one is `user`/`password`. Dovecot reports INTERNALDATE in the time zone `tz` (the instant is what it
    stores; the offset shown is the server's).
    """

    def __init__(
        self,
        users: Mapping[str, str] | None = None,
        *,
        tz: str = "Asia/Shanghai",
        start_timeout: float = 10.0,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        reason = dovecot_missing_reason()
        if reason is not None:
            raise RuntimeError(reason)
        self.host = LOOPBACK
        self.port = 0
        self.tls = tls  # (certificate, key): also listen for IMAPS on tls_port
        self.tls_port = 0
        self.tz = tz
        self.start_timeout = start_timeout
        self.users: dict[str, str] = dict(users or {"intake@example.org": "secret"})
        # Short path on purpose: Dovecot's unix sockets live under base_dir (108-byte limit for socket paths).
        self.root = Path(tempfile.mkdtemp(prefix="dovecot-"))
        self.root.chmod(0o755)  # the auth process (user dovecot) and mail processes (nobody) must traverse it
        self.config_path = self.root / "dovecot.conf"
        self.log_path = self.root / "dovecot.log"
        self.passwd_path = self.root / "users"
        self._owner = pwd.getpwnam(MAIL_OWNER)
        self._proc: subprocess.Popen[bytes] | None = None
        for name in self.users:
            self._make_home(name)
        self._write_passwd()

    # -- identity -----------------------------------------------------------------------------------------

    @property
    def user(self) -> str:
        return next(iter(self.users))

    @property
    def password(self) -> str:
        return self.users[self.user]

    @property
    def pid(self) -> int | None:
        """The master's process id (also its process group id) while started, else None."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def add_user(self, name: str, password: str) -> None:
        """Add a mail account; Dovecot rereads the passwd-file by itself, so this works while running."""
        if ":" in name or ":" in password:
            raise ValueError("passwd-file entries cannot contain ':'")
        self.users[name] = password
        self._make_home(name)
        self._write_passwd()

    def home(self, user: str | None = None) -> Path:
        return self.root / "home" / (user or self.user)

    def maildir(self, user: str | None = None) -> Path:
        return self.home(user) / "Maildir"

    def folder_dir(self, folder: str = "INBOX", user: str | None = None) -> Path:
        """The Maildir++ directory Dovecot keeps `folder` in (INBOX is the Maildir itself)."""
        if folder.upper() == "INBOX":
            return self.maildir(user)
        return self.maildir(user) / ("." + imap_utf7.encode(folder).decode("ascii"))

    # -- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> None:
        if self.running:
            raise RuntimeError("Dovecot is already running")
        if self.port == 0:
            self.port = free_port(self.host)
        if self.tls and self.tls_port == 0:
            self.tls_port = free_port(self.host)
        self.config_path.write_text(self._config())
        # Nothing of ours runs now, so a lock left by a master killed in stop() is stale; the next master
        # would otherwise wait minutes for it.
        (self.root / "state" / "instances.lock").unlink(missing_ok=True)
        with self.log_path.open("ab") as console:
            self._proc = subprocess.Popen(
                [str(DOVECOT_BINARY), "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                env={"PATH": os.defpath, "TZ": self.tz},
                start_new_session=True,  # its own process group, so stop() can sweep up every child
            )
        try:
            self._wait_for_greeting()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the master and every process it started; leaves nothing running.

        SIGTERM goes to the whole process group at once (the signal the master would pass on to its
        children). The processes that touch mail exit within milliseconds, but `anvil` and `log` sometimes
        linger for 1 to 6 seconds, and the master waits for them; once only they are left they are killed
        (they hold no mail) and the master exits by itself. The master itself is killed only after
        STOP_TIMEOUT: killed, it leaves a stale state/instances.lock that start() removes.
        """
        proc, self._proc = self._proc, None
        if proc is None:
            return
        pgid = proc.pid
        with suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while members := process_group_members(pgid):
            if time.monotonic() > deadline:
                _kill_group(pgid)
            elif set(members.values()) <= LINGER_AT_SHUTDOWN:
                for pid, name in members.items():
                    if name != "dovecot":
                        with suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)
            proc.poll()  # reap the master, or it stays a zombie of ours

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Dovecot:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def reset_uidvalidity(self, folder: str = "INBOX", user: str | None = None) -> int:
        """Make the server forget `folder`'s UIDs, as after a server migration; return the new UIDVALIDITY.

        Stops Dovecot, deletes the folder's `dovecot-uidlist` and index files (and the mailbox list index,
        which caches UIDVALIDITY for STATUS), then starts it again. The messages stay, but Dovecot assigns
        them new UIDs from 1 under a new, higher UIDVALIDITY (it keeps counting in `dovecot-uidvalidity`).
        """
        was_running = self.running
        self.stop()
        doomed = [self.folder_dir(folder, user) / "dovecot-uidlist"]
        doomed += self.folder_dir(folder, user).glob("dovecot.index*")
        doomed += self.maildir(user).glob("dovecot.list.index*")
        for path in doomed:
            path.unlink(missing_ok=True)
        self.start()
        try:
            return uidvalidity(self, folder, user)
        finally:
            if not was_running:
                self.stop()

    # -- internals ----------------------------------------------------------------------------------------

    def _make_home(self, name: str) -> None:
        home = self.home(name)
        home.mkdir(parents=True, exist_ok=True)
        os.chown(home, self._owner.pw_uid, self._owner.pw_gid)

    def _write_passwd(self) -> None:
        lines = [
            f"{name}:{{PLAIN}}{password}:{self._owner.pw_uid}:{self._owner.pw_gid}::{self.home(name)}::\n"
            for name, password in self.users.items()
        ]
        tmp = self.passwd_path.with_suffix(".tmp")
        tmp.write_text("".join(lines))
        tmp.chmod(0o644)
        tmp.replace(self.passwd_path)

    def _config(self) -> str:
        return "\n".join(
            [
                f"base_dir = {self.root / 'run'}",
                f"state_dir = {self.root / 'state'}",
                f"log_path = {self.log_path}",
                "protocols = imap",
                f"listen = {self.host}",
                *self._ssl_settings(),
                "disable_plaintext_auth = no",
                "auth_mechanisms = plain login",
                "auth_failure_delay = 0",  # a wrong password fails at once instead of after 2 s
                f"first_valid_uid = {self._owner.pw_uid}",
                f"last_valid_uid = {self._owner.pw_uid}",
                "mail_location = maildir:~/Maildir",
                "imap_id_log = *",  # the log shows what a client says in the IMAP ID command
                "passdb {",
                "  driver = passwd-file",
                f"  args = {self.passwd_path}",
                "}",
                "userdb {",
                "  driver = passwd-file",
                f"  args = {self.passwd_path}",
                "}",
                "service imap-login {",
                "  inet_listener imap {",
                f"    port = {self.port}",
                "  }",
                "  inet_listener imaps {",
                f"    port = {self.tls_port}",
                "    ssl = yes" if self.tls else "",
                "  }",
                "}",
                "",
            ]
        )

    def _ssl_settings(self) -> list[str]:
        """Plain IMAP for the helpers; with `tls`, IMAPS too on `tls_port` (and STARTTLS on `port`)."""
        if not self.tls:
            return ["ssl = no"]
        cert, key = self.tls
        return ["ssl = yes", f"ssl_cert = <{cert}", f"ssl_key = <{key}"]

    def _wait_for_greeting(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(f"dovecot exited with {self._proc.returncode}:\n{self.log_text()[-3000:]}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as sock:
                    if sock.recv(256).startswith(b"* OK"):
                        return
            except OSError as error:
                last_error = error
            time.sleep(0.01)
        raise TimeoutError(f"dovecot did not greet on {self.host}:{self.port} ({last_error}):\n{self.log_text()}")


def process_group_members(pgid: int) -> dict[int, str]:
    """Live (non-zombie) processes in process group `pgid` as pid -> command name, from /proc (Linux).

    Zombies do not count: PID 1 reaps the master's orphans in its own time (here up to ~2 s).
    """
    members = {}
    # Not Path.glob: it checks each match with stat(), which raises for a process that ended in between.
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat_path = Path("/proc", entry, "stat")
        try:
            stat = stat_path.read_text()
        except OSError:  # the process ended while we looked
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, _ppid, pgrp = stat[stat.rindex(")") + 1 :].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            members[int(stat_path.parent.name)] = name
    return members


def _kill_group(pgid: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


# -- IMAP helpers (imapclient, as the bot uses it) -------------------------------------------------------

RECENT = b"\\Recent"
APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]")


@contextmanager
def imap_login(dovecot: Dovecot, user: str | None = None) -> Iterator[IMAPClient]:
    """A logged-in IMAPClient that keeps the server's time zones (`normalise_times = False`)."""
    name = user or dovecot.user
    client = IMAPClient(dovecot.host, dovecot.port, ssl=False, timeout=10)
    client.normalise_times = False
    try:
        client.login(name, dovecot.users[name])
        yield client
    finally:
        with suppress(Exception):
            client.logout()


def append(
    dovecot: Dovecot,
    raw: bytes,
    internaldate: datetime,
    folder: str = "INBOX",
    flags: Iterable[str] = (),
    user: str | None = None,
) -> int:
    """APPEND `raw` unchanged with the given INTERNALDATE (an aware datetime); return its UID."""
    if internaldate.tzinfo is None or internaldate.utcoffset() is None:
        raise ValueError("internaldate must be timezone-aware")
    with imap_login(dovecot, user) as client:
        response = client.append(folder, raw, flags=tuple(flags), msg_time=internaldate)
    match = APPENDUID.search(response)
    if match is None:
        raise RuntimeError(f"no APPENDUID in {response!r}")
    return int(match.group(2))


def list_uids(dovecot: Dovecot, folder: str = "INBOX", user: str | None = None) -> list[int]:
    with imap_login(dovecot, user) as client:
        client.select_folder(folder, readonly=True)
        return sorted(client.search("ALL"))


def fetch_flags(dovecot: Dovecot, folder: str = "INBOX", user: str | None = None) -> dict[int, tuple[str, ...]]:
    r"""UID -> its stored flags and keywords as sorted strings, e.g. {1: ('$IntakeDone', '\\Seen')}.

    `\Recent` is left out: it belongs to whichever session saw the message first, not to the message.
    """
    with imap_login(dovecot, user) as client:
        client.select_folder(folder, readonly=True)
        uids = client.search("ALL")
        found = client.get_flags(uids) if uids else {}
    return {uid: tuple(sorted(flag.decode() for flag in flags if flag != RECENT)) for uid, flags in found.items()}


def create_folder(dovecot: Dovecot, folder: str, user: str | None = None) -> None:
    with imap_login(dovecot, user) as client:
        client.create_folder(folder)


def uidvalidity(dovecot: Dovecot, folder: str = "INBOX", user: str | None = None) -> int:
    with imap_login(dovecot, user) as client:
        return int(client.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"])


# -- SMTP sink ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SinkMessage:
    """One message as the sink received it: envelope and the DATA bytes (dot-unstuffed, CRLF line ends)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    login: str | None  # the AUTH user name, None when the client did not log in


Stage = Literal["RCPT", "DATA"]


class _SinkHandler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        refusal = self.sink._refusal("RCPT")
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        refusal = self.sink._refusal("DATA")
        if refusal is not None:
            return refusal
        data = envelope.original_content if envelope.original_content is not None else envelope.content
        assert isinstance(data, bytes)
        auth = session.auth_data
        login = auth.login.decode("utf-8", "replace") if isinstance(auth, LoginPassword) else None
        self.sink._record(SinkMessage(envelope.mail_from or "", tuple(envelope.rcpt_tos), data, login))
        return "250 Message accepted for delivery"


def _accept_any_login(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object
) -> AuthResult:
    return AuthResult(success=True, auth_data=auth_data)


class SmtpSink:
    """An SMTP server on loopback that keeps every message it accepts.

    AUTH PLAIN and LOGIN are offered without TLS and any credentials succeed, so a client's login code
    runs. `refuse_with(451)` makes it answer 451 to DATA (or to RCPT with `stage="RCPT"`) until
    `refuse_with(None)`.
    """

    def __init__(self, host: str = LOOPBACK, port: int = 0, data_size_limit: int = 100 * 1024 * 1024,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context  # implicit TLS (SMTPS) when set
        self.host = host
        self.port = port
        self.data_size_limit = data_size_limit
        self._messages: list[SinkMessage] = []
        self._refusal_rule: tuple[int, Stage] | None = None
        self._changed = threading.Condition()
        self._controller: Controller | None = None

    def start(self) -> None:
        if self._controller is not None:
            raise RuntimeError("SMTP sink is already running")
        if self.port == 0:
            self.port = free_port(self.host)
        controller = Controller(
            _SinkHandler(self),
            hostname=self.host,
            port=self.port,
            server_hostname="sink.test",
            authenticator=_accept_any_login,
            auth_require_tls=False,
            enable_SMTPUTF8=True,
            data_size_limit=self.data_size_limit,
            ssl_context=self.ssl_context,
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def messages(self) -> list[SinkMessage]:
        with self._changed:
            return list(self._messages)

    def clear(self) -> None:
        with self._changed:
            self._messages.clear()

    def refuse_with(self, code: int | None, stage: Stage = "DATA") -> None:
        """Answer `code` (e.g. 451 or 550) at `stage` from now on; None accepts again."""
        if code is not None and not 400 <= code <= 599:
            raise ValueError(f"a refusal needs a 4xx or 5xx code, not {code}")
        with self._changed:
            self._refusal_rule = None if code is None else (code, stage)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[SinkMessage]:
        """Block until at least `count` messages have arrived; return them all."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._messages) >= count, timeout=timeout):
                raise TimeoutError(f"SMTP sink got {len(self._messages)} of {count} messages in {timeout}s")
            return list(self._messages)

    def _record(self, message: SinkMessage) -> None:
        with self._changed:
            self._messages.append(message)
            self._changed.notify_all()

    def _refusal(self, stage: Stage) -> str | None:
        with self._changed:
            rule = self._refusal_rule
        if rule is None or rule[1] != stage:
            return None
        code = rule[0]
        return f"{code} {code // 100}.0.0 Refused by the test sink"
