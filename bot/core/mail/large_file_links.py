"""Large-file links (超大附件): webmail puts big files behind download links with an expiry date.

They are not received: the pipeline records them for staff and asks the unit to attach the files.
Pure: the mail's HTML and text in, links out.

How the blocks look (see tests/fixtures/large_links.py): NetEase gives every file three links to the
same address (an icon, the file name, "下载") followed by `(60.57M, 2011年12月27日 19:39 到期)`; QQ Mail
puts the name, size and expiry in the `title` of a `bigatt_bt` card, then the name link, the same
details in brackets and a "进入下载页面" link. Their plain-text parts put the details on the line before
(or the same line as) the address. So: group the links by address; a file owns the text between the
links of the files around it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, unquote, urlsplit

from bot.core.model import LargeFileLink, Mail

# (provider, URL pattern). NetEase 163/126 webmail (and its old fs.163.com), 网易邮箱大师, QQ Mail old and new.
_URL_END = r"[^\s\"'<>()（）\[\]，。；、]*"
PROVIDERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("163", re.compile(r"https?://(?:mail\.163\.com/large-attachment-download|fs\.163\.com/fs/display)" + _URL_END)),
    ("126", re.compile(r"https?://(?:mail\.126\.com/large-attachment-download|fs\.126\.com/fs/display)" + _URL_END)),
    ("dashi", re.compile(r"https?://dashi\.163\.com/html/cloud-attachment-download" + _URL_END)),
    ("qq", re.compile(r"https?://(?:(?:i?wx\.)?mail\.qq\.com/cgi-bin/ftnExs_download|i?wx\.mail\.qq\.com/ftn/download)"
                      + _URL_END)),
)
# The heading of a NetEase block names the mailbox; 126 mail may link to mail.163.com.
NETEASE_HEADING = re.compile(r"从网易\s*(163|126)\s*邮箱发来的超大附件")
# Link texts that are buttons, not file names.
BUTTON_TEXTS: frozenset[str] = frozenset((
    "下载", "点击下载", "下载附件", "查看下载信息", "进入下载页面", "预览", "在线预览", "保存到网盘", "转存", "打开",
    "download",
))
SIZE = re.compile(r"(?<![\w.%=&/])(\d+(?:\.\d+)?)\s*([KMGT]B?|字节|bytes?)(?![A-Za-z])", re.IGNORECASE)
EXPIRES = re.compile(
    r"\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日(?:\s*\d{1,2}:\d{2})?|\d{4}-\d{1,2}-\d{1,2}(?:\s+\d{1,2}:\d{2})?|无限期"
)
# "name.zip (25.3M, …" on one line: the name before the bracketed size.
NAME_BEFORE_SIZE = re.compile(r"([^\n(（]*?\S)\s*[(（]\s*\d+(?:\.\d+)?\s*(?:[KMGT]B?|字节)", re.IGNORECASE)
FILE_NAME = re.compile(r"[^\s<>/\\|:：（）()\"'“”]{1,200}\.[A-Za-z][A-Za-z0-9]{0,4}(?![A-Za-z0-9])")
_URL_ANYWHERE = re.compile(r"https?://\S+")
_LABEL = re.compile(r"^(?:进入下载页面|查看下载信息|下载|链接|下载地址|地址)\s*[:：]?\s*$")
MAX_HTML = 2_000_000


@dataclass
class _Text:
    text: str


@dataclass
class _Anchor:
    url: str
    text: str = ""
    name_attr: str = ""  # filename= / file-name= written by the webmail
    card: str = ""  # the title of the QQ card the link sits in


@dataclass
class _Found:
    provider: str
    url: str
    names: list[str] = field(default_factory=list)  # best first
    own: list[str] = field(default_factory=list)  # text from the first link of the file on
    head: str = ""  # text before the first link of the file
    named: bool = False  # a link or card named the file: its details follow; else they precede the button

    def link(self) -> LargeFileLink:
        own = "\n".join(self.own)
        first, second = (own, self.head) if self.named else (self.head, own)
        size = _size(first) or _size(second)
        expires = _expires(first) or _expires(second)
        return LargeFileLink(self.provider, self.url, self.names[0] if self.names else "", size, expires)


def find_large_links(mail: Mail) -> tuple[LargeFileLink, ...]:
    """Each large-file link once, from the HTML (preferred) and the plain text; in the order of the mail."""
    found: dict[str, LargeFileLink] = {}
    for link in (*_from_html(mail.html[:MAX_HTML]), *_from_text(mail.text[:MAX_HTML])):
        key = _key(link.url)
        old = found.get(key)
        if old is None:
            found[key] = link
        else:  # the same file in the text part: only fill what the HTML left empty
            found[key] = LargeFileLink(old.provider, old.url, old.filename or link.filename, old.size or link.size,
                                       old.expires or link.expires)
    return tuple(found.values())


def provider_of(url: str) -> str | None:
    for name, pattern in PROVIDERS:
        if pattern.match(url):
            return name
    return None


# ---------------------------------------------------------------- HTML


class _Flatten(HTMLParser):
    """The HTML as a flat run of texts and anchors; QQ card titles travel with the next anchor."""

    BLOCKS = frozenset({"p", "br", "div", "tr", "li", "table", "hr", "h1", "h2", "h3", "h4", "h5", "h6"})
    HIDDEN = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[_Text | _Anchor] = []
        self.anchor: _Anchor | None = None
        self.card = ""
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        title = values.get("title", "")
        if "文件大小" in title or "到期时间" in title:
            self.card = title
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag == "a":
            self.close_anchor()
            href = values.get("href", "").strip()
            if provider_of(href):
                name = values.get("filename") or values.get("file-name") or ""
                self.anchor = _Anchor(href, name_attr=name.strip(), card=self.card)
                self.card = ""
        elif tag in self.BLOCKS:
            self._text("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag == "a":
            self.close_anchor()
        elif tag in self.BLOCKS:
            self._text("\n")

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        if self.anchor is not None:
            self.anchor.text += data
        else:
            self._text(data)

    def _text(self, text: str) -> None:
        self.out.append(_Text(text))

    def close_anchor(self) -> None:
        if self.anchor is not None:
            self.anchor.text = " ".join(self.anchor.text.split())
            self.out.append(self.anchor)
            self.anchor = None


def _from_html(html: str) -> list[LargeFileLink]:
    if not html:
        return []
    reader = _Flatten()
    try:
        reader.feed(html)
        reader.close()
    except Exception:  # a broken body yields what was read before the break
        pass
    reader.close_anchor()
    files: dict[str, _Found] = {}
    current: _Found | None = None  # the file of the last link seen
    pending: list[str] = []  # text since that link: its file's tail, and the head of a file that starts here
    heading = ""
    for item in reader.out:
        if isinstance(item, _Text):
            pending.append(item.text)
            if m := NETEASE_HEADING.search(item.text):
                heading = m.group(1)
            continue
        text = "".join(pending)
        pending = []
        if current is not None:
            current.own.append(text)
        found = files.get(_key(item.url))
        if found is None:
            provider = _netease(provider_of(item.url) or "", item.url, heading)
            found = files[_key(item.url)] = _Found(provider, item.url, head=text)
        names = [n for n in (item.name_attr, *_card_name(item.card), _anchor_name(item.text)) if n]
        found.named = found.named or bool(names)
        found.names += names
        if item.card:
            found.own.append(item.card)
        current = found
    if current is not None:
        current.own.append("".join(pending))
    return [_finish(found) for found in files.values()]


def _finish(found: _Found) -> LargeFileLink:
    names = sorted(dict.fromkeys(found.names), key=lambda n: not FILE_NAME.fullmatch(n))  # stable: file names first
    if not names:
        names = [n for n in (_text_name("\n".join(found.own)), _text_name(found.head), _query_name(found.url)) if n]
    found.names = names
    return found.link()


def _card_name(card: str) -> list[str]:
    """The first line of a QQ card title: `name.zip&#10;&#13;文件大小：25.3M&#10;&#13;到期时间：…`."""
    first = next((line.strip() for line in card.splitlines() if line.strip()), "")
    return [first] if first and "文件大小" not in first else []


def _anchor_name(text: str) -> str:
    text = text.strip()
    if not text or text.casefold() in BUTTON_TEXTS or provider_of(text) or text.startswith("http"):
        return ""
    return text


def _netease(provider: str, url: str, heading: str) -> str:
    """126 mail links to mail.163.com too; its block's heading tells."""
    if provider == "163" and heading == "126" and "163.com" in urlsplit(url).netloc:
        return "126"
    return provider


