"""Every bounce, delivery report, abuse complaint and read receipt among the public test corpora in
../shared/corpora (see its README.md), sent again From a registered unit's address: the pure pipeline answers
none of them. And no other corpus message is taken for one.

"Sent again" rewrites the top-level header block only: the From becomes the unit's (added where a message
has none), an empty Return-Path becomes the unit's address too (a forwarder rewrites the envelope sender),
and a byte order mark before the headers (MimeKit's feedback-report.txt), which no server would deliver, is
dropped.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from pathlib import Path

import pytest

from bot.core.mail.parse import parse_mail
from bot.core.mail.triage import automatic_reason
from bot.core.model import Mail, UnitState
from bot.core.pipeline import NO_REPLY, analyse, judge
from tests.fixtures.bounces import UNIT_ADDRESS, UNIT_NAME
from tests.unit.test_bounce_formats import CTX, OURS, TZ

CORPORA = Path(__file__).resolve().parents[2].parent / "shared" / "corpora"

pytestmark = pytest.mark.skipif(
    not (CORPORA / "MESSAGES.txt").is_file(), reason=f"shared corpora not found at {CORPORA}"
)

IN_WINDOW = datetime(2020, 12, 10, 9, 30, tzinfo=TZ)  # the campaign's window is open

MIMEKIT = "MimeKit/UnitTests/TestData/messages/"
FLANKER = "flanker/tests/fixtures/messages/"
IMAP_TOOLS = "imap_tools/tests/messages/"
MAIL = "mail/spec/fixtures/emails/"
PARSE_EMAILS = "parse-emails/parse_emails/tests/test_data/"

# Every such message in the corpora (found by their report parts, their senders, their subjects and a search of
# the raw files for bounce and auto-reply wording), and what triage must call it.
AUTOMATIC: dict[str, str] = {
    MIMEKIT + "bounce.txt": "bounce",
    MIMEKIT + "delivery-status-multiple-blank-lines.txt": "bounce",
    MIMEKIT + "delivery-status-no-blank-line.txt": "bounce",
    MIMEKIT + "delivery-status.anonymized.eml": "bounce",
    MIMEKIT + "delivery-status.txt": "bounce",
    MIMEKIT + "delivery-status2.txt": "bounce",
    MIMEKIT + "disposition-notification.anonymized.eml": "auto-reply",
    MIMEKIT + "disposition-notification.txt": "auto-reply",
    MIMEKIT + "feedback-report.txt": "complaint",
    FLANKER + "bounce/broken-mime.eml": "bounce",  # IMail, text only
    FLANKER + "bounce/delayed-broken.eml": "bounce",  # a bare message/delivery-status
    FLANKER + "bounce/delayed.eml": "bounce",
    FLANKER + "bounce/gmail-invalid-address.eml": "bounce",
    FLANKER + "bounce/gmail-no-dns.eml": "bounce",
    FLANKER + "bounce/mailbox-full.eml": "bounce",
    FLANKER + "bounce/no-mx.eml": "bounce",
    FLANKER + "bounce/office365.eml": "bounce",
    FLANKER + "bounce/zed.eml": "bounce",
    FLANKER + "complaints/aol.eml": "complaint",
    FLANKER + "complaints/yahoo.eml": "complaint",
    FLANKER + "disposition-notification.eml": "auto-reply",
    IMAP_TOOLS + "mime_emails/raw_email_with_mimepart_without_content_type.eml": "bounce",
    IMAP_TOOLS + "multipart_report_emails/multi_address_bounce1.eml": "bounce",
    IMAP_TOOLS + "multipart_report_emails/multi_address_bounce2.eml": "bounce",
    IMAP_TOOLS + "multipart_report_emails/multipart_report_multiple_status.eml": "bounce",
    IMAP_TOOLS + "multipart_report_emails/report_422.eml": "bounce",
    IMAP_TOOLS + "multipart_report_emails/report_530.eml": "bounce",
    MAIL + "mime_emails/raw_email_with_mimepart_without_content_type.eml": "bounce",
    MAIL + "multipart_report_emails/multi_address_bounce1.eml": "bounce",
    MAIL + "multipart_report_emails/multi_address_bounce2.eml": "bounce",
    MAIL + "multipart_report_emails/multipart_report_multiple_status.eml": "bounce",
    MAIL + "multipart_report_emails/report_422.eml": "bounce",
    MAIL + "multipart_report_emails/report_530.eml": "bounce",
    "mail-parser/tests/mails/mail_malformed_2": "bounce",
    PARSE_EMAILS + "ParseEmailFiles-test-emls.eml": "bounce",  # Exchange: a named delivery-status in a mixed
    PARSE_EMAILS + "containing_corrupted_eml.eml": "bounce",  # "Non-Delivery Report" returning a broken .eml
}

_FROM = re.compile(rb"^From:[^\n]*\n(?:[ \t][^\n]*\n)*", re.IGNORECASE | re.MULTILINE)
_EMPTY_RETURN_PATH = re.compile(rb"^Return-Path:[ \t]*<>[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)


def listed_messages() -> list[str]:
    if not (CORPORA / "MESSAGES.txt").is_file():
        return []
    return [line.strip() for line in (CORPORA / "MESSAGES.txt").read_text().splitlines() if line.strip()]


def from_the_unit(raw: bytes) -> bytes:
    """The message as a unit's server or forwarder would pass it on: From (and an empty Return-Path) the unit's."""
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    crlf = b"\r\n" in raw[:4096]
    split = re.search(rb"\r?\n\r?\n", raw)
    head, body = (raw[:split.start()] + b"\n", raw[split.start():]) if split else (raw, b"")
    line = f"From: {UNIT_NAME} <{UNIT_ADDRESS}>".encode() + (b"\r\n" if crlf else b"\n")
    head = _FROM.sub(b"", head.replace(b"\r\n", b"\n"))
    head = _EMPTY_RETURN_PATH.sub(f"Return-Path: <{UNIT_ADDRESS}>".encode(), head)
    head = head.replace(b"\n", b"\r\n") if crlf else head
    return line + head.rstrip(b"\r\n") + body


@cache
def resent(relative: str) -> Mail:
    return parse_mail(from_the_unit((CORPORA / relative).read_bytes()))


def test_every_listed_message_is_in_the_corpora() -> None:
    assert len(AUTOMATIC) == 36
    assert sorted(set(AUTOMATIC) - set(listed_messages())) == []


@pytest.mark.parametrize("relative", sorted(AUTOMATIC))
def test_sent_again_from_a_units_address_it_is_known_and_gets_no_reply(relative: str) -> None:
    mail = resent(relative)
    assert mail.from_addr == UNIT_ADDRESS
    assert not any(v.strip() == "<>" for v in mail.header_all("return-path"))
    assert automatic_reason(mail, OURS) == AUTOMATIC[relative]
    decision = judge(analyse(mail, IN_WINDOW, CTX), UnitState())
    assert decision.analysis.match.unit == UNIT_NAME
    assert (decision.outcome.reply, decision.outcome.disposition) == (NO_REPLY, "ignored")


def test_no_other_corpus_message_sent_from_a_units_address_is_taken_for_a_bounce_or_complaint() -> None:
    """The bounce detectors and report parts mark only the listed messages; the rest, From a unit, are at most
    list mail or auto-replies by their own headers."""
    taken = {}
    for relative in listed_messages():
        if relative in AUTOMATIC:
            continue
        mail = resent(relative)
        reason = automatic_reason(mail, OURS)
        if mail.machine_marks or reason in ("bounce", "complaint"):
            taken[relative] = (mail.machine_marks, reason)
    assert taken == {}
