"""The migrations on both databases: an empty database and a filled one at the previous schema upgrade to the
latest, on SQLite and on a throwaway PostgreSQL cluster, every row kept and the schema that of the tables."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

from storage.db import make_engine
from storage.schema import HEAD, SchemaOutOfDate, upgrade

pytestmark = pytest.mark.any_database  # runs once, in the SQLite pass: see pyproject.toml

PREVIOUS = "0004"  # the release before this one; "0003", the one before that, must upgrade as well


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'intake.db'}"
    return request.getfixturevalue("postgres").create_database("mig")


def at_previous_schema(url: str, previous: str = PREVIOUS) -> None:
    """A database as an earlier release left it, with a message, its file, a reply and a campaign."""
    from alembic import command

    from storage.schema import _config

    engine = make_engine(url, prepare=False)
    with engine.begin() as connection:
        command.upgrade(_config(connection), previous)
        connection.execute(text(
            "INSERT INTO message (id, folder, uidvalidity, uid, key, state, attempts, disposition, received_at,"
            " message_id, from_addr, subject, unit, match_how, late, reply_kind, marked, campaign)"
            " VALUES (1, 'INBOX', 7, 1, 'k1', 'stored', 1, 'accepted', '2020-12-10 02:00:00', 'm1@x',"
            " 'dc@example.cn', '东城区文明办报送材料', '东城区文明办', 'address', false, 'receipt', true,"
            " 'idv-2020')"))
        connection.execute(text(
            "INSERT INTO item (id, message_row_id, unit, campaign, category, filename, path, source, size, sha256,"
            " kind, reason, counted, already_stored, late, has_exif) VALUES (1, 1, '东城区文明办', 'idv-2020',"
            " 'photo', '1.jpg', 'idv-2020/东城区文明办/photo/1.jpg', '', 1100000, 'ab', 'jpeg', 'type:jpeg',"
            " true, false, false, true)"))
    engine.dispose()


def test_an_empty_database_upgrades_to_the_schema_of_the_tables(url: str) -> None:
    engine = make_engine(url, prepare=False)
    assert upgrade(engine) == (None, HEAD)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []
    engine.dispose()


@pytest.mark.parametrize("previous", [PREVIOUS, "0003"])
def test_a_filled_database_of_the_previous_schema_is_refused_then_upgraded_with_every_row(url: str,
                                                                                          previous: str) -> None:
    at_previous_schema(url, previous)
    with pytest.raises(SchemaOutOfDate):
        make_engine(url)
    engine = make_engine(url, prepare=False)
    assert upgrade(engine, "idv-2020") == (previous, HEAD)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []
        rows = connection.execute(text("SELECT id, subject, unit, campaign, worker, lease_until FROM message"))
        assert rows.all() == [(1, "东城区文明办报送材料", "东城区文明办", "idv-2020", None, None)]
        assert connection.execute(text("SELECT id, path FROM item")).all() == [
            (1, "idv-2020/东城区文明办/photo/1.jpg")]
        assert connection.execute(text("SELECT count(*) FROM account")).scalar_one() == 0
    engine.dispose()
    make_engine(url).dispose()  # now opened as any command opens it
