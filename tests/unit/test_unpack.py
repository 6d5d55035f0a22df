"""Opening containers: archives as Chinese Windows writes them, 7z, RAR, forwards, winmail.dat, limits."""

from __future__ import annotations

import shutil
import signal
import tracemalloc
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.adapters.bsdtar import read_rar
from bot.core.files.unpack import BUILT_IN_READERS, unpack
from bot.core.model import Attachment, Unpacked
from bot.core.settings import Limits
from tests.fixtures import archives, clients
from tests.fixtures.files import make_docx, make_jpeg

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"
TNEF = CORPORA / "MimeKit" / "UnitTests" / "TestData" / "tnef"
LIMITS = Limits()
READERS = {**BUILT_IN_READERS, "rar": read_rar}  # as the application wires them
needs_bsdtar = pytest.mark.skipif(shutil.which("bsdtar") is None, reason="bsdtar (libarchive-tools) is not installed")


def att(name: str, payload: bytes, content_type: str = "application/octet-stream") -> Attachment:
    return Attachment(name, content_type, "attachment", None, payload)


def one(name: str, payload: bytes, limits: Limits = LIMITS) -> Unpacked:
    return unpack((att(name, payload),), limits, READERS)


def codes(u: Unpacked) -> list[tuple[str, str | None, dict[str, str | int]]]:
    return [(p.code, p.file, dict(p.params)) for p in u.problems]


def inner_mail(attachments: list[tuple[str, bytes]]) -> bytes:
    return clients.foxmail(
        from_addr="dc-wmb@example.cn", from_name="东城区文明办", to="x@163.example", subject="材料", body="见附件",
        attachments=attachments, date=datetime(2020, 12, 10, tzinfo=ZoneInfo("Asia/Shanghai")))


# -- plain files and documents ---------------------------------------------------------------------


def test_a_plain_attachment_is_one_part_with_its_mime_details() -> None:
    a = Attachment("简报.docx", "application/msword", "inline", "cid1", make_docx("简报"))
    u = unpack((a,), LIMITS)
    assert [(p.filename, p.path, p.origin, p.content_type, p.disposition, p.content_id) for p in u.parts] == [
        ("简报.docx", "", "attachment", "application/msword", "inline", "cid1")]
    assert u.problems == ()


def test_a_docx_is_a_document_and_never_opened_as_an_archive() -> None:
    doc = make_docx("简报")
    u = one("简报.docx", doc)
    assert [(p.filename, p.payload) for p in u.parts] == [("简报.docx", doc)] and u.problems == ()


def test_a_zip_named_docx_is_opened_because_the_bytes_decide() -> None:
    u = one("简报.docx", archives.windows_zip({"简报正文.docx": b"x"}))
    assert [p.path for p in u.parts] == ["简报.docx/简报正文.docx"]


# -- ZIP names and folders -------------------------------------------------------------------------


def test_gbk_entry_names_without_the_utf8_flag_are_read_as_chinese_windows_wrote_them() -> None:
    photo = make_jpeg(seed=1)
    entries = {"照片/活动现场.jpg": photo, "典型事例/张三/社区志愿服务队.docx": b"doc", "说明.txt": b"t"}
    u = one("东城区材料.zip", archives.windows_zip(entries))
    assert [(p.filename, p.path, p.folder_hint, p.origin) for p in u.parts] == [
        ("活动现场.jpg", "东城区材料.zip/照片/活动现场.jpg", "照片", "zip"),
        ("社区志愿服务队.docx", "东城区材料.zip/典型事例/张三/社区志愿服务队.docx", "典型事例/张三", "zip"),
        ("说明.txt", "东城区材料.zip/说明.txt", "", "zip"),
    ]
    assert u.parts[0].payload == photo and u.problems == ()


def test_gb18030_names_keep_characters_outside_gb2312() -> None:
    u = one("a.zip", archives.windows_zip({"喆镕简报.docx": b"x"}, encoding="gb18030"))
    assert [p.filename for p in u.parts] == ["喆镕简报.docx"]


def test_utf8_names_without_the_flag_are_taken_as_utf8() -> None:
    u = one("a.zip", archives.utf8_unflagged_zip({"照片/活动现场.jpg": b"j"}))
    assert [(p.filename, p.folder_hint) for p in u.parts] == [("活动现场.jpg", "照片")]


