"""bot.core.mail.mime_scan builds the feed parser's tree, or declines.

Wherever `scan(raw)` answers, its tree must equal the standard library's (`stdlib_tree`) part for part, and
`parse_mail` must give the same Mail with and without the scanner. Inputs: generated messages
(tests/fixtures/mime_gen.py, with hypothesis and with a fixed seed), the public corpora in ../shared/corpora,
the project's sample .eml files, and the project's own client writers (tests/fixtures/clients.py), which the
scanner must also accept: they are the shape of real mail.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.message import Message
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings

from bot.core.mail.mime_scan import scan
from bot.core.mail.parse import parse_mail, stdlib_tree
from bot.core.model import Attachment, Mail
from tests.fixtures import clients
from tests.fixtures.mime_gen import mime_messages, random_messages

ROOT = Path(__file__).resolve().parents[2]
CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"
SEED = 20_240_607
MIN_ACCEPTED = 0.6  # share of generated messages the scanner must take (else the fast path is rarely used)

# Messages (corpus path as MESSAGES.txt lists it, or a path relative to the repository) where the scanner's
# answer may differ from the standard library's, and why. Every entry must still differ.
EXPECTED_DIFFERENCES: dict[str, str] = {}
# A difference allowed in every message. Without the scanner, mail-parser decodes each part of the tree a second
# time with the standard library, which notes malformed base64 on the part (InvalidBase64…Defect) as a side
# effect; with it, mail-parser reads a tree of empty leaves, and such a note appears only where something else
# decodes the part the standard library's way. The attachments' bytes are the same either way (decode_base64
# reads the same characters), and no decision reads these defects.
BASE64_DEFECT = re.compile(r": InvalidBase64\w*Defect$")


# ---------------------------------------------------------------- comparing


def _short(value: object, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} chars)"


def _payload_bytes(part: Message) -> bytes | None:
    """A leaf's stored payload as bytes: a str as the feed parser decoded it (ASCII, surrogateescape)."""
    payload = part._payload  # type: ignore[attr-defined]
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):  # a str the feed parser never makes (real non-ASCII) still compares, as UTF-8
        escaped = all(ord(ch) < 128 or 0xDC80 <= ord(ch) <= 0xDCFF for ch in payload)
        return payload.encode("ascii" if escaped else "utf-8", "surrogateescape")
    return None


def _bytes_difference(got: bytes, want: bytes) -> str:
    at = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), min(len(got), len(want)))
    return (f"{len(got)} vs {len(want)} bytes, first difference at {at}: "
            f"got {got[max(at - 30, 0):at + 30]!r} want {want[max(at - 30, 0):at + 30]!r}")


def tree_differences(got: Message, want: Message, path: str = "0") -> list[str]:
    """What differs between two compat32 trees, as readable lines. `path` names a part: "0" the root,
    "0.2.1" the second child (from 0) of the root's third child (message/rfc822 parts have one child, 0)."""
    out: list[str] = []

    def check(what: str, a: object, b: object) -> None:
        if a == b:
            return
        if isinstance(a, list) and isinstance(b, list) and a and b:  # name the first item that differs
            at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
            x, y = a[at:at + 1], b[at:at + 1]
            out.append(f"{path}: {what}: {len(a)} vs {len(b)} items, first difference at {at}: "
                       f"got {_short(x, 300)} want {_short(y, 300)}")
            return
        out.append(f"{path}: {what}: got {_short(a)} want {_short(b)}")

    check("headers (raw_items)", list(got.raw_items()), list(want.raw_items()))
    check("unixfrom", got.get_unixfrom(), want.get_unixfrom())
    check("default type", got.get_default_type(), want.get_default_type())
    check("defects", [type(d).__name__ for d in got.defects], [type(d).__name__ for d in want.defects])
    check("preamble", got.preamble, want.preamble)
    check("epilogue", got.epilogue, want.epilogue)
    check("charset", got.get_charset(), want.get_charset())
    check("is_multipart", got.is_multipart(), want.is_multipart())
    if got.is_multipart() and want.is_multipart():
        mine, theirs = got.get_payload(), want.get_payload()
        check("number of children", len(mine), len(theirs))
        for i, (a, b) in enumerate(zip(mine, theirs, strict=False)):
            out += tree_differences(a, b, f"{path}.{i}")
    elif not got.is_multipart() and not want.is_multipart():
        raw = got._payload  # type: ignore[attr-defined]
        if isinstance(raw, bytes) and got.get_content_maintype() == "text":
            out.append(f"{path}: a text/* leaf holds bytes (only other main types may)")
        a, b = _payload_bytes(got), _payload_bytes(want)
        if a is None or b is None:
            check("payload", got._payload, want._payload)  # type: ignore[attr-defined]
        elif a != b:
            out.append(f"{path}: payload: {_bytes_difference(a, b)}")
    return out


