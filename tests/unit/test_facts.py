from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from docx import Document
from PIL import Image

from bot.core.files.file_facts import TEXT_HEAD_CHARS, inspect_file
from bot.core.files.sniff import MIME
from bot.core.model import FileFacts
from tests.fixtures.files import (
    make_docx,
    make_jpeg,
    make_pdf,
    make_pixel_bomb_png,
    make_png,
    make_wps_docx,
    make_zip,
)

LIMIT = 120_000_000
MB = 1024 * 1024


def inspect(payload: bytes, filename: str = "file", limit: int = LIMIT) -> FileFacts:
    return inspect_file(payload, filename, max_image_pixels=limit)


def _jpeg_with_exif(make: str, model: str) -> bytes:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = make, model
    out = io.BytesIO()
    Image.new("RGB", (32, 24), "blue").save(out, "JPEG", exif=exif)
    return out.getvalue()


def _docx_without_core_title(*paragraphs: str) -> bytes:
    document = Document()
    document.core_properties.title = "  "  # blank, as some templates leave it
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


# ---- images ----------------------------------------------------------------------------------------


def test_two_megabyte_camera_jpeg_gives_size_exif_and_camera() -> None:
    payload = make_jpeg(2 * MB)
    assert len(payload) >= 2 * MB
    assert inspect(payload, "IMG_0001.JPG") == FileFacts(
        kind="jpeg",
        mime="image/jpeg",
        is_image=True,
        width=1600,
        height=1200,
        has_exif=True,
        camera="Canon EOS 80D",
        taken_at="2020:06:01 09:30:00",
    )


def test_camera_joins_make_and_model_when_the_model_does_not_repeat_the_make() -> None:
    assert inspect(_jpeg_with_exif("Apple", "iPhone 12")).camera == "Apple iPhone 12"


def test_jpeg_without_exif_has_no_camera() -> None:
    facts = inspect(make_jpeg(exif=False, width=200, height=100))
    assert (facts.has_exif, facts.camera, facts.width, facts.height) == (False, None, 200, 100)


