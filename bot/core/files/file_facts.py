"""What the bytes of one file say about it: type, image size and EXIF, document title and first text.

Pure: reads only the payload (through io.BytesIO), never raises for a bad file.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import replace

from PIL import Image, UnidentifiedImageError

from bot.core.files.documents import TEXT_HEAD_CHARS, read_document
from bot.core.files.sniff import ARCHIVE_KINDS, DOCUMENT_KINDS, IMAGE_KINDS, sniff
from bot.core.model import FileFacts

_MAKE, _MODEL = 0x010F, 0x0110
_EXIF_IFD, _DATETIME_ORIGINAL = 0x8769, 0x9003

def inspect_file(payload: bytes, filename: str, *, max_image_pixels: int) -> FileFacts:
    """Facts from the bytes alone; `filename` is never trusted for the type (kept for log context)."""
    kind, mime = sniff(payload)
    facts = FileFacts(
        kind=kind,
        mime=mime,
        is_image=kind in IMAGE_KINDS,
        is_document=kind in DOCUMENT_KINDS,
        is_archive=kind in ARCHIVE_KINDS,
    )
    if facts.is_image:
        return _with_image_facts(facts, payload, max_image_pixels)
    doc = read_document(kind, payload)
    if doc is None:
        return facts
    return replace(facts, title=doc.title, text_head=doc.text[:TEXT_HEAD_CHARS], embedded_images=doc.images,
                   text_garbled=doc.garbled)


# ---- images ---------------------------------------------------------------------------------------


def _with_image_facts(facts: FileFacts, payload: bytes, max_pixels: int) -> FileFacts:
    if facts.kind == "heic" and not _heif_opener_registered():
        return facts  # no decoder: an image whose size we cannot know, which is not the sender's fault
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(payload))  # reads the header only
    except Image.DecompressionBombError:
        return replace(facts, image_error="decompression-bomb")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        return replace(facts, image_error="not-an-image")
    with image:
        width, height = image.size
        facts = replace(facts, width=width, height=height, **_exif_facts(image))
        if width * height > max_pixels:
            return replace(facts, image_error="decompression-bomb")
        error = _decode_error(image, payload)
    return replace(facts, image_error=error) if error else facts


def _exif_facts(image: Image.Image) -> dict[str, object]:
    """Camera EXIF only: a bare block with Orientation or Software (what WeChat leaves) does not count."""
    try:
        exif = image.getexif()
        taken = _exif_text(exif.get_ifd(_EXIF_IFD).get(_DATETIME_ORIGINAL)) if exif else ""
    except Exception:  # a damaged EXIF block must not hide the image
        return {}
    if not exif:
        return {}
    make, model = _exif_text(exif.get(_MAKE)), _exif_text(exif.get(_MODEL))
    camera = model if make and model.lower().startswith(make.lower()) else f"{make} {model}".strip()
    return {"has_exif": bool(camera or taken), "camera": camera or None, "taken_at": taken or None}


def _exif_text(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return str(value).strip("\x00 ") if value is not None else ""


def _decode_error(image: Image.Image, payload: bytes) -> str | None:
    """Truncation without decoding the pixels where the format allows: a JPEG must end with its EOI
    marker, a PNG with its IEND chunk; other formats are decoded."""
    if image.format == "JPEG":
        return None if payload.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9") else "truncated"
    if image.format == "PNG":
        return None if b"IEND" in payload[-64:] else "truncated"
    try:
        image.load()
    except Image.DecompressionBombError:
        return "decompression-bomb"
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, MemoryError):
        return "truncated"
    return None


def _heif_opener_registered() -> bool:
    """Register pillow-heif with Pillow the first time a HEIC file is seen, when it is installed."""
    if ".heic" in Image.registered_extensions():
        return True
    try:
        import pillow_heif  # type: ignore[import-not-found]
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True