# The boundary the standard library's generator makes up when it serialises a multipart whose boundary is empty
# (an attached message, parse.py's serialize_children): random, so parse_mail differs from itself there.
_MADE_UP_BOUNDARY = re.compile(rb"={15}\d{19}==(?:\.\d+)?")


def _attachment_key(a: Attachment) -> tuple[object, ...]:
    return (a.filename, a.content_type, a.disposition, a.content_id, _MADE_UP_BOUNDARY.sub(b"=MADE-UP=", a.payload))


def mail_differences(fast: Mail, slow: Mail) -> list[str]:
    """Mail fields that differ between parse_mail with and without the scanner."""
    out = []
    for field in dataclasses.fields(Mail):
        a, b = getattr(fast, field.name), getattr(slow, field.name)
        if field.name == "attachments":
            a, b = [_attachment_key(x) for x in a], [_attachment_key(x) for x in b]
        if field.name == "defects":
            a, b = (tuple(d for d in x if not BASE64_DEFECT.search(d)) for x in (a, b))
        if a != b:
            out.append(f"Mail.{field.name}: fast {_short(a, 300)} slow {_short(b, 300)}")
    return out


def differences(raw: bytes) -> tuple[bool, list[str]]:
    """(whether the scanner accepted `raw`, every difference from the standard library)."""
    tree = scan(raw)
    found = [] if tree is None else tree_differences(tree, stdlib_tree(raw))
    found += mail_differences(parse_mail(raw), parse_mail(raw, fast=False))
    return tree is not None, found


def test_the_comparison_sees_a_difference() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=b\n\npre\n--b\n\nA\n--b\nContent-Type: image/png\n\nB\n--b--\n"
    same, other = stdlib_tree(raw), stdlib_tree(raw)
    assert tree_differences(same, other) == []
    other.get_payload()[1]._payload = b"C"
    other.preamble = "x"
    other.get_payload()[0].defects.append(ValueError())
    assert tree_differences(same, other) == [
        "0: preamble: got 'pre' want 'x'",
        "0.0: defects: got [] want ['ValueError']",
        "0.1: payload: 1 vs 1 bytes, first difference at 0: got b'B' want b'C'",
    ]


# ---------------------------------------------------------------- generated messages


