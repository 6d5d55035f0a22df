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
    for url, anchor, before, after in _candidates(mail):
        provider = _provider(url)
        if provider is None:
            continue
        # A link that names its file (QQ) is followed by its details; a bare "下载" link (163) is
        # preceded by them. Each link owns the text between it and its neighbouring links.
        own = f"{anchor} {after}" if FILE_NAME.search(anchor) else f"{before} {anchor}"
        link = LargeFileLink(provider, url, _file_name(anchor, own, url), _first(SIZE, own), _expires(own))
        key = _key(url)
        old = found.get(key)
        if old is None or (not old.filename and link.filename):
            found[key] = link
    return tuple(found.values())


def _candidates(mail: Mail) -> list[tuple[str, str, str, str]]:
    """(url, anchor text, text since the previous link, text until the next link): from the HTML
    anchors, then from bare URLs in the plain text."""
    out: list[tuple[str, str, str, str]] = []
    source = mail.html[:2_000_000]
    anchors = [m for m in ANCHOR.finditer(source) if _provider(html_lib.unescape(m.group(1)))]
    for i, m in enumerate(anchors):
        start = anchors[i - 1].end() if i else max(0, m.start() - CONTEXT_CHARS * 4)
        stop = anchors[i + 1].start() if i + 1 < len(anchors) else m.end() + CONTEXT_CHARS * 4
        before = html_to_text(source[start:m.start()])[-CONTEXT_CHARS:]
        after = html_to_text(source[m.end():stop])[:CONTEXT_CHARS]
        out.append((html_lib.unescape(m.group(1)), html_to_text(m.group(2)), before, after))
    text = mail.text[:2_000_000]
    bare = sorted((m for _name, pattern in PROVIDERS for m in pattern.finditer(text)), key=lambda m: m.start())
    for i, m in enumerate(bare):
        start = bare[i - 1].end() if i else max(0, m.start() - CONTEXT_CHARS)
        stop = bare[i + 1].start() if i + 1 < len(bare) else m.end() + CONTEXT_CHARS
        out.append((m.group(0), "", text[start:m.start()][-CONTEXT_CHARS:], text[m.end():stop][:CONTEXT_CHARS]))
    return out


def _provider(url: str) -> str | None:
    for name, pattern in PROVIDERS:
        if pattern.match(url):
            return name
    return None


def _key(url: str) -> str:
    return unquote(url).split("#", 1)[0].rstrip("/&")


def _file_name(anchor: str, own: str, url: str) -> str:
    for m in (FILE_NAME.search(anchor), FILE_NAME.search(own)):
        if m:
            return m.group(1).strip()
    query = parse_qs(urlsplit(url).query)
    for key in ("file", "name", "filename", "fn", "title"):
        if query.get(key):
            return unquote(query[key][0])
    return ""


def _first(pattern: re.Pattern[str], text: str) -> str:
    m = pattern.search(text)
    return m.group(1).replace(" ", "") if m else ""


def _expires(text: str) -> str:
    m = EXPIRES.search(text)
    return (m.group(1) or m.group(2)) if m else ""