def test_truncated_jpeg_is_reported_truncated_with_its_declared_size() -> None:
    payload = make_jpeg(width=400, height=300)
    facts = inspect(payload[: len(payload) // 2])
    assert (facts.kind, facts.image_error, facts.width, facts.height) == ("jpeg", "truncated", 400, 300)


def test_jpeg_magic_followed_by_garbage_is_not_an_image() -> None:
    facts = inspect(b"\xff\xd8\xff" + b"\x00garbage" * 10)
    assert (facts.kind, facts.is_image, facts.image_error) == ("jpeg", True, "not-an-image")


def test_png_has_size_and_no_exif() -> None:
    facts = inspect(make_png(64, 32))
    assert (facts.kind, facts.width, facts.height, facts.has_exif, facts.image_error) == (
        "png",
        64,
        32,
        False,
        None,
    )


def test_pixel_bomb_is_refused_quickly_without_decoding() -> None:
    started = time.perf_counter()
    facts = inspect(make_pixel_bomb_png(30000, 30000))
    assert facts.image_error == "decompression-bomb"
    assert time.perf_counter() - started < 0.5  # decoding 900 million pixels would take seconds and 900 MB


def test_image_over_our_limit_but_under_pillows_is_refused_with_its_size() -> None:
    facts = inspect(make_pixel_bomb_png(12000, 12000))  # 144 M pixels: Pillow only warns, we refuse
    assert (facts.image_error, facts.width, facts.height) == ("decompression-bomb", 12000, 12000)


def test_the_pixel_limit_comes_from_the_argument() -> None:
    assert inspect(make_png(64, 64), limit=64 * 64 - 1).image_error == "decompression-bomb"
    assert inspect(make_png(64, 64), limit=64 * 64).image_error is None


def test_inspecting_leaves_pillows_global_limit_alone() -> None:
    before = Image.MAX_IMAGE_PIXELS
    inspect(make_pixel_bomb_png(), limit=10)
    after = Image.MAX_IMAGE_PIXELS
    assert after == before


def test_photo_file_name_on_pdf_bytes_gives_pdf_facts() -> None:
    facts = inspect(make_pdf("活动照片"), "IMG_0001.jpg")
    assert (facts.kind, facts.is_image, facts.is_document, facts.width) == ("pdf", False, True, None)


# ---- documents -------------------------------------------------------------------------------------


def test_docx_named_doc_is_read_as_docx_with_its_title_and_text() -> None:
    facts = inspect(make_docx("2020年志愿服务活动简报", ["第一段。", "", "第二段。"]), "简报.doc")
    assert (facts.kind, facts.is_document, facts.title) == ("docx", True, "2020年志愿服务活动简报")
    assert facts.text_head == "2020年志愿服务活动简报\n第一段。\n第二段。"


def test_docx_without_core_title_takes_its_first_non_empty_paragraph() -> None:
    facts = inspect(_docx_without_core_title("", "  经验总结  ", "正文"))
    assert facts.title == "经验总结"


def test_docx_text_head_is_cut_at_the_limit() -> None:
    facts = inspect(make_docx("标题", ["字" * 300, "词" * 300]))
    assert len(facts.text_head) == TEXT_HEAD_CHARS
    assert facts.text_head.startswith("标题\n字")


def test_broken_docx_gives_docx_facts_without_title() -> None:
    payload = make_docx("简报", ["正文"] * 50)
    facts = inspect(payload[: payload.rfind(b"PK\x01\x02")])
    assert facts == FileFacts(kind="docx", mime=MIME["docx"], is_document=True)


def test_pdf_title_comes_from_its_metadata_in_chinese() -> None:
    facts = inspect(make_pdf("典型事例：张三", "Zhang San helped 200 neighbours"))
    assert (facts.kind, facts.title) == ("pdf", "典型事例：张三")
    assert facts.text_head == "Zhang San helped 200 neighbours"


def test_pdf_without_metadata_title_takes_its_first_text_line() -> None:
    facts = inspect(make_pdf("", "\nVolunteer Brief 2020\nsecond line"))
    assert facts.title == "Volunteer Brief 2020"


def test_pdf_title_exported_by_word_loses_the_word_decoration() -> None:
    assert inspect(make_pdf("Microsoft Word - 经验总结.docx")).title == "经验总结"


def test_broken_pdf_gives_pdf_facts_without_title() -> None:
    facts = inspect(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\ngarbage")
    assert (facts.kind, facts.title, facts.text_head) == ("pdf", None, "")


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030", "utf-16"])
def test_plain_text_head_is_decoded(encoding: str) -> None:
    assert inspect("工作简报\n内容".encode(encoding)).text_head == "工作简报\n内容"


def test_zip_is_an_archive_with_no_title() -> None:
    facts = inspect(make_zip({"简报.docx": make_docx("简报")}))
    assert facts == FileFacts(kind="zip", mime="application/zip", is_archive=True)


# ---- deeper facts: HEIC, camera EXIF, pasted pictures, WPS, OLE, garbled PDF text -------------------


def test_an_iphone_heic_original_gives_size_and_camera() -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Apple", "iPhone 12"
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 10, 10)).save(out, format="HEIF", exif=exif.tobytes())
    facts = inspect(out.getvalue(), "IMG_0001.HEIC")
    assert (facts.kind, facts.width, facts.height, facts.has_exif, facts.camera, facts.image_error) == (
        "heic", 640, 480, True, "Apple iPhone 12", None)


def test_exif_with_only_an_orientation_is_not_camera_exif() -> None:
    exif = Image.Exif()
    exif[0x0112] = 1
    out = io.BytesIO()
    Image.new("RGB", (800, 600)).save(out, format="JPEG", exif=exif.tobytes())
    facts = inspect(out.getvalue(), "mmexport1607500000000.jpg")
    assert (facts.has_exif, facts.camera, facts.taken_at) == (False, None, None)


def test_pictures_pasted_in_a_docx_are_counted() -> None:
    assert inspect(make_docx("活动简报", ["正文"], pictures=3), "简报.docx").embedded_images == 3
    assert inspect(make_docx("活动简报"), "简报.docx").embedded_images == 0


def test_a_wps_docx_python_docx_refuses_is_read_from_its_xml() -> None:
    facts = inspect(make_wps_docx("经验总结", ["社区志愿服务的做法"]), "材料.docx")
    assert (facts.kind, facts.title) == ("docx", "经验总结")
    assert "社区志愿服务的做法" in facts.text_head


def test_garbled_pdf_text_is_flagged_and_not_used() -> None:
    facts = inspect(make_pdf("", "#$%&*@^~|#$%&*@^~|#$%&*@^~|#$%&*@^~|"), "材料.pdf")
    assert (facts.text_garbled, facts.text_head, facts.title) == (True, "", None)


TNEF_DOCS = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "MimeKit" / "UnitTests" / "TestData" / "tnef"


@pytest.mark.skipif(not TNEF_DOCS.exists(), reason="the shared corpora are not beside the repository")
def test_a_word_97_doc_is_read_through_its_piece_table() -> None:
    facts = inspect((TNEF_DOCS / "MAPI_ATTACH_DATA_OBJ" / "VIA_Nytt_1402.doc").read_bytes(), "x.doc")
    assert facts.kind == "doc"
    assert facts.text_head.startswith("VIA Nytt 14 - 2002\t20 august\nVIA Flyspesialisten ønsker")
    assert facts.title == "VIA Nytt 14 - 2002 20 august" and facts.embedded_images == 3


@pytest.mark.skipif(not TNEF_DOCS.exists(), reason="the shared corpora are not beside the repository")
def test_an_ole_file_without_a_readable_piece_table_is_flagged_not_guessed() -> None:
    facts = inspect((TNEF_DOCS / "missing-filenames" / "TechlibNOV99.doc").read_bytes(), "x.doc")
    assert (facts.kind, facts.title, facts.text_head, facts.text_garbled) == ("doc", None, "", True)
