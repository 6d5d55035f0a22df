"""What the bytes of one file say about it: type, image size and EXIF, document title and first text.

Pure: reads only the payload (through io.BytesIO), never raises for a bad file.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, replace

from PIL import Image, UnidentifiedImageError

from bot.core.files.documents import TEXT_HEAD_CHARS, read_document
from bot.core.files.sniff import ARCHIVE_KINDS, DOCUMENT_KINDS, IMAGE_KINDS, sniff
from bot.core.model import FileFacts

_MAKE, _MODEL = 0x010F, 0x0110
_EXIF_IFD, _DATETIME_ORIGINAL = 0x8769, 0x9003
NO_DECODER = "no-decoder"  # open_image: a HEIC file and pillow-heif is not installed

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
    image = open_image(payload, facts.kind)
    if image == NO_DECODER:
        return facts  # no decoder: an image whose size we cannot know, which is not the sender's fault
    if isinstance(image, str):
        return replace(facts, image_error=image)
    with image:
        width, height = image.size
        exif = camera_exif(image)
        if exif is not None:
            facts = replace(facts, has_exif=exif.has_exif, camera=exif.camera, taken_at=exif.taken_at)
        facts = replace(facts, width=width, height=height)
        if width * height > max_pixels:
            return replace(facts, image_error="decompression-bomb")
        error = _decode_error(image, payload)
    return replace(facts, image_error=error) if error else facts


@dataclass(frozen=True)
class CameraExif:
    """What a camera writes: Make and Model as one name, and DateTimeOriginal as written."""

    camera: str | None = None
    taken_at: str | None = None

    @property
    def has_exif(self) -> bool:
        """Camera EXIF only: a bare block with Orientation or Software (what WeChat leaves) does not count."""
        return bool(self.camera or self.taken_at)


def open_image(payload: bytes, kind: str, *, formats: tuple[str, ...] | None = None) -> Image.Image | str:
    """Pillow's image from the header alone (no pixels decoded), or why not: NO_DECODER (a HEIC file without
    pillow-heif), "decompression-bomb" (over Pillow's own hard limit), "not-an-image". `formats` limits the
    Pillow plugins tried (those this Pillow has). The caller closes the image and checks its own pixel limit."""
    if kind == "heic" and not _heif_opener_registered():
        return NO_DECODER
    if formats is not None:
        Image.init()  # every plugin registered, so that one this Pillow lacks is left out, not a KeyError
        formats = tuple(name for name in formats if name in Image.OPEN)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(payload), formats=formats)  # reads the header only
    except Image.DecompressionBombError:
        return "decompression-bomb"
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        return "not-an-image"


def camera_exif(image: Image.Image) -> CameraExif | None:
    """The camera's EXIF; None when the image has no EXIF block or a damaged one."""
    try:
        exif = image.getexif()
        taken = _exif_text(exif.get_ifd(_EXIF_IFD).get(_DATETIME_ORIGINAL)) if exif else ""
    except Exception:  # a damaged EXIF block must not hide the image
        return None
    if not exif:
        return None
    make, model = _exif_text(exif.get(_MAKE)), _exif_text(exif.get(_MODEL))
    camera = model if make and model.lower().startswith(make.lower()) else f"{make} {model}".strip()
    return CameraExif(camera=camera or None, taken_at=taken or None)


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
