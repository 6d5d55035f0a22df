"""Hostile mail through Dovecot and `intake poll --once` as a subprocess, with the child's peak RSS measured.

The messages of tests/unit/test_hostile.py (a 200 MB zip bomb, 400-deep MIME, 3000 parts, 20000 headers,
path-like, reserved, control-character and 500-character names, 20 files of one name) plus a decompression-
bomb PNG and one normal mail. A small wrapper process runs `intake` and reports its children's peak RSS
(getrusage RUSAGE_CHILDREN), so nothing else this test session started is counted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import INTAKE, Setup, write_config
from tests.e2e.servers import Dovecot, SmtpSink, append
from tests.e2e.test_poll_e2e import TO, when
from tests.fixtures import archives, clients
from tests.fixtures.files import make_docx, make_jpeg, make_pixel_bomb_png
from tests.unit.test_hostile import part

# `intake status --json` alone peaks near 72 MB and this run near 115 MB; holding the unpacked bomb in memory
# would pass 270 MB, so the bound sits between.
PEAK_RSS_LIMIT = 200 * 1024 * 1024
BOMB_BYTES = 200 * 1024 * 1024
HOSTILE_NAMES = ["../../x.jpg", "..\\\\..\\\\y.docx", "C:\\\\Windows\\\\z.pdf", "a\\x01b.txt", "CON.txt", "NUL.docx",
                 "长" * 500 + ".docx", *["同名.docx"] * 20]
PHOTO = make_jpeg(1_100_000, seed=31)
BRIEF = make_docx("东城区志愿服务活动简报", ["12月5日，东城区开展志愿服务活动。"])

# Measures the peak RSS of the command it runs (KiB on Linux), written to the file named first.
WRAPPER = """
import resource, subprocess, sys
returncode = subprocess.run(sys.argv[2:]).returncode
with open(sys.argv[1], "w") as out:
    out.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(returncode)