def test_the_info_zip_unicode_path_field_wins_over_the_legacy_name() -> None:
    u = one("a.zip", archives.unicode_path_zip({"喆镕简报.docx": b"x"}))
    assert [p.filename for p in u.parts] == ["喆镕简报.docx"]


def test_folders_and_system_litter_are_not_files() -> None:
    entries = {"照片/": b"", "照片/1.jpg": b"j", "__MACOSX/照片/._1.jpg": b"r", "照片/.DS_Store": b"d",
               "照片/Thumbs.db": b"t"}
    u = one("a.zip", archives.windows_zip(entries))
    assert [p.path for p in u.parts] == ["a.zip/照片/1.jpg"]


def test_names_that_climb_out_of_the_archive_are_kept_as_data_only() -> None:
    u = one("a.zip", archives.windows_zip({"../../etc/照片.jpg": b"j"}))
    assert [(p.filename, p.path, p.folder_hint) for p in u.parts] == [("照片.jpg", "a.zip/etc/照片.jpg", "etc")]


# -- encryption, damage ----------------------------------------------------------------------------


def test_encrypted_entries_are_one_problem_and_the_open_entries_are_still_taken() -> None:
    zipped = archives.encrypted_zip({"open.jpg": b"jpeg", "secret.docx": b"doc", "secret2.docx": b"d"},
                                    {"secret.docx", "secret2.docx"})
    u = one("材料.zip", zipped)
    assert [p.filename for p in u.parts] == ["open.jpg"]
    assert codes(u) == [("archive_encrypted", "材料.zip", {"format": "zip"})]


def test_an_archive_with_every_entry_encrypted_is_kept_whole_and_named_in_a_problem() -> None:
    u = one("材料.zip", archives.encrypted_zip({"secret.docx": b"doc"}, {"secret.docx"}))
    assert [(p.filename, p.origin) for p in u.parts] == [("材料.zip", "attachment")]
    assert codes(u) == [("archive_encrypted", "材料.zip", {"format": "zip"})]


def test_garbage_that_sniffs_as_zip_is_a_corrupt_archive_kept_whole() -> None:
    u = one("坏.zip", b"PK\x03\x04" + b"\x00" * 40)
    assert codes(u) == [("archive_corrupt", "坏.zip", {"format": "zip"})]
    assert [p.filename for p in u.parts] == ["坏.zip"]


def test_a_damaged_entry_is_a_problem_and_the_sound_entries_are_kept() -> None:
    u = one("材料.zip", archives.corrupt_second_entry_zip({"a.txt": b"aaaa", "b.txt": b"bbbb", "c.txt": b"cccc"}))
    assert [(p.filename, p.payload) for p in u.parts] == [("a.txt", b"aaaa"), ("c.txt", b"cccc")]
    assert codes(u) == [("archive_corrupt", "材料.zip", {"format": "zip"})]


# -- limits ----------------------------------------------------------------------------------------


def test_a_zip_bomb_is_a_problem_with_bounded_memory_and_the_rest_of_the_mail_survives() -> None:
    bomb = archives.zeros_zip("zeros.bin", 200 * 1024 * 1024)  # 200 MB of zeros, built in 1 MB chunks
    photo = make_jpeg(seed=2)
    tracemalloc.start()
    u = unpack((att("bomb.zip", bomb), att("IMG_1.jpg", photo)), LIMITS)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert codes(u) == [("archive_bomb", "bomb.zip", {"format": "zip", "limit": "ratio"})]
    assert [p.filename for p in u.parts] == ["IMG_1.jpg"]
    assert peak < 4 * 1024 * 1024, f"peak {peak / 1024 / 1024:.1f} MB"


def test_a_bomb_under_the_ratio_is_stopped_by_the_byte_budget_in_bounded_memory() -> None:
    bomb = archives.zeros_zip("zeros.bin", 64 * 1024 * 1024)
    tracemalloc.start()
    u = unpack((att("bomb.zip", bomb),), Limits(max_ratio=10_000, max_unpacked_bytes=32 * 1024 * 1024))
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert codes(u) == [("archive_bomb", "bomb.zip", {"format": "zip", "limit": "bytes"})] and u.parts == ()
    assert peak < 4 * 1024 * 1024, f"peak {peak / 1024 / 1024:.1f} MB"


