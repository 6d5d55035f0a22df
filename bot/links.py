"""Large-file links (超大附件): webmail puts big files behind download links with an expiry date.

They are not received: the pipeline records them for staff and asks the unit to attach the files.
Pure: the mail's text and HTML in, links out.
"""

from __future__ import annotations

import html as html_lib
import re
from urllib.parse import parse_qs, unquote, urlsplit

from bot.html_text import html_to_text
from bot.model import LargeFileLink, Mail

# (provider, URL pattern). NetEase 163/126, 网易邮箱大师, QQ Mail (old and new).
PROVIDERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("163", re.compile(r"https?://(?:mail\.163\.com/large-attachment-download|fs\.163\.com/fs/display)[^\s\"'<>]*")),
    ("126", re.compile(r"https?://(?:mail\.126\.com/large-attachment-download|fs\.126\.com/fs/display)[^\s\"'<>]*")),
    ("dashi", re.compile(r"https?://dashi\.163\.com/html/cloud-attachment-download[^\s\"'<>]*")),
    ("qq", re.compile(r"https?://(?:mail\.qq\.com/cgi-bin/ftnExs_download|wx\.mail\.qq\.com/ftn/download)"
                      r"[^\s\"'<>]*")),
)
FILE_NAME = re.compile(r"([^\s<>/\\|:：（）()\"'“”]{1,120}\.(?:zip|rar|7z|jpe?g|png|heic|gif|bmp|tiff?|docx?|wps|pdf"
                       r"|pptx?|xlsx?|mp4|mov|avi|txt))", re.IGNORECASE)
SIZE = re.compile(r"(\d+(?:\.\d+)?\s*(?:[KMGT]B?|字节))(?![a-zA-Z])", re.IGNORECASE)
EXPIRES = re.compile(r"(\d{4}年\d{1,2}月\d{1,2}日(?:\s*\d{1,2}:\d{2})?)|(\d{4}-\d{1,2}-\d{1,2}(?:\s+\d{1,2}:\d{2})?)")
ANCHOR = re.compile(r"<a\b[^>]*href\s*=\s*[\"']?([^\"'\s>]+)[^>]*>(.*?)</a>", re.IGNORECASE | re.DOTALL)
CONTEXT_CHARS = 240


def find_large_links(mail: Mail) -> tuple[LargeFileLink, ...]:
    found: dict[str, LargeFileLink] = {}
    for url, anchor, context in _candidates(mail):
        provider = _provider(url)
        if provider is None:
            continue
        key = _key(url)
        link = LargeFileLink(provider, url, _file_name(anchor, context, url), _first(SIZE, context),
                             _expires(context))
        old = found.get(key)
        if old is None or (not old.filename and link.filename):
            found[key] = link
    return tuple(found.values())


def _candidates(mail: Mail) -> list[tuple[str, str, str]]:
    """(url, anchor text, text around it) from the HTML anchors, then bare URLs in the text."""
    out: list[tuple[str, str, str]] = []
    source = mail.html[:2_000_000]
    for m in ANCHOR.finditer(source):
        url = html_lib.unescape(m.group(1))
        anchor = html_to_text(m.group(2))
        before = html_to_text(source[max(0, m.start() - CONTEXT_CHARS * 2):m.start()])[-CONTEXT_CHARS // 2:]
        after = html_to_text(source[m.end():m.end() + CONTEXT_CHARS * 3])[:CONTEXT_CHARS]
        out.append((url, anchor, f"{before} {anchor} {after}"))
    text = mail.text[:2_000_000]
    for _provider_name, pattern in PROVIDERS:
        for m in pattern.finditer(text):
            before = text[max(0, m.start() - CONTEXT_CHARS):m.start()]
            after = text[m.end():m.end() + CONTEXT_CHARS]
            # The line(s) just before a bare link usually name the file.
            out.append((m.group(0), "", f"{before.splitlines()[-1] if before.splitlines() else ''} {after}"
                        if not FILE_NAME.search(after[:80]) else after))
    return out


def _provider(url: str) -> str | None:
    for name, pattern in PROVIDERS:
        if pattern.match(url):
            return name
    return None


def _key(url: str) -> str:
    return unquote(url).split("#", 1)[0].rstrip("/&")


def _file_name(anchor: str, context: str, url: str) -> str:
    for text in (anchor, context):
        m = FILE_NAME.search(text)
        if m:
            return m.group(1).strip()
    query = parse_qs(urlsplit(url).query)
    for key in ("file", "name", "filename", "fn"):
        if query.get(key):
            return unquote(query[key][0])
    return ""


def _first(pattern: re.Pattern[str], text: str) -> str:
    m = pattern.search(text)
    return m.group(1).replace(" ", "") if m else ""


def _expires(text: str) -> str:
    m = EXPIRES.search(text)
    return (m.group(1) or m.group(2)) if m else ""