"""


def head(subject: str, mid: str, sender: str = "xc-wmb@example.cn") -> str:
    return (f"From: {sender}\r\nTo: {TO}\r\nSubject: {subject}\r\nMessage-ID: <{mid}@example.cn>\r\n"
            "Date: Thu, 10 Dec 2020 10:00:00 +0800\r\nMIME-Version: 1.0\r\n")


def mixed(subject: str, mid: str, parts: list[str], extra: str = "") -> bytes:
    return (head(subject, mid) + extra + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + "".join(parts)
            + "--b--\r\n").encode("utf-8")


def hostile_mails() -> dict[str, bytes]:
    deep = head("西城区志愿服务材料（嵌套）", "deep") + "".join(
        f'Content-Type: multipart/mixed; boundary="d{i}"\r\n\r\n--d{i}\r\n' for i in range(400)
    ) + "Content-Type: text/plain\r\n\r\n见附件\r\n"
    return {
        "names": mixed("西城区志愿服务材料（文件名）", "names",
                       [part(n, f"content {i}".encode()) for i, n in enumerate(HOSTILE_NAMES)]),
        "deep": deep.encode("utf-8"),
        "many": mixed("西城区志愿服务材料（3000个附件）", "many", [part(f"{i}.txt", b"x") for i in range(3000)]),
        "flood": mixed("西城区志愿服务材料（大量信头）", "flood", [part("简报.docx", BRIEF)],
                       "".join(f"X-Flood-{i}: {'v' * 50}\r\n" for i in range(20000))),
        "zip_bomb": mixed("西城区志愿服务材料（压缩包）", "bomb", [
            part("材料.zip", archives.zeros_zip("zeros.bin", BOMB_BYTES)), part("简报.docx", BRIEF)]),
        "pixel_bomb": mixed("西城区志愿服务照片", "pixels", [part("活动照片.png", make_pixel_bomb_png())]),
    }


@pytest.fixture
def setup(tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink) -> Setup:
    return Setup(tmp_path, write_config(tmp_path, dovecot, smtp_sink), tmp_path / "data", dovecot, smtp_sink)


def tree(directory: Path, skip: Path | None = None) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*")
            if skip is None or (p != skip and skip not in p.parents)}


def names(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


def test_hostile_mail_through_imap_is_stored_once_in_bounded_memory(setup: Setup, tmp_path: Path) -> None:
    mails = hostile_mails()
    for index, raw in enumerate(mails.values()):
        append(setup.dovecot, raw, when(12, 10, 9 + index))
    normal = clients.foxmail(from_addr="dc-wmb@example.cn", from_name="东城区文明办", to=TO,
                             subject="东城区志愿服务材料", body="附件是简报和照片。",
                             attachments=[("东城区简报.docx", BRIEF), ("现场照片.jpg", PHOTO)], date=when(12, 10, 17))
    append(setup.dovecot, normal, when(12, 10, 17))
    rss_file = tmp_path / "peak_rss_kib"
    rss_file.touch()
    outside_before = tree(tmp_path, skip=setup.data), names(tmp_path.parent)

    proc = subprocess.run(
        [sys.executable, "-c", WRAPPER, str(rss_file), str(INTAKE), "--config", str(setup.config), "poll", "--once"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "本轮收取 7 封：入库 7 封，重复 0 封，无关 0 封，失败 0 封" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    peak = int(rss_file.read_text()) * 1024
    print(f"peak RSS of intake poll --once: {peak / 1024 / 1024:.0f} MB")
    assert peak < PEAK_RSS_LIMIT, f"peak RSS {peak / 1024 / 1024:.0f} MB"  # the zip bomb alone unpacks to 200 MB

    # Every message stored once, with the problems its hostility earns.
    messages = setup.status()["messages"]
    assert [m["subject"] for m in messages] == [
        "西城区志愿服务材料（文件名）", "西城区志愿服务材料（嵌套）", "西城区志愿服务材料（3000个附件）",
        "西城区志愿服务材料（大量信头）", "西城区志愿服务材料（压缩包）", "西城区志愿服务照片", "东城区志愿服务材料"]
    codes = {m["subject"]: sorted({p["code"] for p in m["problems"]}) for m in messages}
    assert codes == {
        "西城区志愿服务材料（文件名）": [],
        "西城区志愿服务材料（嵌套）": ["mime_too_deep"],  # the parts below MAX_DEPTH are not read
        "西城区志愿服务材料（3000个附件）": ["too_many_parts"],
        "西城区志愿服务材料（大量信头）": [],
        "西城区志愿服务材料（压缩包）": ["archive_bomb"],
        "西城区志愿服务照片": ["photo_unreadable"],
        "东城区志愿服务材料": [],
    }
    # The normal mail's files are stored, byte for byte, and it is accepted.
    normal_row = messages[-1]
    assert normal_row["status"] == "accepted"
    assert [(f["category"], (setup.data / f["path"]).read_bytes()) for f in normal_row["files"]] == [
        ("brief", BRIEF), ("photo", PHOTO)]
    # Hostile names: 27 files, all inside the unit's folder, none longer than the store allows.
    names_row = messages[0]
    stored = [setup.data / f["path"] for f in names_row["files"]]
    unit_folder = (setup.data / "idv-2020" / "西城区文明办").resolve()
    assert len(stored) == len(set(stored)) == len(HOSTILE_NAMES)
    assert all(p.is_file() and unit_folder in p.resolve().parents for p in stored)
    assert max(len(p.name.encode()) for p in stored) <= 180
    # Inside the data folder only the database, the lock, one raw copy per message and the files status lists.
    listed = {f["path"] for m in messages for f in m["files"] if f["path"]}
    written = {str(p.relative_to(setup.data)) for p in setup.data.rglob("*") if p.is_file()}
    raw_copies = {name for name in written if name.startswith("raw/") and name.endswith(".eml")}
    assert len(raw_copies) == len(messages)
    assert written - raw_copies - {"intake.db", "intake.lock"} == listed
    # Nothing written outside the data folder.
    assert (tree(tmp_path, skip=setup.data), names(tmp_path.parent)) == outside_before
