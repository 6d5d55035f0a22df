"""Moving a data folder's SQLite database to PostgreSQL: `intake db copy --to URL` over the demo's data, into a
database of a throwaway PostgreSQL cluster; then the same reports from both, and new rows after the copied ids."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy import text as sql

from tests.e2e.harness import INTAKE
from tests.e2e.postgres import PostgresCluster

pytestmark = pytest.mark.any_database  # runs once, in the SQLite pass: see pyproject.toml


def intake(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(INTAKE), "--config", str(config), *args], capture_output=True, text=True,
                          timeout=300, cwd=config.parent)


def test_a_sqlite_data_folder_moves_to_postgresql_whole(tmp_path: Path, postgres: PostgresCluster) -> None:
    assert subprocess.run([str(INTAKE), "demo", "--out", str(tmp_path / "demo")], capture_output=True,
                          timeout=300).returncode == 0
    sqlite_config = tmp_path / "demo" / "console.toml"
    before = json.loads(intake(sqlite_config, "status", "--json").stdout)
    url = postgres.create_database("copy")

    copied = intake(sqlite_config, "db", "copy", "--to", url)
    assert copied.returncode == 0, copied.stdout + copied.stderr
    assert "逐表核对无误" in copied.stdout and "message 13" in copied.stdout

    text = sqlite_config.read_text(encoding="utf-8")
    pg_config = tmp_path / "demo" / "pg.toml"
    pg_config.write_text(text.replace('data_dir = "."', f'data_dir = "."\ndatabase_url = "{url}"'), encoding="utf-8")
    assert json.loads(intake(pg_config, "status", "--json").stdout) == before
    review = intake(pg_config, "review", "--json")
    assert review.returncode == 0 and json.loads(review.stdout) == json.loads(
        intake(sqlite_config, "review", "--json").stdout)

    # The copy refuses a database that is not empty, and new rows continue after the copied ids.
    again = intake(sqlite_config, "db", "copy", "--to", url)
    assert again.returncode == 2 and "未复制：目标数据库不是空的" in again.stdout
    nowhere = intake(sqlite_config, "db", "copy", "--to", "postgresql+psycopg://intake@127.0.0.1:1/none")
    assert nowhere.returncode == 2 and "未复制：无法连接或打开目标数据库" in nowhere.stdout
    assert "Traceback" not in nowhere.stdout + nowhere.stderr
    imported = subprocess.run([str(INTAKE), "--config", str(pg_config), "users", "add", "zhao",
                               "--password-stdin"], input="a long enough password\n", text=True,
                              capture_output=True, timeout=120, cwd=pg_config.parent)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    engine = create_engine(url)
    with engine.connect() as connection:
        ids = [row[0] for row in connection.execute(sql("SELECT id FROM action ORDER BY id"))]
    engine.dispose()
    assert ids == list(range(1, len(ids) + 1)) and len(ids) >= 2  # the demo's own actions, then this one
