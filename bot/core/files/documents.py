"""What a document says about itself: title, first text, pictures pasted inside, whether the text is
trustworthy. docx (python-docx, with a raw-XML fallback for WPS files), doc and wps (OLE, olefile),
pdf (pypdf), plain text. Pure and bounded: never raises, reads only the head of large streams."""

from __future__ import annotations

import codecs
import io
import posixpath
import re
import struct
import zipfile
from dataclasses import dataclass
from typing import Any

from bot.core.mail.charsets import utf8_or_gbk

TEXT_HEAD_CHARS = 500
PDF_PAGES = 3
OLE_STREAM_CAP = 4 * 1024 * 1024  # bytes of a Word stream read for text
DATA_STREAM_CAP = 64 * 1024 * 1024  # bytes of the Data stream scanned for pictures
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".emf", ".wmf", ".heic", ".webp")

_OFFICE_EXPORT_NAME = re.compile(  # "Microsoft Word - 经验总结.docx", as Word writes a PDF's /Title
    r"^\s*Microsoft\s+(?:Word|Excel|PowerPoint)\s*-\s*|\.(?:docx?|wps|xlsx?|pptx?)\s*$", re.IGNORECASE
)
_SPACES = re.compile(r"\s+")
_TEXT_RUN = re.compile(r"[\u4e00-\u9fff\u3000-\u303f\uff00-\uffefA-Za-z0-9，。、；：？！“”‘’（）《》\-_ .,:;()]{4,}")
_READABLE = re.compile(r"[\u4e00-\u9fff\u3000-\u303f\uff00-\uffefA-Za-z0-9\s.,:;!?()\-'\"/%，。、；：？！“”‘’（）《》]")
_XML_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class DocumentFacts:
    title: str | None
    text: str
    images: int = 0
    garbled: bool = False


def read_document(kind: str, payload: bytes) -> DocumentFacts | None:
    reader = READERS.get(kind)
    if reader is None:
        return None
    try:
        facts = reader(payload)
    except Exception:  # broken documents are common; they just tell us nothing
        return None
    return DocumentFacts(clean_title(facts.title), facts.text.strip(), facts.images, facts.garbled)


def is_garbled(text: str) -> bool:
    """Extracted text that is mostly not words (a PDF with broken font maps yields such)."""
    sample = text[:2000]
    visible = [c for c in sample if not c.isspace()]
    if len(visible) < 20:
        return False
    readable = sum(1 for c in visible if _READABLE.match(c))
    return readable / len(visible) < 0.6


# ---- docx -------------------------------------------------------------------------------------------


def _docx(payload: bytes) -> DocumentFacts:
    with zipfile.ZipFile(io.BytesIO(payload)) as zf:
        images = sum(1 for n in zf.namelist() if n.startswith("word/media/") and n.lower().endswith(IMAGE_EXTENSIONS))
        try:
            read = _docx_by_parts(zf)
            title, text = read if read is not None else _docx_by_python_docx(payload)
        except Exception:  # WPS writes files python-docx refuses: read the body XML itself
            title, text = None, _docx_xml_text(zf.read("word/document.xml")[:OLE_STREAM_CAP])
    if title is None:
        title = next((line for line in text.splitlines() if line.strip()), None)
    return DocumentFacts(title, text, images)


def _docx_by_python_docx(payload: bytes) -> tuple[str | None, str]:
    from docx import Document

    document = Document(io.BytesIO(payload))
    paragraphs: list[str] = []
    length = 0
    for paragraph in document.paragraphs:
        text = paragraph.text.strip()
        if text:
            paragraphs.append(text)
            length += len(text) + 1
            if length > TEXT_HEAD_CHARS:
                break
    return clean_title(document.core_properties.title), "\n".join(paragraphs)


# python-docx's reading, from the four parts it needs: python-docx loads and parses every part of the package and
# builds its objects over them, 11 ms for a brief against 0.6 ms here. tests/unit/test_documents.py compares them.
_OFFICE_DOCUMENT = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
_CORE_PROPERTIES = "http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties"
_WML_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_TYPES = "{http://schemas.openxmlformats.org/package/2006/content-types}"
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_DC_TITLE = "{http://purl.org/dc/elements/1.1/}title"
_RUN_CHARACTERS = {f"{_W}tab": "\t", f"{_W}ptab": "\t", f"{_W}cr": "\n", f"{_W}noBreakHyphen": "-"}


