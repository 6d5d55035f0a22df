"""Values that travel through the pipeline. Plain, immutable, no behaviour with side effects."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cached_property


class Category(StrEnum):
    BRIEF = "brief"
    PHOTO = "photo"
    CASE_STUDY = "case_study"
    OTHER = "other"


CATEGORIES: tuple[Category, ...] = tuple(Category)



class Payload:
    """A file's bytes, with their size and SHA-256 (computed once)."""

    payload: bytes

    @property
    def size(self) -> int:
        return len(self.payload)

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.payload).hexdigest()


@dataclass(frozen=True)
class Attachment(Payload):
    """One file carried by a mail. `filename` is decoded data, never a path."""

    filename: str
    content_type: str  # as declared by the sender, lower case ("application/octet-stream")
    disposition: str  # "attachment" | "inline" | ""
    content_id: str | None
    payload: bytes


@dataclass(frozen=True)
class Mail:
    """A parsed message: decoded headers, bodies and attachments."""

    message_id: str | None  # without angle brackets
    subject: str
    from_addr: str  # lower case address, "" when missing
    from_name: str
    to: tuple[str, ...]
    date: datetime | None  # the Date header: only the sender's claim
    content_type: str  # top-level, lower case ("multipart/report")
    headers: tuple[tuple[str, str], ...]  # (lower-case name, decoded value), in order
    text: str  # plain text body (HTML reduced to text when there is no plain part)
    html: str
    attachments: tuple[Attachment, ...]
    defects: tuple[str, ...] = ()  # what the parser had to work around
    # What only a machine writes, found in the MIME tree by bot.core.mail.triage.machine_marks: the report and
    # returned-header part types anywhere in it, inside attached messages too ("message/delivery-status",
    # "message/feedback-report", "message/disposition-notification", "text/rfc822-headers" …), and
    # "bounce-format" when a mail server's bounce text was recognised.
    machine_marks: tuple[str, ...] = ()

    def header(self, name: str) -> str | None:
        """First value of a header, or None."""
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]


@dataclass(frozen=True)
class Unit:
    """One organisation on the roster."""

    name: str
    aliases: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()  # lower case
    group: str = ""
    required: bool = True  # must submit this campaign (False for an exempt unit)
    exempt: bool = False  # staff decided it need not submit (`intake exempt`)
    blocked: tuple[str, ...] = ()  # derived short forms staff ruled out (`-小店` in the roster's aliases)


@dataclass(frozen=True)
class UnitMatch:
    """Which unit a mail is from and how that was decided. Who produces which `how`:
    bot.core.identify: "address" (registered From), "address+name" (a registered address whose subject or signature
    names one other unit), "name" (a unit's name or alias in the mail; unit None when several are named alike),
    "none"; bot.core.pipeline: "forwarded" (registered sender of a forwarded mail), "thread" (answers our reply to a
    unit); bot.core.overrides: "staff" (a person assigned it)."""

    unit: str | None  # unit name, None when unassigned (how "none", or "name" with several units named)
    how: str  # "address" | "address+name" | "name" | "none" | "forwarded" | "thread" | "staff"
    # What matched: the From address ("address"), "from → unit" ("address+name"), the name as the roster writes
    # it, or "A / B" when ambiguous ("name"), the inner sender ("forwarded"), "M<ledger id>" of the message we
    # replied to ("thread"), who decided ("staff"); "" for "none".
    matched: str = ""
    # Where: "from" ("address"); "subject" | "signature" ("address+name"); "subject" | "from_name" | "filename" |
    # "signature" | "body" ("name"); "forwarded"; "in-reply-to" ("thread"); "staff"; "" for "none".
    where: str = ""
    needs_review: bool = False  # True for "address+name", "name", "forwarded" and "thread"
    # For "name": what matched: the unit's "full" name, a registered "alias", or a "short" form derived from the
    # name. Only a full name or an alias in the subject makes a stranger's mail campaign mail on its own.
    name_kind: str = ""


@dataclass(frozen=True)
class FileFacts:
    """What the bytes of one file say about it (never what the sender claims)."""

    kind: str  # jpeg png gif bmp tiff webp heic pdf docx doc xlsx xls pptx ppt wps zip rar 7z text unknown
    mime: str
    is_image: bool = False
    is_document: bool = False
    is_archive: bool = False
    width: int | None = None
    height: int | None = None
    image_error: str | None = None  # set when an image does not open
    has_exif: bool = False
    camera: str | None = None
    title: str | None = None  # document title (metadata or first heading)
    text_head: str = ""  # first characters of the document's text
    embedded_images: int = 0  # pictures pasted inside a document (docx, pdf, doc, wps)
    text_garbled: bool = False  # extracted text looks like garbage (not trusted for classification)
    taken_at: str | None = None  # EXIF DateTimeOriginal as written


@dataclass(frozen=True)
class Part(Payload):
    """A file after containers are opened: a plain attachment, or an entry of an archive, a forwarded
    mail or an Outlook winmail.dat. `filename` is the leaf name (data, never a path)."""

    filename: str
    payload: bytes
    path: str = ""  # how staff find it: "材料.zip/照片/1.jpg"; "" for a top-level attachment
    folder_hint: str = ""  # folder names inside the archive ("照片/典型事例"), a classification hint
    origin: str = "attachment"  # attachment | zip | 7z | rar | tnef | forward
    content_type: str = ""
    disposition: str = ""
    content_id: str | None = None


@dataclass(frozen=True)
class Unpacked:
    """What opening the containers of a mail gave."""

    parts: tuple[Part, ...]
    problems: tuple[Problem, ...] = ()  # encrypted archive, bomb, unsupported format, corrupt file …
    senders: tuple[tuple[str, str], ...] = ()  # (address, display name) of forwarded inner mails


@dataclass(frozen=True)
class LargeFileLink:
    """A file the sender's webmail put behind a download link (超大附件) instead of attaching it."""

    provider: str  # "163" | "126" | "dashi" | "qq"
    url: str
    filename: str
    size: str = ""  # as the mail shows it ("25.3M")
    expires: str = ""  # as the mail shows it ("2020年12月30日 10:00")


@dataclass(frozen=True)
class Classification:
    category: Category
    reason: str  # e.g. "type:jpeg", "name:简报", "title:典型事例", "default"


@dataclass(frozen=True)
class Problem:
    """Something the sender must fix. `code` selects the text in the message catalogue."""

    code: str
    file: str | None = None
    params: tuple[tuple[str, str | int], ...] = ()

    def param(self, key: str) -> str | int | None:
        return dict(self.params).get(key)


@dataclass(frozen=True)
class UnitState:
    """What is already stored for a unit before this message."""

    sha256s: frozenset[str] = frozenset()  # the content of every file stored for it


@dataclass(frozen=True)
class ItemPlan:
    """One attachment and what the pipeline decided about it."""

    index: int  # position in the unpacked parts of the message
    filename: str
    category: Category
    reason: str
    facts: FileFacts
    size: int
    sha256: str
    counted: bool  # stored and counted for the unit
    already_stored: bool = False  # same content already stored for this unit
    skipped: str | None = None  # why it is not a submission (e.g. "inline-image")
    source: str = ""  # where it sat in the mail when not a plain attachment: "材料.zip/照片/1.jpg"

    @property
    def shown(self) -> str:
        """The name a person recognises: the path inside the mail, or the file name."""
        return self.source or self.filename
