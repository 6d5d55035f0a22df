"""The database schema is versioned: a new database is made at the latest version, the migrations give the
same schema as the tables, and a data folder made by the release before versioning is refused by the commands
until `intake db upgrade` brings it up to date, every row kept."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

from storage.db import make_engine
from storage.schema import BASELINE, HEAD, SchemaOutOfDate, current, migrations_head, upgrade
from tests.unit.test_roster_store import CONFIG, HEADER

INTAKE = Path(sys.executable).with_name("intake")


def test_head_is_the_latest_migration() -> None:
    assert migrations_head() == HEAD


def test_a_new_database_is_made_at_the_latest_version(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    with engine.connect() as connection:
        assert current(connection) == HEAD


def test_the_migrations_give_the_schema_of_the_tables(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'migrated.db'}", prepare=False)
    assert upgrade(engine) == (None, HEAD)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []


def previous_release(path: Path) -> None:
    """A database as the release before versioning left it: the baseline's tables, no version table, rows."""
    from alembic import command

    from storage.schema import _config

    engine = make_engine(f"sqlite:///{path}", prepare=False)
    with engine.begin() as connection:
        command.upgrade(_config(connection), BASELINE)
        connection.execute(text("DROP TABLE alembic_version"))
        connection.execute(text(
            "INSERT INTO message (id, folder, uidvalidity, uid, key, state, attempts, disposition, received_at,"
            " message_id, from_addr, subject, unit, match_how, late, reply_kind, marked, automatic)"
            " VALUES (1, 'INBOX', 7, 1, 'k1', 'stored', 1, 'accepted', '2020-12-10 02:00:00.000000', 'm1@x',"
            " 'dc@example.cn', '东城区文明办报送材料', '东城区文明办', 'address', 0, 'receipt', 1, NULL)"))
        connection.execute(text(
            "INSERT INTO item (id, message_row_id, unit, category, filename, path, source, size, sha256, kind,"
            " reason, counted, already_stored, late, has_exif)"
            " VALUES (1, 1, '东城区文明办', 'photo', '1.jpg', 'idv-2020/东城区文明办/photo/1.jpg', '', 1100000,"
            " 'ab', 'jpeg', 'type:jpeg', 1, 0, 0, 1)"))
        connection.execute(text(
            "INSERT INTO outbox (id, message_row_id, kind, to_addr, subject, header_message_id, raw, state,"
            " attempts, created_at) VALUES (1, 1, 'receipt', 'dc@example.cn', 'Re: 材料',"
            " '<intake.idv-2020.1.receipt@x>', X'00', 'sent', 1, '2020-12-10 02:01:00.000000')"))
    engine.dispose()


def test_a_database_from_before_versioning_is_refused_then_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    previous_release(path)
    with pytest.raises(SchemaOutOfDate) as refused:
        make_engine(f"sqlite:///{path}")
    assert (refused.value.current, refused.value.head) == (BASELINE, HEAD)
    assert upgrade(make_engine(f"sqlite:///{path}", prepare=False)) == (BASELINE, HEAD)
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT id, subject, unit FROM message")).all() == [
            (1, "东城区文明办报送材料", "东城区文明办")]
        assert connection.execute(text("SELECT path FROM item")).all() == [("idv-2020/东城区文明办/photo/1.jpg",)]
        assert connection.execute(text("SELECT state FROM outbox")).all() == [("sent",)]
        assert connection.execute(text("SELECT count(*) FROM question")).scalar_one() == 0


