"""What the staff console shows of a stored file: a small JPEG of an image, a photo's facts, a document's title
and first lines.

Pure: takes the file's bytes, returns values; never raises for a bad file. A thumbnail is always a fresh JPEG
encoded here, never the sender's bytes: no EXIF (GPS), no ICC profile, no comment, no XMP.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps

from bot.core.files.documents import read_document
from bot.core.files.file_facts import camera_exif, open_image
from bot.core.files.sniff import IMAGE_KINDS, sniff

THUMBNAIL_SIDE = 360
THUMBNAIL_QUALITY = 82
# The Pillow plugins a preview may use: the raster formats sniff knows (the JPEG plugin also gives MPO, a
# camera's JPEG with a second picture inside). Never EPS (Ghostscript), nor anything else Pillow reads.
RASTER_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP", "HEIF", "AVIF")
_ORIENTATION = 0x0112
_SIDEWAYS = frozenset({5, 6, 7, 8})  # orientations that swap width and height
_BACKGROUND = (255, 255, 255)  # what transparent pixels become


@dataclass(frozen=True)
class PhotoFacts:
    """An image as the viewer sees it: its size upright, and what the camera wrote."""

    width: int  # after the EXIF orientation is applied
    height: int
    taken_at: str | None = None  # EXIF DateTimeOriginal as written ("2020:06:01 09:30:00")
    camera: str | None = None  # Make and Model ("Canon EOS 80D", "Apple iPhone 12")
    orientation_applied: bool = False  # the stored pixels are turned or mirrored to show it upright


@dataclass(frozen=True)
class DocumentPreview:
    title: str | None
    lines: tuple[str, ...]  # the first non-empty lines of the text, stripped, within the limits
    garbled: bool = False  # the text looked like garbage when read (a PDF with broken font maps)


def thumbnail(payload: bytes, *, max_side: int = THUMBNAIL_SIDE, max_image_pixels: int) -> bytes | None:
    """A JPEG of the image, upright, fitting `max_side` × `max_side`, without metadata.

    None when the bytes are not a raster image Pillow can decode (SVG, a document, garbage, a truncated file)
    or the image has more than `max_image_pixels` pixels."""
    if max_side < 1:
        raise ValueError(f"max_side must be positive: {max_side}")
    image = _open_raster(payload, max_image_pixels)
    if image is None:
        return None
    try:
        with image:
            if image.format in ("JPEG", "MPO"):
                image.draft("RGB", (max_side, max_side))  # let libjpeg decode at 1/2, 1/4 or 1/8 of the size
            upright = ImageOps.exif_transpose(image)  # decodes the pixels
        small = _eight_bit(upright)
        small.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        flat = _flatten(small)
        clean = Image.new("RGB", flat.size)  # a new image carries no info: no EXIF, ICC, comment or XMP
        clean.paste(flat)
        out = io.BytesIO()
        clean.save(out, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
    except Exception:  # a broken file may fail anywhere in a decoder; it just has no thumbnail
        return None
    return out.getvalue()


def photo_facts(payload: bytes, *, max_image_pixels: int) -> PhotoFacts | None:
    """Size upright, capture time and camera, from the header (no pixels decoded).

    None when the bytes are not a raster image Pillow can open or it has more than `max_image_pixels` pixels."""
    image = _open_raster(payload, max_image_pixels)
    if image is None:
        return None
    with image:
        width, height = image.size
        try:
            pending = image.getexif().get(_ORIENTATION)
        except Exception:  # a damaged EXIF block: nothing to apply, as exif_transpose would find
            pending = None
        pending = pending if isinstance(pending, int) else None
        # pillow-heif turns a HEIC itself while reading it and keeps what the file said here
        by_decoder = image.info.get("original_orientation")
        exif = camera_exif(image)
    if pending in _SIDEWAYS:
        width, height = height, width
    applied = any(isinstance(o, int) and 2 <= o <= 8 for o in (pending, by_decoder))
    return PhotoFacts(
        width=width,
        height=height,
        taken_at=exif.taken_at if exif else None,
        camera=exif.camera if exif else None,
        orientation_applied=applied,
    )


def document_preview(payload: bytes, kind: str, *, lines: int = 5, chars: int = 400) -> DocumentPreview | None:
    """The title and first non-empty lines of a document of `kind` (a FileFacts kind: docx, doc, wps, pdf, text).

    Lines are stripped with their runs of blanks made one space; a first line that only repeats the title is
    left out. At most `lines` lines and `chars` characters in all (the last line cut to fit). None when the
    kind is not a document we read or the document does not open."""
    document = read_document(kind, payload)
    if document is None:
        return None
    title = document.title[:chars] if document.title else None
    picked: list[str] = []
    budget = chars
    for raw in document.text.splitlines():
        if len(picked) >= lines or budget <= 0:
            break
        line = " ".join(raw.split())
        if not line or (not picked and line == title):
            continue
        picked.append(line[:budget])
        budget -= len(picked[-1])
    return DocumentPreview(title=title, lines=tuple(picked), garbled=document.garbled)


# ---- helpers ---------------------------------------------------------------------------------------


def _open_raster(payload: bytes, max_pixels: int) -> Image.Image | None:
    """The image, header read, when the bytes are a raster image within the pixel limit; else None."""
    kind, _ = sniff(payload)
    if kind not in IMAGE_KINDS:
        return None  # SVG, HTML, documents, garbage: never handed to Pillow
    image = open_image(payload, kind, formats=RASTER_FORMATS)
    if isinstance(image, str):
        return None
    width, height = image.size
    if width < 1 or height < 1 or width * height > max_pixels:
        image.close()
        return None
    return image


def _eight_bit(image: Image.Image) -> Image.Image:
    """RGB, or RGBA when the image has transparency. 16-bit and float pixels are scaled to 8 bits first
    (Pillow's own conversion clips them: a 16-bit scan would come out white)."""
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        values = image.convert("F")
        top = 65535.0 if image.mode.startswith("I;16") else max(float(values.getextrema()[1]), 1e-9)
        image = values.point(lambda v: v * (255.0 / top)).convert("L")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def _flatten(image: Image.Image) -> Image.Image:
    """Transparent pixels over white (JPEG has no alpha; without this they turn black)."""
    if image.mode != "RGBA":
        return image
    background = Image.new("RGBA", image.size, (*_BACKGROUND, 255))
    background.alpha_composite(image)
    return background.convert("RGB")
