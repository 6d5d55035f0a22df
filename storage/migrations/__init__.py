"""The database schema's history (Alembic): one file a version in versions/, applied by storage/schema.py."""