def test_small_text_that_compresses_very_well_is_not_a_bomb() -> None:
    u = one("a.zip", archives.windows_zip({"说明.txt": b"a" * 500_000}))
    assert [p.size for p in u.parts] == [500_000] and u.problems == ()


def test_the_byte_budget_stops_an_archive_that_is_too_big_in_total() -> None:
    photos = {f"照片{i}.jpg": make_jpeg(seed=i) for i in range(4)}
    sizes = [len(p) for p in photos.values()]
    u = one("照片.zip", archives.windows_zip(photos), Limits(max_unpacked_bytes=sizes[0] + sizes[1] + 10))
    assert [p.filename for p in u.parts] == ["照片0.jpg", "照片1.jpg"]
    assert codes(u) == [("archive_bomb", "照片.zip", {"format": "zip", "limit": "bytes"})]


def test_the_byte_budget_is_shared_by_every_archive_of_the_mail() -> None:
    first = archives.windows_zip({"a.txt": b"a" * 600})
    second = archives.windows_zip({"b.txt": b"b" * 600})
    u = unpack((att("1.zip", first), att("2.zip", second), att("c.jpg", b"\xff\xd8\xff")),
               Limits(max_unpacked_bytes=1000))
    assert [p.filename for p in u.parts] == ["a.txt", "c.jpg"]
    assert codes(u) == [("archive_bomb", "2.zip", {"format": "zip", "limit": "bytes"})]


def test_the_entry_budget_stops_an_archive_with_too_many_files() -> None:
    u = one("many.zip", archives.windows_zip({f"f{i:03d}.txt": b"x" for i in range(20)}), Limits(max_entries=5))
    assert len(u.parts) == 5 and codes(u) == [("archive_bomb", "many.zip", {"format": "zip", "limit": "entries"})]


def test_archives_inside_archives_open_to_the_depth_limit_only() -> None:
    ok = one("a.zip", archives.nested_zip(3, ("简报.docx", b"x")))
    assert [(p.path, p.origin) for p in ok.parts] == [("a.zip/level1.zip/level2.zip/简报.docx", "zip")]
    assert ok.problems == ()
    deep = one("a.zip", archives.nested_zip(5, ("简报.docx", b"x")))
    assert codes(deep) == [("archive_too_deep", "a.zip/level1.zip/level2.zip/level3.zip", {"limit": 3})]
    assert [p.filename for p in deep.parts] == ["level3.zip"]


def test_thousands_of_parts_are_cut_at_the_limit_with_a_problem() -> None:
    u = unpack(tuple(att(f"{i}.txt", b"x") for i in range(1200)), Limits(max_parts=500))
    assert len(u.parts) == 500
    assert codes(u) == [("too_many_parts", None, {"limit": 500, "count": 700})]


# -- 7z --------------------------------------------------------------------------------------------


def test_a_7z_archive_is_opened_with_its_folders() -> None:
    u = one("材料.7z", archives.seven_zip({"照片/1.jpg": b"a", "简报.docx": b"b"}))
    assert sorted((p.path, p.folder_hint, p.origin, p.payload) for p in u.parts) == [
        ("材料.7z/照片/1.jpg", "照片", "7z", b"a"), ("材料.7z/简报.docx", "", "7z", b"b")]
    assert u.problems == ()


@pytest.mark.parametrize("header_encryption", [False, True], ids=["data", "names-too"])
def test_an_encrypted_7z_is_kept_whole_with_a_problem(header_encryption: bool) -> None:
    u = one("材料.7z", archives.seven_zip_encrypted({"简报.docx": b"b"}, header_encryption))
    assert codes(u) == [("archive_encrypted", "材料.7z", {"format": "7z"})]
    assert [p.filename for p in u.parts] == ["材料.7z"]


def test_a_7z_bomb_is_stopped_before_anything_is_unpacked() -> None:
    u = one("材料.7z", archives.seven_zip({"zeros.bin": bytes(4 * 1024 * 1024)}), Limits(max_ratio=100))
    assert codes(u) == [("archive_bomb", "材料.7z", {"format": "7z", "limit": "ratio"})] and u.parts == ()


