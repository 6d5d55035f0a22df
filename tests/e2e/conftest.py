"""Fixtures for end-to-end tests: a fresh Dovecot and a fresh SMTP sink per test, both on loopback.

Every test under tests/e2e is marked `e2e`. When Dovecot cannot run here the tests are skipped, unless
INTAKE_REQUIRE_E2E=1 (set by .ci/run), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import harness
from tests.e2e.postgres import PostgresCluster, postgres_missing_reason
from tests.e2e.servers import Dovecot, SmtpSink, dovecot_missing_reason

HERE = Path(__file__).parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: needs Dovecot and an SMTP server on loopback")
    # aiosmtpd itself sets the attribute it deprecates, on every successful AUTH
    config.addinivalue_line("filterwarnings", "ignore:Session.login_data is deprecated:DeprecationWarning")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.e2e)


def _require_dovecot() -> None:
    reason = dovecot_missing_reason()
    if reason is None:
        return
    if os.environ.get("INTAKE_REQUIRE_E2E") == "1":
        pytest.fail(f"INTAKE_REQUIRE_E2E=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def dovecot(tmp_path: Path) -> Iterator[Dovecot]:
    """A running Dovecot with one user (`dovecot.user` / `dovecot.password`) and an empty INBOX.

    Its log is copied to tmp_path/dovecot.log at teardown for post-mortems.
    """
    _require_dovecot()
    server = Dovecot()
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if server.log_path.exists():
            shutil.copyfile(server.log_path, tmp_path / "dovecot.log")
        server.cleanup()


@pytest.fixture(scope="session", autouse=True)
def test_database() -> Iterator[str]:
    """With INTAKE_TEST_DATABASE=postgresql, one throwaway PostgreSQL cluster for the session and a fresh
    database in every config the tests write (tests/e2e/harness.py storage_section); else SQLite."""
    if os.environ.get("INTAKE_TEST_DATABASE", "sqlite") != "postgresql":
        yield "sqlite"
        return
    reason = postgres_missing_reason()
    if reason is not None:
        pytest.fail(f"INTAKE_TEST_DATABASE=postgresql but {reason}", pytrace=False)
    cluster = PostgresCluster()
    cluster.start()
    harness.DATABASES = cluster
    try:
        yield "postgresql"
    finally:
        harness.DATABASES = None
        cluster.cleanup()


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL cluster of the module's own, whatever INTAKE_TEST_DATABASE says (for tests that
    use both databases at once: migrations, moving SQLite to PostgreSQL)."""
    reason = postgres_missing_reason()
    if reason is not None:
        if os.environ.get("INTAKE_REQUIRE_E2E") == "1":
            pytest.fail(f"INTAKE_REQUIRE_E2E=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    cluster = PostgresCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.cleanup()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A running SMTP sink (`smtp_sink.host`, `smtp_sink.port`) that accepts any login."""
    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()
