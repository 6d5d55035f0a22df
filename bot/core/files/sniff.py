"""File type from the bytes alone: magic numbers, zip entry names, OLE stream names. Never the file name."""

from __future__ import annotations

import codecs
import io
import re
import zipfile

IMAGE_KINDS = frozenset({"jpeg", "png", "gif", "bmp", "tiff", "webp", "heic", "avif"})
DOCUMENT_KINDS = frozenset(
    {"pdf", "docx", "doc", "wps", "xlsx", "xls", "pptx", "ppt", "odt", "ods", "odp", "rtf", "text"}
)
ARCHIVE_KINDS = frozenset({"zip", "rar", "7z", "gzip"})

MIME = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "bmp": "image/bmp",
    "tiff": "image/tiff",
    "webp": "image/webp",
    "heic": "image/heic",
    "avif": "image/avif",
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odp": "application/vnd.oasis.opendocument.presentation",
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "ppt": "application/vnd.ms-powerpoint",
    "wps": "application/vnd.ms-works",
    "ole": "application/x-ole-storage",
    "zip": "application/zip",
    "rar": "application/vnd.rar",
    "7z": "application/x-7z-compressed",
    "gzip": "application/gzip",
    "rtf": "application/rtf",
    "html": "text/html",
    "eml": "message/rfc822",
    "text": "text/plain",
    "unknown": "application/octet-stream",
}

_HEIC_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"}
)
_BMP_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})

# OOXML: the folder that holds the main part; ODF: the content of the "mimetype" entry.
_OOXML_FOLDERS = (("word/", "docx"), ("xl/", "xlsx"), ("ppt/", "pptx"))
_ODF_MIMETYPES = {MIME[kind].encode(): kind for kind in ("odt", "ods", "odp")}

# OLE2 directory entries hold stream names in UTF-16LE. Embedded objects add entries of their own
# (a Word file with a chart holds a "Workbook"), so the rarely embedded formats are looked for first.
_OLE_STREAMS = (
    ("PowerPoint Document", "ppt"),
    ("WordDocument", "doc"),
    ("Workbook", "xls"),
    ("Book", "xls"),
    ("MatOST", "wps"),  # Microsoft Works; Kingsoft WPS writes Word's format and sniffs as doc
)

_HEAD = 65536  # how much of the file the text checks look at
_EML_HEADERS = frozenset(
    {b"from", b"to", b"cc", b"subject", b"date", b"message-id", b"mime-version", b"content-type", b"received"}
    | {b"return-path", b"delivered-to", b"reply-to"}
)
_HEADER_LINE = re.compile(rb"([!-9;-~]+):")
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")  # allows \t \n \f \r and ESC
_HTML_START = re.compile(
    rb"\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)[\s>]", re.IGNORECASE | re.DOTALL
)


def sniff(payload: bytes) -> tuple[str, str]:
    """(kind, mime) of a file, from its bytes only."""
    kind = _binary_kind(payload) or _text_kind(payload)
    return kind, MIME[kind]


def _binary_kind(b: bytes) -> str | None:
    if b.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if b.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if b.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if b.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    if b.startswith(b"RIFF") and b[8:12] == b"WEBP":
        return "webp"
    if b[4:8] == b"ftyp":
        return _ftyp_kind(b)
    if b.startswith(b"BM") and len(b) >= 18 and int.from_bytes(b[14:18], "little") in _BMP_HEADER_SIZES:
        return "bmp"
    if b.startswith(b"%PDF-"):
        return "pdf"
    if b.startswith(b"PK\x03\x04") or b.startswith(b"PK\x05\x06"):
        return _zip_kind(b)
    if b.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return _ole_kind(b)
    if b.startswith((b"Rar!\x1a\x07\x00", b"Rar!\x1a\x07\x01\x00")):
        return "rar"
    if b.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "7z"
    if b.startswith(b"\x1f\x8b"):
        return "gzip"
    if b.startswith(b"{\\rtf"):
        return "rtf"
    return None


def _ftyp_kind(b: bytes) -> str | None:
    """ISO base media file: HEIC/HEIF by brand, AVIF when its brands say so; video and others are None."""
    box_size = int.from_bytes(b[0:4], "big")
    brands = b[8:12], *(b[i : i + 4] for i in range(16, min(box_size, len(b), 64), 4))
    if b"avif" in brands or b"avis" in brands:
        return "avif"
    if any(brand in _HEIC_BRANDS for brand in brands):
        return "heic"
    return None


def _zip_kind(b: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(b)) as archive:
            names = archive.namelist()
            if "mimetype" in names and archive.getinfo("mimetype").file_size < 100:
                odf = _ODF_MIMETYPES.get(archive.read("mimetype").strip())
                if odf:
                    return odf
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError, RuntimeError):
        names = _local_header_names(b)
    if "[Content_Types].xml" in names:
        for folder, kind in _OOXML_FOLDERS:
            if any(name.startswith(folder) for name in names):
                return kind
    return "zip"


def _local_header_names(b: bytes) -> list[str]:
    """Entry names from the local headers, for a zip whose central directory is damaged or missing."""
    names = []
    for match in re.finditer(rb"PK\x03\x04", b):
        start = match.start()
        size = int.from_bytes(b[start + 26 : start + 28], "little")
        names.append(b[start + 30 : start + 30 + size].decode("utf-8", "replace"))
    return names


def _ole_kind(b: bytes) -> str:
    for stream, kind in _OLE_STREAMS:
        if _has_ole_entry(b, stream):
            return kind
    return "ole"


def _has_ole_entry(b: bytes, name: str) -> bool:
    """A 128-byte directory entry named `name`: the name at the entry start and its length field agreeing."""
    encoded = name.encode("utf-16-le") + b"\x00\x00"
    length = len(encoded).to_bytes(2, "little")
    start = b.find(encoded, 512)
    while start != -1:
        if start % 128 == 0 and b[start + 64 : start + 66] == length:
            return True
        start = b.find(encoded, start + 1)
    return False


def _text_kind(b: bytes) -> str:
    head = b[:_HEAD]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "text"  # UTF-16 with a byte order mark, as Notepad saves "Unicode"
    head = head.removeprefix(b"\xef\xbb\xbf")
    if _HTML_START.match(head):
        return "html"
    if _looks_like_mail(head):
        return "eml"
    if head and not _CONTROL.search(head) and _decodes(head):
        return "text"
    return "unknown"


def _decodes(head: bytes) -> bool:
    """Valid UTF-8 or GB18030; a character cut at the end of the head is allowed."""
    for encoding in ("utf-8", "gb18030"):
        try:
            codecs.getincrementaldecoder(encoding)().decode(head, final=len(head) < _HEAD)
        except UnicodeDecodeError:
            continue
        return True
    return False


def _looks_like_mail(head: bytes) -> bool:
    """A header block (a few broken lines allowed) naming two usual mail headers, or a MIME type."""
    block = re.split(rb"\r?\n\r?\n", head, maxsplit=1)[0]
    if block.startswith(b"From "):  # mbox separator line
        block = block.partition(b"\n")[2]
    lines = [line for line in block.splitlines() if line[:1] not in (b" ", b"\t")]  # skip folded lines
    if not lines or not _HEADER_LINE.match(lines[0]) or _CONTROL.search(block):
        return False
    names = [match.group(1).lower() for match in map(_HEADER_LINE.match, lines) if match]
    known = set(names) & _EML_HEADERS
    return len(names) >= 0.8 * len(lines) and (len(known) >= 2 or b"content-type" in known)