def test_a_truncated_7z_is_corrupt_and_kept_whole() -> None:
    u = one("材料.7z", archives.truncated(archives.seven_zip({"a": b"x" * 1000, "b": b"y" * 1000}), 0.6))
    assert codes(u) == [("archive_corrupt", "材料.7z", {"format": "7z"})]
    assert [p.filename for p in u.parts] == ["材料.7z"]


# -- RAR -------------------------------------------------------------------------------------------


@needs_bsdtar
def test_a_rar4_from_chinese_windows_has_its_gbk_names_and_folders() -> None:
    # Brackets and stars are pattern characters to bsdtar: the names must still be taken literally.
    rar = archives.rar4({"照片/活动[1].jpg": b"jpeg", "典型事例/事例*.docx": b"doc", "简报.docx": b"brief"})
    u = one("东城区.rar", rar)
    assert [(p.filename, p.path, p.folder_hint, p.origin, p.payload) for p in u.parts] == [
        ("活动[1].jpg", "东城区.rar/照片/活动[1].jpg", "照片", "rar", b"jpeg"),
        ("事例*.docx", "东城区.rar/典型事例/事例*.docx", "典型事例", "rar", b"doc"),
        ("简报.docx", "东城区.rar/简报.docx", "", "rar", b"brief"),
    ]
    assert u.problems == ()


@needs_bsdtar
def test_a_rar5_has_its_utf8_names() -> None:
    u = one("a.rar", archives.rar5({"照片/活动.jpg": b"jpeg", "简报.docx": b"b"}))
    assert [(p.path, p.folder_hint, p.payload) for p in u.parts] == [
        ("a.rar/照片/活动.jpg", "照片", b"jpeg"), ("a.rar/简报.docx", "", b"b")]


@needs_bsdtar
@pytest.mark.parametrize("build", [archives.rar4, archives.rar5], ids=["rar4", "rar5"])
def test_encrypted_rar_entries_are_a_problem_and_never_handed_out_as_files(build) -> None:  # noqa: ANN001
    # bsdtar alone would hand out a stored encrypted entry's ciphertext as the file.
    rar = build({"open.jpg": b"jpeg", "secret.docx": b"ciphertext"}, encrypted=frozenset({"secret.docx"}))
    u = one("材料.rar", rar)
    assert [p.filename for p in u.parts] == ["open.jpg"]
    assert codes(u) == [("archive_encrypted", "材料.rar", {"format": "rar"})]


@needs_bsdtar
def test_a_rar_with_encrypted_headers_is_kept_whole_with_a_problem() -> None:
    u = one("材料.rar", archives.rar4({"a.txt": b"a"}, header_encrypted=True))
    assert codes(u) == [("archive_encrypted", "材料.rar", {"format": "rar"})]
    assert [p.filename for p in u.parts] == ["材料.rar"]


@needs_bsdtar
def test_a_truncated_rar_keeps_the_whole_entries_and_drops_the_cut_one() -> None:
    rar = archives.rar4({"a.bin": b"a" * 1000, "b.bin": b"b" * 1000})
    u = one("材料.rar", archives.truncated(rar, 0.7))
    assert [(p.filename, p.payload) for p in u.parts] == [("a.bin", b"a" * 1000)]
    assert codes(u) == [("archive_corrupt", "材料.rar", {"format": "rar"})]


@needs_bsdtar
def test_a_rar_past_the_byte_budget_is_a_bomb() -> None:
    u = one("材料.rar", archives.rar4({"a.bin": b"a" * 1000, "b.bin": b"b" * 1000}), Limits(max_unpacked_bytes=1500))
    assert codes(u) == [("archive_bomb", "材料.rar", {"format": "rar", "limit": "bytes"})] and u.parts == ()


@needs_bsdtar
def test_a_broken_rar_is_corrupt_and_kept_whole() -> None:
    u = one("材料.rar", b"Rar!\x1a\x07\x00" + b"\x00" * 64)
    assert codes(u) == [("archive_corrupt", "材料.rar", {"format": "rar"})]
    assert [p.filename for p in u.parts] == ["材料.rar"]


