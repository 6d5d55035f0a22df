from pathlib import Path

import pytest

from storage.files import FileStore, UnsafePathError, safe_name, sha256_hex


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../x.jpg", "x.jpg"),
        ("..\\..\\windows\\system32\\x.jpg", "x.jpg"),
        ("C:\\Users\\a\\照片.jpg", "照片.jpg"),
        ("a\x00b\x07c.docx", "a_b_c.docx"),
        ("CON.txt", "_CON.txt"),
        ("nul", "_nul"),
        ("..", "file"),
        ("", "file"),
        ("  .hidden.jpg ", "hidden.jpg"),
        ('a<b>c:d"e|f?g*h.pdf', "a_b_c_d_e_f_g_h.pdf"),
        ("简报.docx", "简报.docx"),
    ],
)
def test_safe_name_keeps_the_last_component_and_removes_what_is_unsafe(name: str, expected: str) -> None:
    assert safe_name(name) == expected


def test_safe_name_bounds_a_500_character_name_and_keeps_its_extension() -> None:
    name = "长" * 500 + ".jpg"
    result = safe_name(name)
    assert result.endswith(".jpg")
    assert len(result.encode("utf-8")) <= 180


def test_place_is_idempotent_and_never_overwrites_a_different_file(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    a, b = b"first", b"second"
    first = store.place(("idv", "东城区文明办", "photo"), "IMG_1.jpg", a, sha256_hex(a))
    again = store.place(("idv", "东城区文明办", "photo"), "IMG_1.jpg", a, sha256_hex(a))
    other = store.place(("idv", "东城区文明办", "photo"), "IMG_1.jpg", b, sha256_hex(b))
    assert first == again == "idv/东城区文明办/photo/IMG_1.jpg"
    assert other == "idv/东城区文明办/photo/IMG_1 (2).jpg"
    assert (tmp_path / first).read_bytes() == a
    assert (tmp_path / other).read_bytes() == b


def test_place_keeps_a_hostile_name_inside_the_data_folder(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "data")
    payload = b"x"
    path = store.place(("idv", "..", "photo"), "../../../../x.jpg", payload, sha256_hex(payload))
    assert path == "idv/_/photo/x.jpg"
    assert (tmp_path / "data" / path).exists()
    assert not (tmp_path / "x.jpg").exists()


def test_absolute_refuses_a_path_outside_the_data_folder(tmp_path: Path) -> None:
    with pytest.raises(UnsafePathError):
        FileStore(tmp_path).absolute("../outside")


def test_archive_raw_is_content_addressed_and_byte_exact(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    raw = b"From: a@b\r\n\r\nbody\r\n"
    path = store.archive_raw(raw)
    assert path == f"raw/{sha256_hex(raw)[:2]}/{sha256_hex(raw)}.eml"
    assert store.archive_raw(raw) == path
    assert (tmp_path / path).read_bytes() == raw


def test_archiving_leaves_no_temporary_file_behind_whether_kept_again_or_dropped(tmp_path: Path) -> None:
    """The raw bytes are written while their hash is taken: a message the archive holds already leaves nothing
    beside it, and a dropped one (not campaign mail) leaves nothing at all."""
    store = FileStore(tmp_path)
    raw = b"From: a@b\r\n\r\n" + bytes(range(256)) * 4096
    first = store.archive_raw(raw)

    def files() -> list[str]:
        return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())

    again = store.archiving(raw)
    assert again.keep() == (first, sha256_hex(raw))
    assert files() == [first]
    store.archiving(b"From: c@d\r\n\r\nlunch?\r\n").drop()
    assert files() == [first] and (tmp_path / first).read_bytes() == raw


def test_messages_archived_one_after_another_keep_each_its_own_bytes(tmp_path: Path) -> None:
    """The poll starts archiving the next message before this one is kept: each has a temporary file of its own."""
    store = FileStore(tmp_path)
    first, second = (b"From: a@b\r\n\r\n" + bytes([n]) * 300_000 for n in (1, 2))
    writing_first = store.archiving(first)
    writing_second = store.archiving(second)
    writing_second.written.result()  # the second is on disk before the first is kept
    kept_first, kept_second = writing_first.keep()[0], writing_second.keep()[0]
    assert (tmp_path / kept_first).read_bytes() == first and (tmp_path / kept_second).read_bytes() == second


def test_sweep_removes_temporary_and_unreferenced_files_only(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    kept = store.place(("idv", "u", "photo"), "a.jpg", b"a", sha256_hex(b"a"))
    orphan = store.place(("idv", "u", "photo"), "b.jpg", b"b", sha256_hex(b"b"))
    (tmp_path / "idv" / "u" / "photo" / ".tmp-1-c.jpg").write_bytes(b"partial")
    raw = store.archive_raw(b"raw")
    removed = store.sweep("idv", {kept})
    assert sorted(removed) == sorted([orphan, "idv/u/photo/.tmp-1-c.jpg"])
    assert (tmp_path / kept).exists() and (tmp_path / raw).exists()


def test_a_batch_names_each_file_at_once_and_writes_them_all_intact(tmp_path: Path) -> None:
    """The files of one message are written on two threads: names that begin alike never share a temporary
    file, the same content twice is one file, another content of the same name is numbered."""
    store = FileStore(tmp_path)
    long = "unit-12-volunteer-service-photos-2020-12-05-morning-batch-one-original"  # alike past 40 characters
    payloads = {f"{long}-{n}.jpg": bytes([n]) * (1 << 20) for n in range(8)}
    placing = store.placing()
    paths = {name: placing.place(("idv", "u", "photo"), name, data, sha256_hex(data))
             for name, data in payloads.items()}
    same = placing.place(("idv", "u", "photo"), f"{long}-0.jpg", payloads[f"{long}-0.jpg"],
                         sha256_hex(payloads[f"{long}-0.jpg"]))
    other = placing.place(("idv", "u", "photo"), f"{long}-0.jpg", b"other", sha256_hex(b"other"))
    placing.wait()
    assert same == paths[f"{long}-0.jpg"] and other == f"idv/u/photo/{long}-0 (2).jpg"
    assert {name: (tmp_path / path).read_bytes() for name, path in paths.items()} == payloads
    assert (tmp_path / other).read_bytes() == b"other"
    assert not list(tmp_path.rglob(".tmp-*"))