GENERATED = settings(max_examples=300, deadline=None, database=None, print_blob=True,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@GENERATED
@given(mime_messages())
def test_generated_messages_scan_like_the_stdlib(raw: bytes) -> None:
    tree = scan(raw)
    event("scanner accepts" if tree is not None else "scanner declines")
    if tree is not None:
        assert tree_differences(tree, stdlib_tree(raw)) == []


@GENERATED
@given(mime_messages())
def test_generated_messages_parse_alike_with_and_without_the_scanner(raw: bytes) -> None:
    """A separate search: a Mail-level difference (parse.py around the scanner, or a tree difference that shows
    only after mend_broken_folds) does not hide a tree difference, nor the other way round."""
    assert mail_differences(parse_mail(raw), parse_mail(raw, fast=False)) == []


def test_the_scanner_takes_most_generated_messages_and_agrees() -> None:
    messages = random_messages(SEED, 200)
    assert all(len(raw) < 20_000 for raw in messages)
    results = [differences(raw) for raw in messages]
    accepted = sum(ok for ok, _ in results)
    print(f"\ngenerated (seed {SEED}): scanner accepted {accepted} of {len(messages)}")
    assert {i: found for i, (_, found) in enumerate(results) if found} == {}
    assert accepted >= MIN_ACCEPTED * len(messages)


# ---------------------------------------------------------------- corpora and samples


def _check_files(files: list[tuple[str, Path]], label: str) -> None:
    found: dict[str, list[str]] = {}
    declined: list[str] = []
    total = 0
    for name, path in files:
        total += 1
        accepted, diffs = differences(path.read_bytes())
        if not accepted:
            declined.append(name)
        if diffs:
            found[name] = diffs
    print(f"\n{label}: scanner accepted {total - len(declined)} of {total}; declined: {declined}")
    assert {name: diffs for name, diffs in found.items() if name not in EXPECTED_DIFFERENCES} == {}
    names = {name for name, _ in files}
    stale = [name for name in EXPECTED_DIFFERENCES if name in names and name not in found]
    assert stale == [], "listed differences that no longer differ: remove them"


def corpus_messages() -> list[tuple[str, Path]]:
    listing = CORPORA / "MESSAGES.txt"
    names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    return [(name, CORPORA / name) for name in names]


def local_messages() -> list[tuple[str, Path]]:
    paths = sorted({*(ROOT / "tests").rglob("*.eml"), *(ROOT / "bot" / "samples").rglob("*.eml")})
    return [(str(path.relative_to(ROOT)), path) for path in paths]


def test_corpora_scan_like_the_stdlib() -> None:
    if not (CORPORA / "MESSAGES.txt").is_file():
        pytest.skip(f"shared corpora not found at {CORPORA}")
    _check_files(corpus_messages(), "corpora")


def test_project_samples_scan_like_the_stdlib() -> None:
    files = local_messages()
    if not files:
        pytest.skip("no .eml files under tests/ or bot/samples/")
    _check_files(files, "samples")


# ---------------------------------------------------------------- the project's client writers

CST = timezone(timedelta(hours=8))
DATE = datetime(2020, 12, 10, 15, 30, 41, tzinfo=CST)
ATTACHMENTS = [
    ("东城区文明办2020年国际志愿者日主题宣传和实践活动工作简报（最终版）.docx", b"PK\x03\x04" + bytes(range(256)) * 9),
    ("志愿服务照片1.jpg", b"\xff\xd8\xff\xe0" + bytes(range(256)) * 30),
    ("IMG_0001.JPG", b"\xff\xd8\xff\xe1" + b"\x00" * 100),
    ("说明.txt", "附件说明\r\n--not a boundary\r\n".encode("gbk")),
]
BASE = dict(from_addr="dongcheng-wmb@163.example", from_name="东城区文明办", to="wmb-collect@163.example",
            subject="东城区文明办报送材料（简报、照片）", date=DATE,
            body="市文明办：\n\n附件是我单位的简报和照片，请查收。\n\n联系人：王喆\n")
SENDERS: list[Callable[..., bytes]] = [clients.foxmail, clients.netease_webmail, clients.outlook, clients.iphone,
                                      clients.with_signature_logo]


@cache
def client_messages() -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for writer in SENDERS:
        out[writer.__name__] = writer(**BASE, attachments=ATTACHMENTS)
        out[f"{writer.__name__}-one"] = writer(**BASE, attachments=ATTACHMENTS[1:2])
        out[f"{writer.__name__}-none"] = writer(**BASE)
    out["plain_mail"] = clients.plain_mail(**BASE)
    out["auto_reply-163"] = clients.auto_reply(**BASE, in_reply_to="x@163.example")
    out["auto_reply-qq"] = clients.auto_reply(**BASE, style="qq")
    out["with_signature_logo-unnamed"] = clients.with_signature_logo(**BASE, logo_filename=None)
    for name, raw in list(out.items()):
        out[f"{name}-lf"] = raw.replace(b"\r\n", b"\n")  # as files on disk often hold them
    return out


@pytest.mark.parametrize("name", sorted(client_messages()))
def test_the_scanner_takes_every_client_message_and_agrees(name: str) -> None:
    accepted, found = differences(client_messages()[name])
    assert found == []
    assert accepted, "declined: real-world mail should take the fast path"


@pytest.mark.parametrize("headers_only", [False, True])
def test_bounces_agree_where_the_scanner_takes_them(headers_only: bool) -> None:
    original = clients.foxmail(**BASE, attachments=ATTACHMENTS[:2])
    raw = clients.bounce(original, failed_recipient="wmb-collect@163.example", date=DATE, headers_only=headers_only)
    accepted, found = differences(raw)
    print(f"\nbounce (headers_only={headers_only}): scanner {'accepted' if accepted else 'declined'}")
    assert found == []


def test_a_scanned_file_part_stays_in_the_message_until_read_as_text() -> None:
    """The speed of the scanner: a photo's base64 is neither copied nor decoded to a string while the tree is
    built and read by parse_mail; the standard library's readers still get the feed parser's string."""
    photo = clients.iphone(from_addr="unit@example.cn", from_name="单位", to="bot@163.example", subject="照片",
                           body="见附件", attachments=[("IMG_1.jpg", b"\xff\xd8" + bytes(range(256)) * 400)],
                           date=datetime(2020, 12, 10, 9, 0, tzinfo=timezone(timedelta(hours=8))))
    tree = scan(photo)
    assert tree is not None
    files = [p for p in tree.walk() if p.get_content_maintype() == "image"]
    assert len(files) == 1 and files[0].span is not None and files[0].span[0] is photo
    assert not any(p.is_multipart() for p in files) and files[0].span is not None
    assert parse_mail(photo).attachments[0].payload == b"\xff\xd8" + bytes(range(256)) * 400
    wanted = [p for p in stdlib_tree(photo).walk() if p.get_content_maintype() == "image"][0].get_payload()
    assert files[0].get_payload() == wanted and files[0].span is None
