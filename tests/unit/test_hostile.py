"""Hostile input through the whole shell (real SQLite, real files): nothing escapes the data folder,
nothing crashes, memory stays bounded."""

from __future__ import annotations

import base64
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from bot.adapters.templates import Templates
from bot.core.pipeline import Context
from bot.core.render.outgoing import Identity
from bot.office.intake.ledger import Source
from bot.office.intake.shell import Intake
from storage import tables as t
from storage.db import make_engine, session
from storage.files import FileStore
from tests.fixtures import archives
from tests.unit.test_intake import CAMPAIGN, RECEIVED, ROSTER

NOW = datetime(2020, 12, 10, 2, 5, tzinfo=UTC)
HEAD = ("From: dc@example.cn\r\nTo: bot@163.example\r\nSubject: 东城区材料\r\nMessage-ID: <{mid}@x>\r\n"
        "MIME-Version: 1.0\r\n")


@pytest.fixture
def intake(tmp_path: Path) -> Intake:
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'intake.db'}")
    return Intake(Context((CAMPAIGN,), ROSTER, ("bot@163.example",)), engine, FileStore(tmp_path / "data"),
                  Templates(), Identity("bot@163.example", "材料收集"))


def part(name: str, data: bytes) -> str:
    encoded = base64.encodebytes(data).decode()
    return (f"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; "
            f"filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n")


def multipart(mid: str, parts: list[str], extra: str = "") -> bytes:
    return (HEAD.format(mid=mid) + extra + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
            + "".join(parts) + "--b--\r\n").encode("utf-8")


def test_hostile_file_names_stay_inside_the_data_folder(intake: Intake, tmp_path: Path) -> None:
    names = ["../../x.jpg", "..\\\\..\\\\y.docx", "C:\\\\Windows\\\\z.pdf", "a\\x01b.txt", "CON.txt",
             "长" * 500 + ".docx", *["同名.docx"] * 20]
    raw = multipart("names", [part(n, f"content {i}".encode()) for i, n in enumerate(names)])
    assert intake.process(raw, RECEIVED, Source("INBOX", 1, 1), NOW).state == "stored"
    data = (tmp_path / "data").resolve()
    stored = [p for p in data.rglob("*") if p.is_file() and "idv-2020" in p.parts]
    assert len(stored) == len(names)  # 20 files of one name are 20 files, none overwritten
    assert all(data in p.resolve().parents for p in stored)
    assert not (tmp_path / "x.jpg").exists() and not (tmp_path.parent / "x.jpg").exists()
    assert all(len(p.name.encode()) <= 180 for p in stored)


def test_deep_nesting_many_parts_and_header_floods_are_processed_in_bounded_memory(intake: Intake) -> None:
    deep = HEAD.format(mid="deep") + "".join(f'Content-Type: multipart/mixed; boundary="d{i}"\r\n\r\n--d{i}\r\n'
                                             for i in range(400)) + "Content-Type: text/plain\r\n\r\nhi\r\n"
    flood = multipart("flood", [part("简报.docx", b"x")], "".join(f"X-Flood-{i}: {'v' * 50}\r\n" for i in range(20000)))
    many = multipart("many", [part(f"{i}.txt", b"x") for i in range(3000)])
    bomb = multipart("bomb", [part("bomb.zip", archives.zeros_zip("zeros.bin", 200 * 1024 * 1024)),
                              part("照片.jpg", b"\xff\xd8\xff" + b"0" * 100)])
    tracemalloc.start()
    states = [intake.process(raw, RECEIVED, Source("INBOX", 1, uid), NOW).state
              for uid, raw in enumerate((deep.encode(), flood, many, bomb), start=2)]
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert states == ["stored", "stored", "stored", "stored"]
    with session(intake.engine) as s:
        codes = sorted({p.code for p in s.exec(select(t.ProblemRow)).all()})
    assert "too_many_parts" in codes and "archive_bomb" in codes and "mime_too_deep" in codes
    assert peak < 100 * 1024 * 1024, f"peak {peak / 1024 / 1024:.0f} MB"  # the bomb alone unpacks to 200 MB