# ---------------------------------------------------------------- plain text


def _from_text(text: str) -> list[LargeFileLink]:
    matches = sorted((m for _name, pattern in PROVIDERS for m in pattern.finditer(text)), key=lambda m: m.start())
    links: list[LargeFileLink] = []
    seen: set[str] = set()
    for i, m in enumerate(matches):
        url = m.group(0).rstrip(".,;:!?")
        start = matches[i - 1].end() if i else 0
        stop = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        before = _last_lines(text[start:m.start()])
        after = text[m.end():stop][:300]
        key = _key(url)
        if key in seen:
            continue
        seen.add(key)
        headings = NETEASE_HEADING.findall(text[:m.start()])
        heading = headings[-1] if headings else ""
        provider = _netease(provider_of(url) or "", url, heading)
        name = _text_name(before) or _query_name(url)
        size = _size(before) or _size(after.split("\n\n")[0])
        expires = _expires(before) or _expires(after.split("\n\n")[0])
        links.append(LargeFileLink(provider, url, name, size, expires))
    return links


def _last_lines(text: str, count: int = 3) -> str:
    """The few non-empty lines just before an address (its file's details), labels dropped."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-count:])


def _text_name(text: str) -> str:
    """The file name in a line of details: `name.zip (25.3M, …)`, else the last thing shaped like a file name."""
    text = _URL_ANYWHERE.sub(" ", text)
    lines = [line.strip() for line in text.splitlines() if line.strip() and not _LABEL.match(line.strip())]
    for line in reversed(lines):
        if m := NAME_BEFORE_SIZE.search(line):
            name = m.group(1).strip()
            if not NETEASE_HEADING.search(name):
                return name
    names = FILE_NAME.findall("\n".join(lines))
    return names[-1] if names else ""


def _query_name(url: str) -> str:
    """A name carried in the address (some 163 links have `title=`): the last resort."""
    query = dict(parse_qsl(urlsplit(url.replace("&amp;", "&")).query))
    for key in ("filename", "name", "fn", "title"):
        if query.get(key):
            return unquote(query[key]).strip()
    return ""


# ---------------------------------------------------------------- details


def _size(text: str) -> str:
    m = SIZE.search(_URL_ANYWHERE.sub(" ", text))
    return f"{m.group(1)}{m.group(2)}" if m else ""


def _expires(text: str) -> str:
    m = EXPIRES.search(_URL_ANYWHERE.sub(" ", text))
    if not m:
        return ""
    value = re.sub(r"\s*([年月])\s*", r"\1", m.group(0)).replace(" 日", "日")
    return " ".join(value.split())


def _key(url: str) -> str:
    """The same file whatever the escaping or parameter order: host, path and sorted query."""
    parts = urlsplit(url.replace("&amp;", "&").strip())
    query = sorted(parse_qsl(parts.query, keep_blank_values=True))
    return f"{parts.netloc.lower()}{parts.path.rstrip('/')}?{query}"
