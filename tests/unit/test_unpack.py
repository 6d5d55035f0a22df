"""Opening containers: archives as Chinese Windows writes them, 7z, forwards, winmail.dat, limits."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from bot.config import Limits
from bot.model import Attachment
from bot.unpack import unpack
from tests.fixtures import archives, clients
from tests.fixtures.files import make_docx, make_jpeg

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"
TNEF = CORPORA / "MimeKit" / "UnitTests" / "TestData" / "tnef"
LIMITS = Limits()


def att(name: str, payload: bytes, content_type: str = "application/octet-stream") -> Attachment:
    return Attachment(name, content_type, "attachment", None, payload)


def test_a_plain_attachment_is_one_part() -> None:
    u = unpack((att("简报.docx", make_docx("简报")),), LIMITS)
    assert [(p.filename, p.path, p.origin) for p in u.parts] == [("简报.docx", "", "attachment")]
    assert u.problems == ()


def test_gbk_entry_names_without_the_utf8_flag_are_read_as_chinese_windows_wrote_them() -> None:
    photo = make_jpeg(seed=1)
    entries = {"照片/活动现场.jpg": photo, "典型事例/社区志愿服务队.docx": b"doc", "说明.txt": b"t"}
    zipped = archives.windows_zip(entries)
    u = unpack((att("东城区材料.zip", zipped),), LIMITS)
    assert [(p.filename, p.path, p.folder_hint, p.origin) for p in u.parts] == [
        ("活动现场.jpg", "东城区材料.zip/照片/活动现场.jpg", "照片", "zip"),
        ("社区志愿服务队.docx", "东城区材料.zip/典型事例/社区志愿服务队.docx", "典型事例", "zip"),
        ("说明.txt", "东城区材料.zip/说明.txt", "", "zip"),
    ]
    assert u.parts[0].payload == photo


def test_the_info_zip_unicode_path_field_wins_over_the_legacy_name() -> None:
    u = unpack((att("a.zip", archives.unicode_path_zip({"喆镕简报.docx": b"x"})),), LIMITS)
    assert [p.filename for p in u.parts] == ["喆镕简报.docx"]


def test_a_docx_is_a_document_and_never_opened_as_an_archive() -> None:
    doc = make_docx("简报")
    assert [p.filename for p in unpack((att("简报.docx", doc),), LIMITS).parts] == ["简报.docx"]


def test_encrypted_entries_are_a_problem_and_the_open_entries_are_still_taken() -> None:
    zipped = archives.encrypted_zip({"open.jpg": b"jpeg", "secret.docx": b"doc"}, {"secret.docx"})
    u = unpack((att("材料.zip", zipped),), LIMITS)
    assert [p.filename for p in u.parts] == ["open.jpg"]
    assert [(p.code, p.file) for p in u.problems] == [("archive_encrypted", "材料.zip")]


def test_an_archive_with_every_entry_encrypted_is_kept_whole_and_named_in_a_problem() -> None:
    zipped = archives.encrypted_zip({"secret.docx": b"doc"}, {"secret.docx"})
    u = unpack((att("材料.zip", zipped),), LIMITS)
    assert [(p.filename, p.origin) for p in u.parts] == [("材料.zip", "attachment")]
    assert [p.code for p in u.problems] == ["archive_encrypted"]


def test_a_zip_bomb_is_a_problem_with_bounded_memory_and_the_rest_of_the_mail_survives() -> None:
    bomb = archives.zeros_zip("zeros.bin", 64 * 1024 * 1024)
    photo = make_jpeg(seed=2)
    tracemalloc.start()
    u = unpack((att("bomb.zip", bomb), att("IMG_1.jpg", photo)), LIMITS)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [(p.code, p.file, dict(p.params)["limit"]) for p in u.problems] == [("archive_bomb", "bomb.zip", "ratio")]
    assert [p.filename for p in u.parts] == ["IMG_1.jpg"]
    assert peak < 8 * 1024 * 1024


def test_the_byte_budget_stops_an_archive_that_is_too_big_in_total() -> None:
    zipped = archives.windows_zip({f"照片{i}.jpg": make_jpeg(seed=i) for i in range(4)})
    size = len(make_jpeg(seed=0))
    u = unpack((att("照片.zip", zipped),), Limits(max_unpacked_bytes=size * 2 + 10))
    assert len(u.parts) == 2
    assert [(p.code, dict(p.params)["limit"]) for p in u.problems] == [("archive_bomb", "bytes")]


def test_the_entry_budget_stops_an_archive_with_too_many_files() -> None:
    zipped = archives.windows_zip({f"f{i:03d}.txt": b"x" for i in range(20)})
    u = unpack((att("many.zip", zipped),), Limits(max_entries=5))
    assert len(u.parts) == 5 and [dict(p.params)["limit"] for p in u.problems] == ["entries"]


def test_archives_inside_archives_open_to_the_depth_limit_only() -> None:
    ok = unpack((att("a.zip", archives.nested_zip(2, ("简报.docx", b"x"))),), LIMITS)
    assert [p.path for p in ok.parts] == ["a.zip/level1.zip/简报.docx"]
    deep = unpack((att("a.zip", archives.nested_zip(5, ("简报.docx", b"x"))),), LIMITS)
    assert [p.code for p in deep.problems] == ["archive_too_deep"]
    assert [p.filename for p in deep.parts] == ["level3.zip"]


def test_a_7z_archive_is_opened() -> None:
    u = unpack((att("材料.7z", archives.seven_zip({"照片/1.jpg": b"a", "简报.docx": b"b"})),), LIMITS)
    assert sorted((p.path, p.folder_hint, p.origin) for p in u.parts) == [
        ("材料.7z/照片/1.jpg", "照片", "7z"), ("材料.7z/简报.docx", "", "7z")]


def test_garbage_named_zip_that_sniffs_as_zip_is_a_corrupt_archive_kept_whole() -> None:
    broken = b"PK\x03\x04" + b"\x00" * 40
    u = unpack((att("坏.zip", broken),), LIMITS)
    assert [p.code for p in u.problems] == ["archive_corrupt"] and [p.filename for p in u.parts] == ["坏.zip"]


def test_a_broken_rar_is_reported_not_raised() -> None:
    u = unpack((att("材料.rar", b"Rar!\x1a\x07\x00" + b"\x00" * 64),), LIMITS)
    assert [p.code for p in u.problems] in (["archive_corrupt"], ["archive_unsupported"])
    assert [p.filename for p in u.parts] == ["材料.rar"]


def test_a_forwarded_mail_is_opened_and_its_sender_reported() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    inner = clients.foxmail(
        from_addr="dc-wmb@example.cn", from_name="东城区文明办", to="x@163.example", subject="材料", body="见附件",
        attachments=[("照片一.jpg", b"\xff\xd8\xff1"), ("照片二.jpg", b"\xff\xd8\xff2")],
        date=datetime(2020, 12, 10, tzinfo=ZoneInfo("Asia/Shanghai")))
    u = unpack((att("材料.eml", inner, "message/rfc822"),), LIMITS)
    assert [(p.path, p.origin) for p in u.parts] == [
        ("材料.eml/照片一.jpg", "forward"), ("材料.eml/照片二.jpg", "forward")]
    assert u.senders == (("dc-wmb@example.cn", "东城区文明办"),)


# MimeKit's .list files name every part tnef-extract wrote, bodies included; we take attachments only.
TNEF_EXPECTED_DIFFERENCES = {
    "christmas": "the list holds four 'Untitled Attachment' entries (embedded messages); we keep the two images",
    "long-filename": "the list names only the body; the attachment's long name is allproductsmar2000.dat",
    "missing-filenames": "the list names only the body; we name the attachments from their 8.3 titles",
}


@pytest.mark.skipif(not TNEF.exists(), reason="the shared corpora are not beside the repository")
@pytest.mark.parametrize("path", sorted(TNEF.glob("*.tnef")) if TNEF.exists() else [], ids=lambda p: p.stem)
def test_winmail_dat_attachments_match_the_reference_lists(path: Path) -> None:
    u = unpack((att("winmail.dat", path.read_bytes(), "application/ms-tnef"),), LIMITS)
    listed = [line.strip() for line in path.with_suffix(".list").read_text().splitlines() if line.strip()]
    expected = sorted(n for n in listed if not n.startswith("body."))
    got = sorted(p.filename for p in u.parts)
    if path.stem in TNEF_EXPECTED_DIFFERENCES:
        assert got != expected, f"{path.stem} now agrees: remove it from the table"
    else:
        assert got == expected
    assert u.problems == ()


def test_thousands_of_parts_are_cut_at_the_limit_with_a_problem() -> None:
    many = tuple(att(f"{i}.txt", b"x") for i in range(1200))
    u = unpack(many, Limits(max_parts=500))
    assert len(u.parts) == 500
    assert [(p.code, dict(p.params)) for p in u.problems] == [("too_many_parts", {"limit": 500, "count": 700})]
