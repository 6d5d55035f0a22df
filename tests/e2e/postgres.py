"""A throwaway PostgreSQL cluster for the tests, like the Dovecot of servers.py: Debian's `postgresql` binaries,
`initdb` in a temporary folder owned by the unprivileged `postgres` user (PostgreSQL refuses to run as root),
a loopback port, trust authentication, started and stopped by the test session. Each test gets a database of
its own (`create_database`)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.e2e.servers import LOOPBACK, free_port

OWNER = "postgres"  # Debian's postgresql package makes this account
SUPERUSER = "intake"
RUNUSER = shutil.which("runuser", path="/usr/sbin:/sbin:/usr/bin:/bin") or "runuser"  # util-linux


def binaries() -> Path | None:
    """The newest installed server's bin folder (/usr/lib/postgresql/<version>/bin), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def postgres_missing_reason() -> str | None:
    if binaries() is None:
        return "PostgreSQL is not installed (apt-get install postgresql, or run `make install` as root)"
    if os.geteuid() != 0:
        return "the PostgreSQL test cluster is started as root (it runs as the postgres user)"
    try:
        pwd.getpwnam(OWNER)
    except KeyError:
        return f"no {OWNER} user (Debian's postgresql package makes it)"
    return None


class PostgresCluster:
    """initdb, start, databases, stop: everything under one temporary folder, removed at the end."""

    def __init__(self) -> None:
        bin_dir = binaries()
        if bin_dir is None:
            raise RuntimeError(postgres_missing_reason() or "no PostgreSQL")
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="intake-pg-"))
        self.data = self.root / "data"
        self.port = 0
        self.databases = 0
        owner = pwd.getpwnam(OWNER)
        os.chown(self.root, owner.pw_uid, owner.pw_gid)

    def _as_owner(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([RUNUSER, "-u", OWNER, "--", *args], capture_output=True, text=True,
                              timeout=timeout, cwd=self.root, env={"PATH": os.defpath, "LC_ALL": "C.UTF-8"})
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stdout}{done.stderr}")
        return done

    def start(self) -> None:
        self._as_owner(str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                       "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        self.port = free_port()
        # fsync off: the tests kill processes, never the machine; a commit is visible to the next process.
        options = (f"-p {self.port} -k {self.root} -c listen_addresses={LOOPBACK} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._as_owner(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
                       "-o", options, "-w", "-t", "60", "start")

    def create_database(self, prefix: str = "t") -> str:
        """A fresh, empty database; its SQLAlchemy URL."""
        import psycopg

        self.databases += 1
        name = f"{prefix}{os.getpid()}_{self.databases}"
        with psycopg.connect(host=LOOPBACK, port=self.port, user=SUPERUSER, dbname="postgres",
                             autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        return self.url(name)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@{LOOPBACK}:{self.port}/{database}"

    def stop(self) -> None:
        if self.port and (self.data / "postmaster.pid").exists():
            self._as_owner(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def cleanup(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
