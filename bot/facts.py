"""What the bytes of one file say about it: type, image size and EXIF, document title and first text.

Pure: reads only the payload (through io.BytesIO), never raises for a bad file.
"""

from __future__ import annotations

import codecs
import io
import re
import warnings
from dataclasses import replace

from PIL import Image, UnidentifiedImageError

from bot.model import FileFacts
from bot.sniff import ARCHIVE_KINDS, DOCUMENT_KINDS, IMAGE_KINDS, sniff

TEXT_HEAD_CHARS = 500
_PDF_PAGES_FOR_TEXT = 3
_MAKE, _MODEL = 0x010F, 0x0110
_OFFICE_EXPORT_NAME = re.compile(  # "Microsoft Word - 经验总结.docx", as Word writes a PDF's /Title
    r"^Microsoft (Word|PowerPoint|Excel) - |\.(docx?|wps|xlsx?|pptx?)$", re.IGNORECASE
)
_SPACES = re.compile(r"\s+")


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
    title, text = _document_text(kind, payload)
    if title is None and not text:
        return facts
    return replace(facts, title=title, text_head=text[:TEXT_HEAD_CHARS])


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
        error = _decode_error(image)
    return replace(facts, image_error=error) if error else facts


def _exif_facts(image: Image.Image) -> dict[str, object]:
    try:
        exif = image.getexif()
    except Exception:  # a damaged EXIF block must not hide the image
        return {}
    if not exif:
        return {}
    make, model = _exif_text(exif.get(_MAKE)), _exif_text(exif.get(_MODEL))
    camera = model if make and model.lower().startswith(make.lower()) else f"{make} {model}".strip()
    return {"has_exif": True, "camera": camera or None}


def _exif_text(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return str(value).strip("\x00 ") if value is not None else ""


def _decode_error(image: Image.Image) -> str | None:
    """Decode the pixels (JPEG at 1/8 scale, which still reads every byte) to catch truncation."""
    try:
        if image.format == "JPEG":
            image.draft(image.mode, (max(1, image.width // 8), max(1, image.height // 8)))
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


# ---- documents ------------------------------------------------------------------------------------


def _document_text(kind: str, payload: bytes) -> tuple[str | None, str]:
    """(title, first text) of a document; (None, "") for other kinds or when the document does not open."""
    reader = _READERS.get(kind)
    if reader is None:
        return None, ""
    try:
        title, text = reader(payload)
    except Exception:  # broken documents are common; they just tell us nothing
        return None, ""
    return _clean_title(title), text.strip()


def _docx_text(payload: bytes) -> tuple[str | None, str]:
    from docx import Document

    document = Document(io.BytesIO(payload))
    paragraphs = []
    length = 0
    for paragraph in document.paragraphs:
        text = paragraph.text.strip()
        if text:
            paragraphs.append(text)
            length += len(text) + 1
            if length > TEXT_HEAD_CHARS:
                break
    title = _clean_title(document.core_properties.title) or (paragraphs[0] if paragraphs else None)
    return title, "\n".join(paragraphs)


def _pdf_text(payload: bytes) -> tuple[str | None, str]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(payload))
    metadata_title = reader.metadata.title if reader.metadata else None
    parts = []
    for page in reader.pages[:_PDF_PAGES_FOR_TEXT]:
        parts.append(page.extract_text() or "")
        if sum(len(part) for part in parts) > TEXT_HEAD_CHARS:
            break
    text = "\n".join(parts).strip()
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), None)
    return _clean_title(metadata_title) or first_line, text


def _plain_text(payload: bytes) -> tuple[str | None, str]:
    head = payload[: TEXT_HEAD_CHARS * 4]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, head.decode("utf-16", "replace")
    try:  # not final: a character cut at the end of the head is dropped, not an error
        return None, codecs.getincrementaldecoder("utf-8-sig")().decode(head)
    except UnicodeDecodeError:
        return None, head.decode("gb18030", "replace")


_READERS = {"docx": _docx_text, "pdf": _pdf_text, "text": _plain_text}


def _clean_title(title: object) -> str | None:
    """A title without Office's export decoration and extra blanks; None when nothing is left."""
    if not isinstance(title, str):
        return None
    title = _SPACES.sub(" ", _OFFICE_EXPORT_NAME.sub("", title)).strip()
    return title or None