def test_the_commands_refuse_an_old_data_folder_until_intake_db_upgrade(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "units.csv").write_text(HEADER + "东城区文明办,dc@example.cn\n", encoding="utf-8")
    (tmp_path / "data").mkdir()
    previous_release(tmp_path / "data" / "intake.db")

    def intake(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(INTAKE), "--config", "config.toml", *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)

    refused = intake("status", "--json")
    assert refused.returncode == 2 and "intake db upgrade" in refused.stdout
    upgraded = intake("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"{BASELINE} → {HEAD}" in upgraded.stdout
    status = intake("status", "--json")
    assert status.returncode == 0, status.stderr
    (message,) = json.loads(status.stdout)["messages"]
    assert (message["subject"], message["unit"], message["status"], message["replied"]) == (
        "东城区文明办报送材料", "东城区文明办", "accepted", True)
    assert "无需升级" in intake("db", "upgrade").stdout


def release_before_campaigns(path: Path) -> None:
    """A database as the release with one `[campaign]` left it (schema 0002): a receipt-answered message with its
    file, a problem and a question, a staff exemption with its audit row, a reminder and outbox rows."""
    from alembic import command

    from storage.schema import _config

    previous_release(path)
    engine = make_engine(f"sqlite:///{path}", prepare=False)
    with engine.begin() as connection:
        command.stamp(_config(connection), BASELINE)
        command.upgrade(_config(connection), "0002")
        connection.execute(text(
            "INSERT INTO message (id, folder, uidvalidity, uid, key, state, attempts, disposition, received_at,"
            " message_id, from_addr, subject, unit, match_how, late, reply_kind, marked, review)"
            " VALUES (2, 'INBOX', 7, 2, 'k2', 'stored', 1, 'needs_attention', '2020-12-11 02:00:00.000000', 'm2@x',"
            " 'xc@example.cn', '请问要盖章吗', '西城区文明办', 'address', 0, 'question', 1, 'question'),"
            " (3, 'INBOX', 7, 3, 'k3', 'unrelated', 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, 0, NULL)"))
        connection.execute(text(
            "INSERT INTO problem (id, message_row_id, unit, code, file, text)"
            " VALUES (1, 1, '东城区文明办', 'photo_compressed', '1.jpg', '照片疑似经微信压缩')"))
        connection.execute(text("INSERT INTO question (id, message_row_id, unit, text)"
                                " VALUES (1, 2, '西城区文明办', '请问要盖章吗？')"))
        connection.execute(text("INSERT INTO action (id, at, actor, command, unit, detail)"
                                " VALUES (1, '2020-12-12 01:00:00.000000', '王老师', 'exempt', '西城区文明办', '{}')"))
        connection.execute(text("INSERT INTO override (id, kind, key, value, action_id, created_at)"
                                " VALUES (1, 'exempt', '西城区文明办', '1', 1, '2020-12-12 01:00:00.000000')"))
        connection.execute(text(
            "INSERT INTO reminder (id, campaign, unit, kind, slot, state, moment, missing, outbox_ids, at)"
            " VALUES (1, 'idv-2020', '东城区文明办', 'reminder', '-3d 09:00', 'sent',"
            " '2020-12-28 01:00:00.000000', 'brief', '2', '2020-12-28 01:00:00.000000')"))
        connection.execute(text(
            "INSERT INTO outbox (id, message_row_id, kind, to_addr, subject, header_message_id, raw, state,"
            " attempts, created_at) VALUES (2, NULL, 'reminder', 'dc@example.cn', '【催报】',"
            " '<intake.idv-2020.reminder.1.1@x>', X'00', 'pending', 0, '2020-12-28 01:00:00.000000')"))
    engine.dispose()


def test_the_data_folder_of_the_one_campaign_release_upgrades_with_every_row_filed_under_its_campaign(
        tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "units.csv").write_text(HEADER + "东城区文明办,dc@example.cn\n西城区文明办,xc@example.cn\n",
                                        encoding="utf-8")
    (tmp_path / "data").mkdir()
    release_before_campaigns(tmp_path / "data" / "intake.db")
    stored = tmp_path / "data" / "idv-2020" / "东城区文明办" / "photo" / "1.jpg"
    stored.parent.mkdir(parents=True)
    stored.write_bytes(b"\xff\xd8 photo")

    def intake(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(INTAKE), "--config", "config.toml", "--now", "2020-12-29T10:00:00+08:00", *args],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)

    refused = intake("status", "--json")
    assert refused.returncode == 2 and "intake db upgrade" in refused.stdout
    upgraded = intake("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"0002 → {HEAD}" in upgraded.stdout
    status = intake("status", "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["campaign"]["slug"] == "idv-2020"
    assert [(m["id"], m["unit"], m["status"], m["campaign"], m["campaign_reason"], m["replied"])
            for m in report["messages"]] == [
        (1, "东城区文明办", "accepted", "idv-2020", "only-open", True),
        (2, "西城区文明办", "needs_attention", "idv-2020", "only-open", False)]
    units = {u["name"]: u for u in report["units"]}
    assert units["东城区文明办"]["counts"]["photo"] == 1
    assert [f["path"] for f in units["东城区文明办"]["files"]] == ["idv-2020/东城区文明办/photo/1.jpg"]
    assert units["东城区文明办"]["problems"] == [
        {"code": "photo_compressed", "file": "1.jpg", "text": "照片疑似经微信压缩"}]
    assert units["西城区文明办"]["exempt"] is True and units["西城区文明办"]["required"] is False
    assert report["campaign"]["unrelated_seen"] == 1
    review = json.loads(intake("review", "--json").stdout)
    assert [(e["ref"], e["kind"], e["campaign"]) for e in review if e["kind"] == "question"] == [
        ("M2", "question", "idv-2020")]
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'intake.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT id, state FROM outbox ORDER BY id")).all() == [
            (1, "sent"), (2, "pending")]
        assert connection.execute(text("SELECT campaign, unit, slot FROM reminder")).all() == [
            ("idv-2020", "东城区文明办", "-3d 09:00")]
        assert connection.execute(text("SELECT campaign FROM item")).all() == [("idv-2020",)]
        assert connection.execute(text("SELECT campaign FROM message WHERE id = 3")).all() == [(None,)]
        assert connection.execute(text("SELECT slug, source FROM campaign")).all() == [("idv-2020", "config")]
    assert stored.read_bytes() == b"\xff\xd8 photo"
