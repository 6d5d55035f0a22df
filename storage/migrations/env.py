"""Alembic's entry point: runs the migrations on the connection storage/schema.py hands it."""

from alembic import context
from sqlmodel import SQLModel

import storage.tables  # noqa: F401  (the tables, for `alembic revision --autogenerate`)

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=SQLModel.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
