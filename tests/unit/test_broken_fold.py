"""A header line with neither a colon nor leading whitespace (a fold that lost its space, seen in real mail)
must not end the headers: every header after it is kept, and the fact is noted as a defect."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.mail.parse import parse_mail
from bot.core.model import Mail

CORPORA = Path(__file__).resolve().parents[2].parent / "shared" / "corpora"
HEADER = re.compile(rb"^(?:[\x21-\x39\x3b-\x7e]+:)")


def test_a_broken_fold_before_from_and_subject_loses_neither() -> None:
    raw = (b"Received: from mx.example.cn by mail.example.cn;\r\n Fri, 11 Dec 2020 09:00:00 +0800\r\n"
           b"X-Mailer: Foxmail 7.2\r\n"
           b"boundary info that lost its fold\r\n"
           b"From: =?GB2312?B?tqvHxw==?= <dc-wmb@example.cn>\r\n"
           b"Subject: =?GB2312?B?u+62r7zysag=?=\r\n"
           b"Date: Fri, 11 Dec 2020 09:00:00 +0800\r\n"
           b"Message-ID: <fold@example.cn>\r\n"
           b"\r\n"
           b"body\r\n")
    mail = parse_mail(raw)
    assert (mail.from_addr, mail.subject, mail.message_id) == ("dc-wmb@example.cn", "活动简报", "fold@example.cn")
    assert mail.date is not None and mail.date.isoformat() == "2020-12-11T09:00:00+08:00"
    assert mail.header("x-mailer") == "Foxmail 7.2 boundary info that lost its fold"
    assert "broken header fold: 1 line(s) read as continuations" in mail.defects
    assert mail.text.strip() == "body"


def test_a_stray_line_after_the_last_header_is_still_the_start_of_the_body() -> None:
    mail = parse_mail(b"From: a@example.cn\r\nSubject: s\r\nno blank line before this body\r\n\r\nmore\r\n")
    assert (mail.from_addr, mail.subject) == ("a@example.cn", "s")
    assert not any(d.startswith("broken header fold") for d in mail.defects)


def corpus_messages() -> list[str]:
    listing = CORPORA / "MESSAGES.txt"
    return [line.strip() for line in listing.read_text().splitlines() if line.strip()] if listing.is_file() else []


@cache
def header_lines(relative: str) -> tuple[list[bytes], bytes, bytes] | None:
    """The message's header lines, the line end it uses and what follows the headers; None when it has no
    blank line or fewer than two headers."""
    raw = (CORPORA / relative).read_bytes()
    found = re.search(rb"\r?\n\r?\n", raw[: 1 << 20])
    if found is None:
        return None
    eol = b"\r\n" if raw[found.start():found.start() + 2] == b"\r\n" else b"\n"
    lines = raw[:found.start()].split(eol)
    if sum(1 for line in lines if HEADER.match(line)) < 2 or not HEADER.match(lines[0]):
        return None
    return lines, eol, raw[found.start():]


FIELDS = ("from", "to", "subject", "message-id", "date", "content-type")  # what `known` reads


def known(mail: Mail) -> tuple[object, ...]:
    return mail.from_addr, mail.subject, mail.message_id, mail.date, mail.to, mail.content_type, len(mail.attachments)


@pytest.mark.skipif(not corpus_messages(), reason=f"shared corpora not found at {CORPORA}")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), junk=st.text(st.sampled_from("abcdefghij 0123456789 测试断行的文字-_.()"), min_size=1,
                                    max_size=40).filter(lambda t: not t[0].isspace() and not t.startswith("From ")))
def test_a_broken_fold_anywhere_in_a_corpus_messages_headers_loses_no_header_after_it(
    data: st.DataObject, junk: str
) -> None:
    relative = data.draw(st.sampled_from(corpus_messages()))
    split = header_lines(relative)
    if split is None:
        return
    lines, eol, rest = split
    last_header = max(i for i, line in enumerate(lines) if HEADER.match(line))
    if last_header < 1:
        return
    position = data.draw(st.integers(1, last_header))  # before a header line, after the first one
    broken = b"".join((*(line + eol for line in lines[:position]), junk.encode("utf-8") + eol,
                       eol.join(lines[position:]), rest))
    original, mended = parse_mail(eol.join(lines) + rest), parse_mail(broken)
    assert [name for name, _ in mended.headers] == [name for name, _ in original.headers]
    # The line is read as the continuation of the header above it; every other header is as it was.
    receiver = sum(1 for line in lines[:position] if HEADER.match(line)) - 1
    others = [h for i, h in enumerate(mended.headers) if i != receiver]
    assert others == [h for i, h in enumerate(original.headers) if i != receiver]
    if original.headers[receiver][0] not in FIELDS:
        assert known(mended) == known(original)
