"""Copy a whole database to another, empty one (`intake db copy --to URL`): how a data folder's SQLite moves to
PostgreSQL. Both are at this release's schema; every row keeps its id, and the copy is checked table by table."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from storage.db import make_engine

BATCH = 500


class CopyRefused(RuntimeError):
    """The target is not an empty database (`code` "not_empty"), or a table's count differs after the copy
    ("count_differs"); `params` name the table and the counts for the staff's words."""

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(f"{code}: {params}")
        self.code = code
        self.params = params


@dataclass(frozen=True)
class Copied:
    tables: dict[str, int]  # rows per table, in the order they were copied

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def copy_database(source: Engine, target_url: str) -> Copied:
    """Every row of every table of `source` into the empty database at `target_url` (made at the latest schema
    first); CopyRefused when the target holds any row, or when a table's count differs afterwards."""
    target = make_engine(target_url)  # an empty database is created at HEAD; an older one is refused
    try:
        tables = SQLModel.metadata.sorted_tables  # parents before children: foreign keys hold row by row
        with target.connect() as connection:
            for table in tables:
                if connection.execute(select(func.count()).select_from(table)).scalar_one():
                    raise CopyRefused("not_empty", table=table.name)
        copied: dict[str, int] = {}
        with source.connect() as reading, target.begin() as writing:
            for table in tables:
                rows = reading.execution_options(stream_results=True).execute(select(table).order_by(
                    *table.primary_key.columns))
                count = 0
                while batch := rows.fetchmany(BATCH):
                    writing.execute(insert(table), [dict(row._mapping) for row in batch])
                    count += len(batch)
                copied[table.name] = count
            if target.dialect.name == "postgresql":
                for table in tables:  # the next id after the copied ones
                    for column in table.primary_key.columns:
                        if column.autoincrement is not False and column.type.python_type is int:
                            writing.execute(text(
                                f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                                f"COALESCE((SELECT MAX({column.name}) FROM {table.name}), 0) + 1, false)"))
        with target.connect() as connection:
            for table in tables:
                found = connection.execute(select(func.count()).select_from(table)).scalar_one()
                if found != copied[table.name]:
                    raise CopyRefused("count_differs", table=table.name, found=found, copied=copied[table.name])
        return Copied(copied)
    finally:
        target.dispose()
