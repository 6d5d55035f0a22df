"""The needs-a-decision list: rows in, entries out (and the same through a real SQLite file)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.core.review import parse_ref
from bot.office.review import ReviewRows, load_review_rows, review_entries, review_list
from storage import tables as t
from storage.db import make_engine, session

TZ = ZoneInfo("Asia/Shanghai")
AT = datetime(2020, 12, 10, 1, 30, tzinfo=UTC)  # 09:30 in Beijing


def message(id: int, **fields: object) -> t.MessageRow:
    base: dict[str, object] = dict(id=id, folder="INBOX", uid=id, key=f"k{id}", state=t.STORED, received_at=AT,
                                   from_addr=f"u{id}@example.cn", subject=f"主题{id}", unit="东城区文明办",
                                   match_how="address")
    base.update(fields)
    return t.MessageRow(**base)


def item(id: int, message_row_id: int, category: str, filename: str, source: str = "") -> t.ItemRow:
    return t.ItemRow(id=id, message_row_id=message_row_id, unit="东城区文明办", category=category,
                     filename=filename, source=source, path=f"idv/东城区文明办/{category}/{filename}", size=10,
                     sha256=f"{id:064d}", kind="jpeg", reason="name")


def rows() -> ReviewRows:
    messages = [
        message(1),  # registered address, nothing to decide
        message(2, unit=None, match_how="none", review="unassigned"),
        message(3, match_how="name", match_text="东城区文明办", review="unregistered-sender"),
        message(4, state=t.FAILED, review="failed", error="Traceback …\n  File x\nValueError: bad header"),
        message(5, review="sender-auth-failed,reply-limit"),
        message(6, unit=None, match_how="none", automatic="bounce", review="bounced-reply"),
        message(7, match_how="staff", match_text="王老师"),  # a person assigned it: settled
        message(8, state=t.DUPLICATE, unit=None, match_how="none"),  # duplicates need nothing
    ]
    items = [
        item(10, 1, "photo", "1.jpg"),
        item(11, 3, "other", "说明.txt"),
        item(12, 3, "photo", "mmexport1607000000000.jpg", source="材料.zip/mmexport1607000000000.jpg"),
    ]
    problems = [
        t.ProblemRow(id=20, message_row_id=3, unit="东城区文明办", code="photo_compressed",
                     file="材料.zip/mmexport1607000000000.jpg", text="疑似压缩图"),
        t.ProblemRow(id=21, message_row_id=1, unit="东城区文明办", code="photo_compressed",
                     file="gone.jpg", text="无对应文件"),
    ]
    links = [t.LinkRow(id=30, message_row_id=1, unit="东城区文明办", provider="163", url="https://dl.example/x",
                       filename="视频.mp4", size="1.2G")]
    replies = [
        t.OutboxRow(id=40, message_row_id=1, kind="receipt", to_addr="u1@example.cn", subject="Re", raw=b"",
                    header_message_id="<a>", state=t.SEND_FAILED, last_error="SMTP 550: mailbox unavailable"),
        t.OutboxRow(id=41, message_row_id=3, kind="receipt", to_addr="u3@example.cn", subject="Re", raw=b"",
                    header_message_id="<b>", state=t.SENT, bounce_row_id=6),
        t.OutboxRow(id=42, message_row_id=None, kind="digest", to_addr="office@example.cn", subject="日报",
                    raw=b"", header_message_id="<c>", state=t.SEND_FAILED, last_error="SMTP 554"),
    ]
    return ReviewRows(messages, items, problems, links, replies)


def test_every_open_question_is_listed_once_with_its_reference_most_urgent_kind_first() -> None:
    entries = review_entries(rows(), TZ)
    assert [(e.ref, e.kind) for e in entries] == [
        ("M4", "failed"),
        ("M1", "send_failed"),
        ("R42", "send_failed"),  # a digest: it answered no message
        ("M3", "bounced_reply"),
        ("M5", "sender_auth_failed"),
        ("M2", "unassigned"),
        ("M3", "unregistered_sender"),
        ("M5", "reply_limit"),
        ("F11", "unclassified_file"),
        ("M1", "photo_compressed"),
        ("F12", "photo_compressed"),
        ("L30", "large_file_link"),
    ]


def test_entries_carry_what_staff_need_to_decide() -> None:
    by_key = {(e.ref, e.kind): e for e in review_entries(rows(), TZ)}
    failed = by_key[("M4", "failed")]
    assert (failed.detail, failed.received_at, failed.subject) == (
        "ValueError: bad header", "2020-12-10T09:30:00+08:00", "主题4")
    assert by_key[("M3", "unregistered_sender")].detail == "东城区文明办"
    assert by_key[("M2", "unassigned")].unit is None
    bounced = by_key[("M3", "bounced_reply")]
    assert (bounced.sender, bounced.detail, bounced.message) == ("u3@example.cn", "M6", 3)
    digest = by_key[("R42", "send_failed")]
    assert (digest.message, digest.unit, digest.sender, digest.detail) == (None, None, "office@example.cn", "SMTP 554")
    compressed = by_key[("F12", "photo_compressed")]
    assert (compressed.file, compressed.detail) == ("材料.zip/mmexport1607000000000.jpg", "疑似压缩图")
    assert by_key[("M1", "photo_compressed")].file == "gone.jpg"  # no item of that name: the message instead
    link = by_key[("L30", "large_file_link")]
    assert (link.file, link.detail) == ("视频.mp4 (1.2G)", "https://dl.example/x")
    assert by_key[("F11", "unclassified_file")].detail == "name"


def test_nothing_to_decide_gives_an_empty_list() -> None:
    assert review_entries(ReviewRows([message(1)], [item(10, 1, "photo", "1.jpg")], [], [], []), TZ) == []


@pytest.mark.parametrize(("text", "ref"), [("M12", ("M", 12)), ("f31", ("F", 31)), ("7", ("M", 7)),
                                           (" L2 ", ("L", 2)), ("R9", ("R", 9))])
def test_references_are_read_back(text: str, ref: tuple[str, int]) -> None:
    assert parse_ref(text) == ref


@pytest.mark.parametrize("text", ["", "M", "X12", "M-1", "12a"])
def test_a_malformed_reference_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a review reference"):
        parse_ref(text)


def test_the_query_reads_the_same_rows_from_the_database(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'intake.db'}")
    given = rows()
    unrelated = t.MessageRow(id=9, folder="INBOX", uid=9, key="k9", state=t.UNRELATED)
    sent = t.OutboxRow(id=43, message_row_id=1, kind="receipt", to_addr="u1@example.cn", subject="Re", raw=b"",
                       header_message_id="<d>", state=t.SENT)
    with session(engine) as s:
        for row in (*given.messages, unrelated):
            s.add(row)
        s.commit()  # messages first: the other rows refer to them
        for row in (*given.items, *given.problems, *given.links, *given.replies, sent):
            s.add(row)
        s.commit()
    loaded = load_review_rows(engine)
    # Stored or failed, and only those that can need a decision: 7 (settled by a person, nothing flagged) is not
    # read, so the queue's cost follows the queue rather than the mailbox; 1 is, for its link and its reply.
    assert [m.id for m in loaded.messages] == [1, 2, 3, 4, 5, 6]
    assert [r.id for r in loaded.replies] == [40, 41, 42]  # failed or bounced only
    assert [(e.ref, e.kind) for e in review_list(engine, TZ)] == [(e.ref, e.kind) for e in review_entries(given, TZ)]