def test_without_bsdtar_a_rar_is_unsupported_and_kept_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.adapters.bsdtar.shutil.which", lambda _name: None)
    u = one("材料.rar", archives.rar4({"a.txt": b"a"}))
    assert codes(u) == [("archive_unsupported", "材料.rar", {"format": "rar"})]
    assert [p.filename for p in u.parts] == ["材料.rar"]


# -- forwarded mail --------------------------------------------------------------------------------


def test_a_forwarded_mail_is_opened_and_its_sender_reported() -> None:
    inner = inner_mail([("照片一.jpg", b"\xff\xd8\xff1"), ("照片二.jpg", b"\xff\xd8\xff2")])
    u = unpack((att("材料.eml", inner, "message/rfc822"),), LIMITS)
    assert [(p.filename, p.path, p.origin, p.payload) for p in u.parts] == [
        ("照片一.jpg", "材料.eml/照片一.jpg", "forward", b"\xff\xd8\xff1"),
        ("照片二.jpg", "材料.eml/照片二.jpg", "forward", b"\xff\xd8\xff2")]
    assert u.senders == (("dc-wmb@example.cn", "东城区文明办"),) and u.problems == ()


def test_a_mail_named_eml_with_a_generic_type_is_opened_too() -> None:
    u = one("转发.eml", inner_mail([("简报.docx", b"doc")]))
    assert [(p.path, p.origin) for p in u.parts] == [("转发.eml/简报.docx", "forward")]


def test_a_photo_misnamed_eml_stays_a_photo() -> None:
    photo = make_jpeg(seed=3)
    assert [(p.filename, p.origin) for p in one("照片.eml", photo).parts] == [("照片.eml", "attachment")]


def test_a_forwarded_mail_without_attachments_gives_no_files_but_its_sender() -> None:
    u = unpack((att("fw.eml", inner_mail([]), "message/rfc822"),), LIMITS)
    assert u.parts == () and u.senders == (("dc-wmb@example.cn", "东城区文明办"),)


def test_an_archive_inside_a_forwarded_mail_is_opened_one_level_deeper() -> None:
    zipped = archives.windows_zip({"照片/1.jpg": b"j"})
    u = unpack((att("fw.eml", inner_mail([("材料.zip", zipped)]), "message/rfc822"),), LIMITS)
    assert [(p.path, p.folder_hint, p.origin) for p in u.parts] == [("fw.eml/材料.zip/照片/1.jpg", "照片", "zip")]
    deep = unpack((att("fw.eml", inner_mail([("材料.zip", zipped)]), "message/rfc822"),), Limits(max_depth=1))
    assert codes(deep) == [("archive_too_deep", "fw.eml/材料.zip", {"limit": 1})]
    assert [(p.path, p.origin) for p in deep.parts] == [("fw.eml/材料.zip", "forward")]


# -- winmail.dat -----------------------------------------------------------------------------------


@pytest.mark.parametrize("unicode_names", [False, True], ids=["gbk", "utf16"])
def test_winmail_dat_from_chinese_outlook_gives_the_long_chinese_names(unicode_names: bool) -> None:
    dat = archives.winmail_dat({"东城区简报.docx": b"doc", "活动照片（一）.jpg": b"\xff\xd8\xff"}, unicode_names)
    u = unpack((att("winmail.dat", dat, "application/ms-tnef"),), LIMITS)
    assert [(p.filename, p.path, p.origin, p.payload) for p in u.parts] == [
        ("东城区简报.docx", "winmail.dat/东城区简报.docx", "tnef", b"doc"),
        ("活动照片（一）.jpg", "winmail.dat/活动照片（一）.jpg", "tnef", b"\xff\xd8\xff")]
    assert u.problems == ()


def test_a_cut_winmail_dat_is_corrupt_and_kept_whole() -> None:
    dat = archives.winmail_dat({"东城区简报.docx": b"d" * 400})
    u = unpack((att("winmail.dat", dat[:200], "application/ms-tnef"),), LIMITS)
    assert codes(u) == [("archive_corrupt", "winmail.dat", {"format": "tnef"})]
    assert [p.filename for p in u.parts] == ["winmail.dat"]


