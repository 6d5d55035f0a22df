from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest
from openpyxl import Workbook
from PIL import Image

from bot.core.files.sniff import MIME, sniff
from tests.fixtures.files import make_docx, make_jpeg, make_pdf, make_pixel_bomb_png, make_png, make_zip

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"


def _pillow_bytes(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, fmt)
    return out.getvalue()


def _ole(*streams: str, filler: bytes = b"") -> bytes:
    """A compound file header, then 128-byte directory entries named `streams`, then `filler`."""
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1".ljust(512, b"\x00")
    entries = b""
    for name in ("Root Entry", *streams):
        encoded = name.encode("utf-16-le") + b"\x00\x00"
        entries += encoded.ljust(64, b"\x00") + len(encoded).to_bytes(2, "little") + b"\x00" * 62
    return header + entries + filler


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return (len(body) + 8).to_bytes(4, "big") + b"ftyp" + body + b"\x00" * 64


def _xlsx() -> bytes:
    out = io.BytesIO()
    Workbook().save(out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (make_jpeg(), "jpeg"),
        (make_png(), "png"),
        (make_pixel_bomb_png(), "png"),
        (make_docx("简报"), "docx"),
        (make_pdf("简报", "text"), "pdf"),
        (make_zip({"a.txt": b"a"}), "zip"),
    ],
    ids=["jpeg", "png", "pixel-bomb", "docx", "pdf", "zip"],
)
def test_each_fixture_builder_output_sniffs_as_its_own_kind(payload: bytes, kind: str) -> None:
    assert sniff(payload) == (kind, MIME[kind])


@pytest.mark.parametrize(
    ("fmt", "kind"), [("GIF", "gif"), ("BMP", "bmp"), ("TIFF", "tiff"), ("WEBP", "webp")]
)
def test_images_saved_by_pillow_sniff_by_their_magic(fmt: str, kind: str) -> None:
    assert sniff(_pillow_bytes(fmt))[0] == kind


@pytest.mark.parametrize("brand", [b"heic", b"heix", b"mif1", b"msf1", b"hevc"])
def test_heif_brands_sniff_as_heic(brand: bytes) -> None:
    assert sniff(_ftyp(brand, b"mif1", b"heic")) == ("heic", "image/heic")


def test_heif_container_with_avif_brand_is_avif_not_heic() -> None:
    assert sniff(_ftyp(b"avif", b"mif1", b"miaf"))[0] == "avif"
    assert sniff(_ftyp(b"mif1", b"avif", b"miaf"))[0] == "avif"


def test_mp4_video_is_not_an_image() -> None:
    assert sniff(_ftyp(b"isom", b"iso2", b"mp41"))[0] == "unknown"


def test_xlsx_written_by_openpyxl_is_xlsx() -> None:
    assert sniff(_xlsx())[0] == "xlsx"


def test_zip_with_content_types_and_ppt_folder_is_pptx() -> None:
    payload = make_zip({"[Content_Types].xml": b"<Types/>", "ppt/presentation.xml": b"<p/>"})
    assert sniff(payload)[0] == "pptx"


def test_zip_with_word_folder_but_no_content_types_is_a_plain_zip() -> None:
    assert sniff(make_zip({"word/document.xml": b"<w/>"}))[0] == "zip"


def test_zip_holding_a_docx_is_a_plain_zip() -> None:
    assert sniff(make_zip({"典型事例/张三.docx": make_docx("典型事例")}))[0] == "zip"


def test_docx_without_its_central_directory_is_still_docx() -> None:
    payload = make_docx("简报", ["正文"] * 50)
    damaged = payload[: payload.rfind(b"PK\x01\x02")]  # cut the central directory
    assert sniff(damaged)[0] == "docx"


def test_odf_text_is_odt() -> None:
    payload = make_zip({"mimetype": MIME["odt"].encode(), "content.xml": b"<office/>"})
    assert sniff(payload)[0] == "odt"


@pytest.mark.parametrize(
    ("streams", "kind"),
    [
        (("WordDocument", "1Table"), "doc"),
        (("Workbook",), "xls"),
        (("Book",), "xls"),
        (("Current User", "PowerPoint Document"), "ppt"),
        (("CONTENTS", "MatOST"), "wps"),
        (("__substg1.0_0037001F",), "ole"),
    ],
)
def test_ole_file_kind_comes_from_its_stream_names(streams: tuple[str, ...], kind: str) -> None:
    assert sniff(_ole(*streams))[0] == kind


def test_word_file_with_an_embedded_workbook_is_doc() -> None:
    assert sniff(_ole("ObjectPool", "Workbook", "WordDocument"))[0] == "doc"


def test_stream_name_in_document_text_does_not_count_as_a_stream() -> None:
    text = b"x" + "WordDocument".encode("utf-16-le") + b"\x00\x00"
    assert sniff(_ole("__substg1.0_1000001F", filler=text))[0] == "ole"


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (b"Rar!\x1a\x07\x00" + b"\x00" * 20, "rar"),
        (b"Rar!\x1a\x07\x01\x00" + b"\x00" * 20, "rar"),
        (b"7z\xbc\xaf\x27\x1c\x00\x04" + b"\x00" * 20, "7z"),
        (gzip.compress(b"hello", mtime=0), "gzip"),
        (rb"{\rtf1\ansi\ansicpg936 {\fonttbl} hello}", "rtf"),
    ],
    ids=["rar4", "rar5", "7z", "gzip", "rtf"],
)
def test_archives_and_rtf_sniff_by_their_signatures(payload: bytes, kind: str) -> None:
    assert sniff(payload)[0] == kind


def test_html_with_doctype_and_leading_blank_is_html() -> None:
    assert (
        sniff(b"\xef\xbb\xbf\n<!DOCTYPE html>\n<html><body>\xe7\xae\x80\xe6\x8a\xa5</body></html>")[0]
        == "html"
    )


def test_mail_headers_make_eml_even_after_an_mbox_from_line() -> None:
    mail = b"From a@b.c Mon Jan  1 00:00:00 2024\nFrom: a@b.c\nTo: x@y.z\nSubject:\n =?utf-8?b?5a6e?=\n\nbody"
    assert sniff(mail) == ("eml", "message/rfc822")


def test_text_with_one_colon_line_is_text_not_mail() -> None:
    assert sniff("标题: 工作简报\n正文内容\n".encode())[0] == "text"


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030", "utf-16"])
def test_chinese_text_is_text_in_each_common_encoding(encoding: str) -> None:
    assert sniff("2020年志愿服务活动简报\r\n内容".encode(encoding))[0] == "text"


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x00\x01\x02\x03binary", b"MZ\x90\x00\x03\x00\x00\x00", b"BM but just text\x00"],
    ids=["empty", "binary", "exe", "bm-text"],
)
def test_unrecognised_bytes_are_unknown(payload: bytes) -> None:
    assert sniff(payload) == ("unknown", "application/octet-stream")


@pytest.mark.skipif(not CORPORA.is_dir(), reason="shared corpora not present beside the repository")
def test_real_word_and_outlook_files_in_the_corpora_sniff_as_doc_and_ole() -> None:
    docs = sorted(CORPORA.rglob("*.doc"))
    msgs = sorted(CORPORA.rglob("*.msg"))
    assert docs and msgs
    assert {path.name: sniff(path.read_bytes())[0] for path in docs} == {path.name: "doc" for path in docs}
    assert {path.name: sniff(path.read_bytes())[0] for path in msgs} == {path.name: "ole" for path in msgs}