def _docx_by_parts(zf: zipfile.ZipFile) -> tuple[str | None, str] | None:
    """The title and the head of the body text as `_docx_by_python_docx` reads them, from the package's
    relationships, its content types, the main document and the core properties only; None for a package of
    another shape (python-docx reads it then), ValueError for a main part python-docx refuses. A package without
    core properties has no title here (python-docx makes up "Word Document")."""
    from lxml import etree

    parser = etree.XMLParser(remove_blank_text=True, resolve_entities=False)  # as python-docx parses

    def part(name: str) -> Any:
        member = name.lstrip("/")
        return etree.fromstring(zf.read(member), parser) if member in names else None

    names = set(zf.namelist())
    package, types = part("_rels/.rels"), part("[Content_Types].xml")
    if package is None or types is None:
        return None
    related = {rel.get("Type"): rel for rel in package.iterchildren(f"{_RELS}Relationship")}
    main = related.get(_OFFICE_DOCUMENT)
    if main is None or main.get("TargetMode") == "External":
        return None
    name = posixpath.normpath(posixpath.join("/", main.get("Target", "")))
    declared = {o.get("PartName", "").lower(): o.get("ContentType") for o in types.iterchildren(f"{_TYPES}Override")}
    if declared.get(name.lower()) != _WML_MAIN:  # as python-docx refuses it (a WPS file, a macro-enabled one)
        raise ValueError(f"the main part is {declared.get(name.lower())!r}, not a Word document")
    document = part(name)
    body = document.find(f"{_W}body") if document is not None else None
    if body is None:
        return None
    paragraphs: list[str] = []
    length = 0
    for paragraph in body.iterchildren(f"{_W}p"):
        runs = (r for child in paragraph.iterchildren(f"{_W}r", f"{_W}hyperlink")
                for r in ([child] if child.tag == f"{_W}r" else child.iterchildren(f"{_W}r")))
        text = "".join(_run_text(run) for run in runs).strip()
        if text:
            paragraphs.append(text)
            length += len(text) + 1
            if length > TEXT_HEAD_CHARS:
                break
    core = related.get(_CORE_PROPERTIES)
    title = None
    properties = part(posixpath.normpath(posixpath.join("/", core.get("Target", "")))) if core is not None else None
    if properties is not None:
        element = properties.find(_DC_TITLE)
        title = clean_title(element.text or "" if element is not None else "")
    return title, "\n".join(paragraphs)


def _run_text(run: Any) -> str:
    """A `w:r` as python-docx reads it: text, tabs, soft breaks, non-breaking hyphens; page and column breaks
    are nothing."""
    pieces = []
    for element in run.iterchildren():
        tag = element.tag
        if tag == f"{_W}t":
            pieces.append(element.text or "")
        elif tag == f"{_W}br":
            pieces.append("\n" if element.get(f"{_W}type", "textWrapping") == "textWrapping" else "")
        elif tag in _RUN_CHARACTERS:
            pieces.append(_RUN_CHARACTERS[tag])
    return "".join(pieces)


def _docx_xml_text(xml: bytes) -> str:
    text = xml.decode("utf-8", "replace")
    paragraphs = re.split(r"</w:p>", text)
    lines = [_XML_TAG.sub("", p).strip() for p in paragraphs]
    return "\n".join(line for line in lines if line)[: TEXT_HEAD_CHARS * 2]


# ---- doc / wps (OLE compound files) -------------------------------------------------------------


