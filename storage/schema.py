"""The database schema's version (Alembic, migrations in storage/migrations/versions/).

A new database is created at the latest version. A database at an older version, or one made before the
schema was versioned, is not touched by the commands: they refuse with `SchemaOutOfDate`, and
`intake db upgrade` brings it up to date in place (`upgrade`), keeping every row.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from storage import tables  # noqa: F401  (registers the tables on SQLModel.metadata)

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001"  # the schema of the releases before versioning
# The latest migration in MIGRATIONS/versions (tests/unit/test_schema.py checks it). Kept here so that opening
# an up-to-date database, what every command does, reads one row and imports nothing of Alembic.
HEAD = "0005"


class SchemaOutOfDate(RuntimeError):
    """The database was made by an older release; `intake db upgrade` brings it up to date."""

    def __init__(self, current: str | None, head: str) -> None:
        super().__init__(f"database schema {current or 'unversioned'}, this release needs {head}")
        self.current = current
        self.head = head


def _config(connection: Connection | None = None, default_campaign: str | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    config.attributes["default_campaign"] = default_campaign  # 0003 files earlier rows under it
    return config


def migrations_head() -> str | None:
    """The latest migration, as Alembic reads the versions folder."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


def current(connection: Connection) -> str | None:
    """The database's version; BASELINE for a database made before versioning; None for an empty one."""
    found = inspect(connection)
    if found.has_table("alembic_version"):
        row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
        if row is not None:
            return str(row[0])
    return BASELINE if found.has_table("message") else None


def prepare(engine: Engine) -> None:
    """A new database gets every table at the latest version; an up-to-date one is used as it is; an older
    one raises SchemaOutOfDate. On PostgreSQL the check holds a lock, so workers starting together on a new
    database create it once."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('intake:schema', 0))"))
        revision = current(connection)
        if revision is None:
            from alembic import command

            SQLModel.metadata.create_all(connection)
            command.stamp(_config(connection), HEAD)
            return
    if revision != HEAD:
        raise SchemaOutOfDate(revision, HEAD)


def upgrade(engine: Engine, default_campaign: str | None = None) -> tuple[str | None, str]:
    """Bring the database to the latest version in place; (the version before, the version now).
    `default_campaign`: the slug the rows of a one-campaign release belong to (the config's first campaign)."""
    from alembic import command

    with engine.begin() as connection:
        before = current(connection)
        config = _config(connection, default_campaign)
        if before == BASELINE and not inspect(connection).has_table("alembic_version"):
            command.stamp(config, BASELINE)  # made before versioning: it has the baseline's tables
        command.upgrade(config, "head")
    return before, HEAD
