"""Previews for the staff console: thumbnails (upright, small, without metadata), a photo's facts, a
document's first lines (bot/core/files/preview.py), and their cache on disk (bot/office/previews.py)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageCms

from bot.core.files import preview
from bot.core.files.preview import DocumentPreview, PhotoFacts, document_preview, photo_facts, thumbnail
from bot.office.previews import Previews
from storage.files import sha256_hex
from tests.fixtures.files import EXIF_DATETIME, make_docx, make_jpeg, make_pixel_bomb_png, make_png

LIMIT = 120_000_000
_MAKE, _MODEL, _ORIENTATION, _EXIF_IFD, _DATETIME_ORIGINAL = 0x010F, 0x0110, 0x0112, 0x8769, 0x9003
RED, BLUE = (220, 0, 0), (0, 0, 220)
SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="800" height="600">' \
      b'<rect width="800" height="600" fill="red"/></svg>'


def _sideways_phone_jpeg(width: int = 800, height: int = 600) -> bytes:
    """A phone photo stored landscape (left half red, right half blue) with EXIF orientation 6: shown upright
    it is portrait, red on top. It carries camera EXIF, an ICC profile and a comment, none of which a
    thumbnail may keep."""
    image = Image.new("RGB", (width, height), BLUE)
    image.paste(RED, (0, 0, width // 2, height))
    exif = Image.Exif()
    exif[_MAKE], exif[_MODEL], exif[_ORIENTATION] = "Apple", "iPhone 12", 6
    exif.get_ifd(_EXIF_IFD)[_DATETIME_ORIGINAL] = EXIF_DATETIME
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif, icc_profile=icc, comment=b"sent from my phone")
    return out.getvalue()


def _assert_clean_jpeg(thumb: bytes, original: bytes) -> Image.Image:
    assert thumb != original
    image = Image.open(io.BytesIO(thumb))
    assert image.format == "JPEG"
    assert image.mode == "RGB"
    assert not image.getexif()
    assert not {"exif", "icc_profile", "comment", "xmp"} & set(image.info)
    assert b"Exif" not in thumb and b"iPhone" not in thumb and b"Canon" not in thumb
    return image


def _close(pixel: tuple[int, ...], colour: tuple[int, int, int]) -> bool:
    return all(abs(a - b) < 40 for a, b in zip(pixel, colour, strict=True))


# ---- thumbnail ------------------------------------------------------------------------------------


def test_a_sideways_phone_jpeg_gives_an_upright_portrait_thumbnail_without_metadata() -> None:
    original = _sideways_phone_jpeg()
    thumb = thumbnail(original, max_image_pixels=LIMIT)
    assert thumb is not None
    image = _assert_clean_jpeg(thumb, original)
    assert image.size == (270, 360)
    assert _close(image.getpixel((135, 20)), RED)  # the left of the stored pixels is the top of the photo
    assert _close(image.getpixel((135, 340)), BLUE)


def test_a_thumbnail_fits_the_side_asked_for() -> None:
    thumb = thumbnail(_sideways_phone_jpeg(), max_side=100, max_image_pixels=LIMIT)
    assert thumb is not None
    assert Image.open(io.BytesIO(thumb)).size == (75, 100)


def test_a_large_camera_jpeg_is_shrunk_and_loses_its_exif() -> None:
    original = make_jpeg(width=3000, height=2000)
    thumb = thumbnail(original, max_image_pixels=LIMIT)
    assert thumb is not None
    assert _assert_clean_jpeg(thumb, original).size == (360, 240)
    assert len(thumb) < len(original) // 10


def test_a_small_jpeg_is_still_encoded_afresh_never_the_senders_bytes() -> None:
    original = make_jpeg(width=120, height=80)
    thumb = thumbnail(original, max_image_pixels=LIMIT)
    assert thumb is not None
    assert _assert_clean_jpeg(thumb, original).size == (120, 80)


def test_a_png_gives_a_jpeg_thumbnail() -> None:
    original = make_png(640, 480)
    thumb = thumbnail(original, max_image_pixels=LIMIT)
    assert thumb is not None
    assert _assert_clean_jpeg(thumb, original).size == (360, 270)


def test_transparent_pixels_become_white_not_black() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (50, 50), (0, 0, 0, 0)).save(out, "PNG")
    thumb = thumbnail(out.getvalue(), max_image_pixels=LIMIT)
    assert thumb is not None
    assert _close(Image.open(io.BytesIO(thumb)).getpixel((25, 25)), (255, 255, 255))


def test_a_16_bit_grey_png_keeps_its_shade() -> None:
    out = io.BytesIO()
    Image.new("I;16", (40, 40), 32768).save(out, "PNG")
    thumb = thumbnail(out.getvalue(), max_image_pixels=LIMIT)
    assert thumb is not None
    assert _close(Image.open(io.BytesIO(thumb)).getpixel((20, 20)), (128, 128, 128))


def _heic(exif: Image.Exif) -> bytes:
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    out = io.BytesIO()
    try:
        Image.new("RGB", (640, 480), RED).save(out, format="HEIF", exif=exif.tobytes())
    except Exception as error:  # pillow-heif built without an encoder
        pytest.skip(f"pillow-heif cannot write HEIC here: {error}")
    return out.getvalue()


def test_an_iphone_heic_gives_an_upright_jpeg_thumbnail_and_its_facts() -> None:
    exif = Image.Exif()
    exif[_MAKE], exif[_MODEL], exif[_ORIENTATION] = "Apple", "iPhone 12", 6
    exif.get_ifd(_EXIF_IFD)[_DATETIME_ORIGINAL] = EXIF_DATETIME
    original = _heic(exif)
    thumb = thumbnail(original, max_image_pixels=LIMIT)
    assert thumb is not None
    image = _assert_clean_jpeg(thumb, original)
    assert image.size == (270, 360)
    assert _close(image.getpixel((100, 100)), RED)
    assert photo_facts(original, max_image_pixels=LIMIT) == PhotoFacts(
        width=480, height=640, taken_at=EXIF_DATETIME, camera="Apple iPhone 12", orientation_applied=True)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not an image at all",
        b"\xff\xd8\xff\xe0" + b"\x00" * 200,  # a JPEG's first bytes and nothing of a JPEG
        b"\x89PNG\r\n\x1a\n" + b"garbage" * 30,
        SVG,
        SVG.split(b"\n", 1)[1],
        make_docx("活动简报", ["正文"]),
    ],
    ids=["empty", "text", "jpeg-magic", "png-magic", "svg", "svg-bare", "docx"],
)
def test_what_is_not_a_raster_image_has_no_thumbnail_and_no_facts(payload: bytes) -> None:
    assert thumbnail(payload, max_image_pixels=LIMIT) is None
    assert photo_facts(payload, max_image_pixels=LIMIT) is None


def test_a_truncated_jpeg_has_no_thumbnail() -> None:
    whole = make_jpeg(width=400, height=300, exif=False)
    assert thumbnail(whole[: len(whole) // 2], max_image_pixels=LIMIT) is None


def test_an_image_over_the_pixel_limit_is_not_decoded() -> None:
    assert thumbnail(make_png(100, 100), max_image_pixels=9_999) is None
    assert photo_facts(make_png(100, 100), max_image_pixels=9_999) is None
    assert thumbnail(make_png(100, 100), max_image_pixels=10_000) is not None
    assert thumbnail(make_pixel_bomb_png(), max_image_pixels=LIMIT) is None  # 900 million pixels


def test_max_side_must_be_positive() -> None:
    with pytest.raises(ValueError):
        thumbnail(make_png(), max_side=0, max_image_pixels=LIMIT)


# ---- photo facts ----------------------------------------------------------------------------------


def test_photo_facts_of_a_sideways_phone_jpeg_are_upright_with_camera_and_time() -> None:
    assert photo_facts(_sideways_phone_jpeg(), max_image_pixels=LIMIT) == PhotoFacts(
        width=600, height=800, taken_at=EXIF_DATETIME, camera="Apple iPhone 12", orientation_applied=True)


def test_photo_facts_of_a_camera_jpeg_name_the_camera_once() -> None:
    facts = photo_facts(make_jpeg(width=300, height=200, camera="Canon EOS 80D"), max_image_pixels=LIMIT)
    assert facts == PhotoFacts(300, 200, taken_at=EXIF_DATETIME, camera="Canon EOS 80D")


def test_photo_facts_of_a_png_without_exif() -> None:
    assert photo_facts(make_png(64, 32), max_image_pixels=LIMIT) == PhotoFacts(64, 32)


# ---- document preview -----------------------------------------------------------------------------


def test_a_docx_preview_gives_its_title_and_first_lines() -> None:
    paragraphs = ["  一、活动概况  ", "", "二、主要做法", "三、成效", "四、体会", "五、下一步", "六"]
    payload = make_docx("社区志愿服务简报", paragraphs)
    assert document_preview(payload, "docx") == DocumentPreview(
        title="社区志愿服务简报", lines=("一、活动概况", "二、主要做法", "三、成效", "四、体会", "五、下一步"))


def test_a_document_preview_keeps_to_its_line_and_character_limits() -> None:
    payload = make_docx("简报", ["甲" * 30, "乙" * 30, "丙" * 30])
    assert document_preview(payload, "docx", lines=2) == DocumentPreview("简报", ("甲" * 30, "乙" * 30))
    assert document_preview(payload, "docx", chars=45) == DocumentPreview("简报", ("甲" * 30, "乙" * 15))


def test_a_plain_text_preview_has_no_title_and_joins_blanks() -> None:
    payload = "\n\n  第一行   有空格 \n\n第二行\n".encode()
    assert document_preview(payload, "text") == DocumentPreview(None, ("第一行 有空格", "第二行"))


@pytest.mark.parametrize(("payload", "kind"), [(b"PK\x03\x04 broken", "docx"), (make_png(), "png"), (b"x", "zip")])
def test_what_is_not_a_readable_document_has_no_preview(payload: bytes, kind: str) -> None:
    assert document_preview(payload, kind) is None


# ---- the cache on disk ----------------------------------------------------------------------------


def _store(root: Path, relative: str, payload: bytes) -> str:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    return relative


@pytest.fixture
def previews(tmp_path: Path) -> Previews:
    return Previews(tmp_path / "data", tmp_path / "cache", LIMIT)


def test_a_thumbnail_is_made_once_and_then_served_from_the_cache(previews: Previews, tmp_path: Path) -> None:
    payload = _sideways_phone_jpeg()
    sha = sha256_hex(payload)
    relative = _store(tmp_path / "data", "2024-summer/第一社区/photo/IMG_0001.jpg", payload)
    first = previews.thumbnail_path(sha, relative)
    assert first == tmp_path / "cache" / sha[:2] / f"{sha}.jpg"
    assert first.is_file()
    assert Image.open(first).size == (270, 360)
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no temporary file left behind
    (tmp_path / "data" / relative).unlink()  # the second call must not read the original
    assert previews.thumbnail_path(sha, relative) == first


def test_a_broken_image_is_remembered_and_not_decoded_again(
    previews: Previews, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = b"\xff\xd8\xff\xe0" + b"\x00" * 500
    sha = sha256_hex(payload)
    relative = _store(tmp_path / "data", "2024-summer/第一社区/photo/broken.jpg", payload)
    calls: list[bytes] = []
    monkeypatch.setattr("bot.office.previews.thumbnail",
                        lambda data, **kw: calls.append(data) or preview.thumbnail(data, **kw))
    assert previews.thumbnail_path(sha, relative) is None
    assert previews.thumbnail_path(sha, relative) is None
    assert len(calls) == 1
    assert (tmp_path / "cache" / sha[:2] / f"{sha}.none").is_file()
    assert not (tmp_path / "cache" / sha[:2] / f"{sha}.jpg").exists()


def test_a_missing_or_different_file_gives_no_thumbnail_and_is_not_remembered(
    previews: Previews, tmp_path: Path
) -> None:
    payload = make_png()
    sha = sha256_hex(payload)
    assert previews.thumbnail_path(sha, "2024-summer/第一社区/photo/gone.png") is None
    relative = _store(tmp_path / "data", "2024-summer/第一社区/photo/other.png", make_png(seed=1))
    assert previews.thumbnail_path(sha, relative) is None
    assert not (tmp_path / "cache").exists()
    _store(tmp_path / "data", relative, payload)
    assert previews.thumbnail_path(sha, relative) is not None


@pytest.mark.parametrize(
    "stored_path", ["../x", "/etc/passwd", "a/../../x", "a/../b.jpg", "..", "", "C:\\Windows\\win.ini", "\\\\host\\x"]
)
def test_a_path_that_is_absolute_or_goes_up_is_refused(previews: Previews, stored_path: str) -> None:
    sha = sha256_hex(b"x")
    with pytest.raises(ValueError):
        previews.thumbnail_path(sha, stored_path)
    with pytest.raises(ValueError):
        previews.facts(stored_path)
    with pytest.raises(ValueError):
        previews.document(stored_path, "docx")


def test_a_symbolic_link_out_of_the_data_folder_is_refused(previews: Previews, tmp_path: Path) -> None:
    (tmp_path / "secret.jpg").write_bytes(make_png())
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    with pytest.raises(ValueError):
        previews.thumbnail_path(sha256_hex(make_png()), "link.jpg")


@pytest.mark.parametrize(
    "sha",
    ["", "abc", "A" * 64, "g" * 64, "a" * 63, "a" * 65, "a" * 64 + "\n", "../" + "a" * 61],
)
def test_a_malformed_sha256_is_refused(previews: Previews, tmp_path: Path, sha: str) -> None:
    relative = _store(tmp_path / "data", "photo.png", make_png())
    with pytest.raises(ValueError):
        previews.thumbnail_path(sha, relative)
    assert not (tmp_path / "cache").exists()


def test_facts_and_document_read_the_stored_file(previews: Previews, tmp_path: Path) -> None:
    photo = _store(tmp_path / "data", "2024-summer/第一社区/photo/IMG_0002.jpg", _sideways_phone_jpeg())
    brief = _store(tmp_path / "data", "2024-summer/第一社区/brief/简报.docx", make_docx("工作简报", ["正文第一段"]))
    assert previews.facts(photo) == PhotoFacts(600, 800, EXIF_DATETIME, "Apple iPhone 12", True)
    assert previews.facts(brief) is None
    assert previews.document(brief, "docx") == DocumentPreview("工作简报", ("正文第一段",))
    assert previews.facts("2024-summer/第一社区/photo/gone.jpg") is None
    assert previews.document("2024-summer/第一社区/brief/gone.docx", "docx") is None