def _ole(payload: bytes) -> DocumentFacts:
    import olefile

    ole = olefile.OleFileIO(io.BytesIO(payload))
    try:
        title = None
        meta = ole.get_metadata()
        if meta.title:
            title = _decode_8bit(meta.title) if isinstance(meta.title, bytes) else str(meta.title)
        text, garbled = "", False
        if ole.exists("WordDocument"):
            word = ole.openstream("WordDocument").read(OLE_STREAM_CAP)
            table_name = "1Table" if len(word) > 11 and word[11] & 0x02 else "0Table"
            table = ole.openstream(table_name).read(OLE_STREAM_CAP) if ole.exists(table_name) else b""
            text = _word_pieces(word, table)
            if not text:  # older or odd files: readable runs, not trusted for classification
                text, garbled = _runs(word), True
        images = 0
        if ole.exists("Data"):
            data = ole.openstream("Data").read(DATA_STREAM_CAP)
            images = sum(data.count(sig) for sig in (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xe1"))
    finally:
        ole.close()
    title = clean_title(title)
    if not title and not garbled:
        title = next((line for line in text.splitlines() if line.strip()), None)
    return DocumentFacts(title, "" if garbled else text, images, garbled)


def _word_pieces(word: bytes, table: bytes) -> str:
    """The text of a Word 97+ (or WPS) binary file through its piece table: UTF-16LE pieces, and
    8-bit "compressed" pieces in the ANSI code page."""
    try:
        fc_clx, lcb_clx = struct.unpack_from("<II", word, 0x1A2)
        clx = table[fc_clx:fc_clx + lcb_clx]
        pos = 0
        while pos < len(clx) and clx[pos] == 0x01:  # Prc entries come first
            pos += 3 + struct.unpack_from("<H", clx, pos + 1)[0]
        if pos >= len(clx) or clx[pos] != 0x02:
            return ""
        lcb = struct.unpack_from("<I", clx, pos + 1)[0]
        plc = clx[pos + 5:pos + 5 + lcb]
        n = (len(plc) - 4) // 12
        cps = struct.unpack_from(f"<{n + 1}I", plc, 0)
        out: list[str] = []
        for i in range(n):
            fc = struct.unpack_from("<I", plc, (n + 1) * 4 + i * 8 + 2)[0]
            count = min(cps[i + 1] - cps[i], TEXT_HEAD_CHARS * 4)
            if fc & 0x40000000:
                start = (fc & ~0x40000000) // 2
                out.append(word[start:start + count].decode("cp1252", "replace"))
            else:
                out.append(word[fc:fc + 2 * count].decode("utf-16-le", "replace"))
            if sum(len(x) for x in out) > TEXT_HEAD_CHARS * 2:
                break
    except (struct.error, ValueError, IndexError):
        return ""
    text = "".join(out).replace("\r", "\n").replace("\x07", "\n")
    lines = (re.sub(r"[\x00-\x08\x0b-\x1f]", "", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)[: TEXT_HEAD_CHARS * 2]


def _runs(data: bytes) -> str:
    """Readable runs of a Word binary stream: UTF-16LE pieces (Chinese text), else 8-bit pieces."""
    wide = _TEXT_RUN.findall(data.decode("utf-16-le", "ignore"))
    narrow = _TEXT_RUN.findall(data.decode("gb18030", "ignore")) if not wide else []
    runs = [r.strip() for r in (wide or narrow) if len(r.strip()) >= 4]
    return "\n".join(runs)[: TEXT_HEAD_CHARS * 2]


def _decode_8bit(raw: bytes) -> str:
    return utf8_or_gbk(raw.split(b"\x00", 1)[0])


# ---- pdf ------------------------------------------------------------------------------------------


def _pdf(payload: bytes) -> DocumentFacts:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(payload))
    metadata_title = reader.metadata.title if reader.metadata else None
    parts: list[str] = []
    images = 0
    for page in reader.pages[:PDF_PAGES]:
        if sum(len(part) for part in parts) <= TEXT_HEAD_CHARS:
            parts.append(page.extract_text() or "")
        images += _pdf_page_images(page)
    text = "\n".join(parts).strip()
    garbled = is_garbled(text)
    first_line = None if garbled else next((line.strip() for line in text.splitlines() if line.strip()), None)
    return DocumentFacts(clean_title(metadata_title) or first_line, "" if garbled else text, images, garbled)


def _pdf_page_images(page: object) -> int:
    try:
        resources = page["/Resources"]  # type: ignore[index]
        xobjects = resources.get("/XObject") if resources else None
        if not xobjects:
            return 0
        xobjects = xobjects.get_object()
        return sum(1 for ref in xobjects.values() if ref.get_object().get("/Subtype") == "/Image")
    except Exception:
        return 0


# ---- plain text -----------------------------------------------------------------------------------


def _plain(payload: bytes) -> DocumentFacts:
    head = payload[: TEXT_HEAD_CHARS * 4]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return DocumentFacts(None, head.decode("utf-16", "replace"))
    try:  # not final: a character cut at the end of the head is dropped, not an error
        return DocumentFacts(None, codecs.getincrementaldecoder("utf-8-sig")().decode(head))
    except UnicodeDecodeError:
        return DocumentFacts(None, head.decode("gb18030", "replace"))


READERS = {"docx": _docx, "doc": _ole, "wps": _ole, "pdf": _pdf, "text": _plain}


def clean_title(title: object) -> str | None:
    """A title without Office's export decoration and extra blanks; None when nothing is left."""
    if not isinstance(title, str):
        return None
    title = _SPACES.sub(" ", _OFFICE_EXPORT_NAME.sub("", title)).strip()
    return title or None
