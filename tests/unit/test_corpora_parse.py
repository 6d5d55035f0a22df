"""parse_mail over the public mail-parser test corpora in ../shared/corpora (see its README.md).

Every listed message parses without reaching the last-resort handler, and for imap_tools'
reference answers the attachments agree by file name, size and SHA-256 — except where the
table below says why this bot legitimately answers differently.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

from bot.core.mail.parse import parse_mail
from bot.core.model import Mail

CORPORA = Path(__file__).resolve().parents[2].parent / "shared" / "corpora"
IMAP_TOOLS = CORPORA / "imap_tools" / "tests"

pytestmark = pytest.mark.skipif(
    not (CORPORA / "MESSAGES.txt").is_file(), reason=f"shared corpora not found at {CORPORA}"
)


@cache
def parsed(relative: str) -> Mail:
    return parse_mail((CORPORA / relative).read_bytes())


def listed_messages() -> list[str]:
    if not (CORPORA / "MESSAGES.txt").is_file():
        return []
    return [line.strip() for line in (CORPORA / "MESSAGES.txt").read_text().splitlines() if line.strip()]


def test_every_corpus_message_parses_without_the_last_resort_handler() -> None:
    messages = listed_messages()
    assert len(messages) == 494
    failures = {m: d for m in messages for d in parsed(m).defects if d.startswith("unparsable")}
    assert failures == {}


def test_the_stalwart_cases_that_break_mail_parser_fall_back_and_keep_their_text() -> None:
    base = "stalwart-mail-parser/resources/eml/malformed/"
    fell_back = [m for m in listed_messages()
                 if any(d.startswith("mail-parser failed") for d in parsed(m).defects)]
    assert fell_back == [base + "001.eml", base + "003.eml", base + "013.eml"]


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("parse-emails/parse_emails/tests/test_data/chinese_gb2312_encoding.eml", "你好，我是程序员，很高兴认识你"),
        ("parse-emails/parse_emails/tests/test_data/chinese_gbk_encoding.eml", "你好，中国"),
        ("parse-emails/parse_emails/tests/test_data/chinese_big5_encoding.eml", "圖形碼"),
    ],
)
def test_chinese_bodies_decode(relative: str, expected: str) -> None:
    assert expected in parsed(relative).text


def test_gb2312_labelled_header_with_a_gbk_only_byte_decodes() -> None:
    mail = parsed("mail-parser/tests/mails/mail_test_12")
    assert (mail.subject, mail.from_name) == ("代开各地增值税发票", "张先生")


# --- imap_tools reference answers -------------------------------------------------------------

UNNAMED = "imap_tools leaves a part without a file name nameless; this bot names it part<N><ext>"
FORWARD = ("an attached message is one .eml file named from its subject; imap_tools leaves it nameless "
           "and serialises it with LF line ends where the message itself has CRLF")
INSIDE_FORWARD = "parts inside an attached message stay inside the .eml (forwards are opened by a later step)"
RETURNED_HEADERS = ("the headers a bounce returns (text/rfc822-headers) are an attachment here, so triage can name "
                    "the returned Message-ID; imap_tools skips the part")


@dataclass(frozen=True)
class Difference:
    reason: str
    rename: dict[int, str] = field(default_factory=dict)  # reference index -> our file name
    drop: tuple[int, ...] = ()  # reference indexes this bot does not emit
    extra: tuple[tuple[str, int, str], ...] = ()  # (name, size, sha256) this bot emits at the end
    lf_forwards: bool = False  # compare message/rfc822 payloads with CRLF turned into LF


DIFFERENCES: dict[str, Difference] = {
    "attachment_emails/attachment_content_location.eml": Difference(UNNAMED, rename={0: "part1.jpg"}),
    "mime_emails/raw_email12.eml": Difference(UNNAMED, rename={0: "part1.jpg"}),
    "error_emails/missing_content_disposition.eml": Difference(
        "an image/* part without name or disposition is still a file here; imap_tools skips it",
        extra=(("part1.jpg", 1311, "3098b20b368671db7d63018cda1dcf90cc90b79d4a2656bb4495eb4c13036cc5"),),
    ),
    "attachment_emails/attachment_with_encoded_name.eml": Difference(
        "name*=iso-2022-jp'ja'...%8a...: the declared charset cannot hold byte 0x8A, so the fallback "
        "chain (UTF-8, then GB18030) reads 8A 61 as 奱 where imap_tools writes U+FFFD",
        rename={0: "01 Quien Te Dij奱t. Pitbull.mp3"},
    ),
    "plain_emails/raw_email8.eml": Difference(
        "same name*=iso-2022-jp with byte 0x8A as attachment_with_encoded_name",
        rename={0: "01 Quien Te Dij奱t. Pitbull.mp3"},
    ),
    "text_with_content_id.eml": Difference(
        "a text/plain part with only a Content-ID is the message body here, not a file", drop=(0,)),
    "forwarded_message.eml": Difference(FORWARD, rename={0: "статус.eml"}, lf_forwards=True),
    "mime_emails/raw_email_with_mimepart_without_content_type.eml": Difference(
        FORWARD, rename={0: "Est-ce toi ?.eml"}, lf_forwards=True),
    "multipart_report_emails/multi_address_bounce1.eml": Difference(
        FORWARD, rename={0: "Test of bounce email.eml"}, lf_forwards=True),
    "multipart_report_emails/multi_address_bounce2.eml": Difference(
        FORWARD, rename={0: "Test of bounce email.eml"}, lf_forwards=True),
    "multipart_report_emails/report_422.eml": Difference(RETURNED_HEADERS, extra=(
        ("part1.txt", 686, "e46aa1318ede2e997935ca481349415d27df3b915595c92987f4f7f9aaf9e7fe"),)),
    "multipart_report_emails/report_530.eml": Difference(RETURNED_HEADERS, extra=(
        ("part1.txt", 1663, "c1cbe16b6befc8b1aa94066c4f783c913cb62e84d6095ac7a5db8c17d7e33f3d"),)),
    "attachment_emails/attachment_message_rfc822.eml": Difference(
        f"{FORWARD}; {INSIDE_FORWARD}", drop=(1,), lf_forwards=True),
    "multipart_report_emails/multipart_report_multiple_status.eml": Difference(
        f"{FORWARD}; {INSIDE_FORWARD}", rename={0: "Your Friend F M wants you to join HomeRun.eml"},
        drop=(1, 2), lf_forwards=True),
}


def reference_cases() -> list[str]:
    folder = IMAP_TOOLS / "messages_data"
    return sorted(str(p.relative_to(folder).with_suffix(".eml")) for p in folder.rglob("*.json"))


def reference(case: str) -> list[tuple[str, int, str]]:
    data = json.loads((IMAP_TOOLS / "messages_data" / case).with_suffix(".json").read_text(encoding="utf-8"))
    return [(a["filename"], a["size"], a["sha256"]) for a in data["attachments"]]


def ours(case: str, lf_forwards: bool = False) -> list[tuple[str, int, str]]:
    result = []
    for a in parsed(f"imap_tools/tests/messages/{case}").attachments:
        payload = a.payload
        if lf_forwards and a.content_type == "message/rfc822":
            payload = payload.replace(b"\r\n", b"\n")
        result.append((a.filename, len(payload), hashlib.sha256(payload).hexdigest()))
    return result


def expected(case: str) -> list[tuple[str, int, str]]:
    diff = DIFFERENCES.get(case, Difference(""))
    answer = [(diff.rename.get(i, name), size, sha) for i, (name, size, sha) in enumerate(reference(case))
              if i not in diff.drop]
    return answer + list(diff.extra)


def test_every_imap_tools_reference_has_its_message() -> None:
    cases = reference_cases()
    assert len(cases) == 113
    assert [c for c in cases if not (IMAP_TOOLS / "messages" / c).is_file()] == []


@pytest.mark.parametrize("case", reference_cases() if IMAP_TOOLS.is_dir() else [])
def test_attachments_match_the_imap_tools_reference(case: str) -> None:
    assert ours(case, DIFFERENCES.get(case, Difference("")).lf_forwards) == expected(case)


@pytest.mark.parametrize("case", sorted(DIFFERENCES))
def test_every_listed_difference_is_real(case: str) -> None:
    """A table entry that no longer differs from the reference must be removed, not kept silently."""
    assert ours(case) != reference(case)