# MimeKit's .list files name every file tnef-extract wrote, the message body (body.rtf, body.html) included;
# a body is not an attachment, so it is left out of the comparison. Where the list is otherwise not what we
# give, the table says what we give and why.
TNEF_DIFFERENCES: dict[str, tuple[list[str], str]] = {
    "christmas": (["kitten-playing-with-a-christmas-tree.jpg"] * 2,
                  "the list names the four 'Untitled Attachment' parts (attached mails) themselves; we open the "
                  "attached mails instead: one has the kitten photo again, the others no attachments"),
    "long-filename": (["allproductsmar2000.dat"], "the list names only the body; the attachment is in the folder"),
    "missing-filenames": (["TechlibDEC99-JAN00.doc", "TechlibDEC99.doc", "TechlibNOV99.doc", "generpts.src"],
                          "the list names only the body; the attachments are in the folder, named as we name them"),
}


@pytest.mark.skipif(not TNEF.exists(), reason="the shared corpora are not beside the repository")
@pytest.mark.parametrize("path", sorted(TNEF.glob("*.tnef")) if TNEF.exists() else [], ids=lambda p: p.stem)
def test_winmail_dat_attachments_match_mimekits_reference_lists(path: Path) -> None:
    u = unpack((att("winmail.dat", path.read_bytes(), "application/ms-tnef"),), LIMITS)
    listed = [line.strip() for line in path.with_suffix(".list").read_text().splitlines() if line.strip()]
    expected = sorted(n for n in listed if n not in ("body.rtf", "body.html"))
    if path.stem in TNEF_DIFFERENCES:
        expected = sorted(TNEF_DIFFERENCES[path.stem][0])
        assert expected != sorted(n for n in listed if n not in ("body.rtf", "body.html"))
    assert sorted(p.filename for p in u.parts) == expected
    assert u.problems == ()


@pytest.mark.skipif(not TNEF.exists(), reason="the shared corpora are not beside the repository")
def test_winmail_dat_attachments_have_the_bytes_mimekit_extracted() -> None:
    for stem in ("two-files", "panic", "missing-filenames", "unicode-mapi-attr"):
        u = unpack((att("winmail.dat", (TNEF / f"{stem}.tnef").read_bytes()),), LIMITS)
        assert {p.filename: p.payload for p in u.parts} == {
            p.filename: (TNEF / stem / p.filename).read_bytes() for p in u.parts}, stem


# -- never raises ----------------------------------------------------------------------------------


@pytest.mark.parametrize("magic", [b"PK\x03\x04", b"7z\xbc\xaf\x27\x1c", b"Rar!\x1a\x07\x00", b"Rar!\x1a\x07\x01\x00",
                                   b"\x78\x9f\x3e\x22", b"From: a@b.c\r\nSubject: x\r\n\r\n"])
def test_truncated_or_random_containers_give_values_not_exceptions(magic: bytes) -> None:
    for tail in (b"", b"\xff" * 7, bytes(range(256)) * 3):
        u = one("x.bin", magic + tail)
        assert all(p.code.startswith("archive_") for p in u.problems)
        assert len(u.parts) <= 1


@needs_bsdtar
def test_bsdtar_cannot_write_a_file_past_its_cap(tmp_path: Path) -> None:
    """The file-size limit of the bsdtar child is set without Python code between fork and exec (prlimit):
    a file growing past the cap stops the child with SIGXFSZ."""
    from bot.adapters.bsdtar import _bsdtar

    archive = tmp_path / "a.rar"
    archive.write_bytes(archives.rar4({"big.bin": b"x" * 200_000}))
    out = tmp_path / "out"
    out.mkdir()
    bsdtar = shutil.which("bsdtar") or "bsdtar"
    capped = _bsdtar([bsdtar, "-xf", str(archive), "-C", str(out)], file_cap=10_000)
    assert capped.returncode == -signal.SIGXFSZ
    assert (out / "big.bin").stat().st_size <= 10_000
    whole = _bsdtar([bsdtar, "-xf", str(archive), "-C", str(out)], file_cap=1_000_000)
    assert whole.returncode == 0 and (out / "big.bin").stat().st_size == 200_000
