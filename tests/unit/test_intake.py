"""The shell around one message, on a real SQLite file and a real folder (no network)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot.adapters.templates import Templates
from bot.core.model import Unit
from bot.core.pipeline import Context
from bot.core.render.outgoing import Identity, reference
from bot.core.roster import Roster
from bot.core.settings import CampaignConfig
from bot.office.intake.ledger import Source
from bot.office.intake.replies import Replier
from bot.office.intake.reply_policy import ReplyPolicy
from bot.office.intake.shell import Intake
from storage import tables as t
from storage.db import make_engine, session
from storage.files import FileStore
from tests.fixtures import clients
from tests.fixtures.files import make_docx, make_jpeg

TZ = ZoneInfo("Asia/Shanghai")
CAMPAIGN = CampaignConfig(
    name="活动", slug="idv-2020", opens=datetime(2020, 12, 3, tzinfo=TZ),
    deadline=datetime(2020, 12, 31, 18, tzinfo=TZ), timezone=TZ,
)
ROSTER = Roster((Unit("东城区文明办", (), ("dc@example.cn",), "区县", True),))
RECEIVED = datetime(2020, 12, 10, 9, tzinfo=TZ)
NOW = datetime(2020, 12, 10, 2, 5, tzinfo=UTC)
RAW = clients.netease_webmail(
    from_addr="dc@example.cn", from_name="东城区文明办", to="bot@163.example", subject="东城区报送",
    body="请查收", attachments=[("简报.docx", make_docx("简报")), ("1.jpg", make_jpeg(1_100_000, seed=5))],
    date=RECEIVED,
)


@pytest.fixture
def intake(tmp_path: Path) -> Intake:
    engine = make_engine(f"sqlite:///{tmp_path / 'intake.db'}")
    return Intake(Context((CAMPAIGN,), ROSTER, ("bot@163.example",)), engine, FileStore(tmp_path),
                  Templates(), Identity("bot@163.example", "材料收集"))


def rows(intake: Intake, table: type) -> list:
    with session(intake.engine) as s:
        return list(s.exec(select(table)).all())


def test_processing_the_same_uid_twice_stores_and_queues_once(intake: Intake) -> None:
    source = Source("INBOX", 7, 1)
    first = intake.process(RAW, RECEIVED, source, NOW)
    second = intake.process(RAW, RECEIVED, source, NOW)
    assert (first.state, second.state, first.row_id) == ("stored", "stored", second.row_id)
    assert len(rows(intake, t.ItemRow)) == 2 and len(rows(intake, t.OutboxRow)) == 1


def test_a_run_killed_after_writing_files_is_resumed_without_doubling_anything(
    intake: Intake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def killed(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt  # not an Exception: like a kill, nothing is recorded

    monkeypatch.setattr(Replier, "queue", killed)
    with pytest.raises(KeyboardInterrupt):
        intake.process(RAW, RECEIVED, Source("INBOX", 7, 1), NOW)
    (claimed,) = rows(intake, t.MessageRow)
    assert claimed.state == "claimed" and rows(intake, t.ItemRow) == []
    monkeypatch.undo()

    result = intake.process(RAW, RECEIVED, Source("INBOX", 7, 1), NOW)
    assert result.state == "stored"
    (row,) = rows(intake, t.MessageRow)
    assert row.attempts == 2
    files = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "idv-2020").rglob("*") if p.is_file())
    assert files == ["idv-2020/东城区文明办/brief/简报.docx", "idv-2020/东城区文明办/photo/1.jpg"]
    assert sorted(i.path for i in rows(intake, t.ItemRow)) == files
    assert len(rows(intake, t.OutboxRow)) == 1


def test_a_message_that_raises_is_recorded_as_failed_and_the_next_one_goes_on(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise ValueError("boom")

    monkeypatch.setattr("bot.office.intake.shell.place_files", broken)
    failed = intake.process(RAW, RECEIVED, Source("INBOX", 7, 1), NOW)
    monkeypatch.undo()
    other = clients.foxmail(from_addr="dc@example.cn", from_name="", to="bot@163.example", subject="补报",
                            body="x", attachments=[("2.jpg", make_jpeg(1_100_000, seed=6))], date=RECEIVED)
    ok = intake.process(other, RECEIVED, Source("INBOX", 7, 2), NOW)
    assert (failed.state, ok.state) == ("failed", "stored")
    bad = next(r for r in rows(intake, t.MessageRow) if r.uid == 1)
    assert "ValueError: boom" in (bad.error or "") and bad.raw_path is not None
    # A failed message is not retried in a loop: seeing its UID again changes nothing.
    assert intake.process(RAW, RECEIVED, Source("INBOX", 7, 1), NOW).state == "failed"


def test_unrelated_mail_keeps_no_content(intake: Intake, tmp_path: Path) -> None:
    raw = clients.plain_mail(from_addr="friend@qq.example", from_name="老同学", to="bot@163.example",
                             subject="周末吃饭", body="有空吗", date=RECEIVED)
    result = intake.process(raw, RECEIVED, Source("INBOX", 7, 3), NOW)
    (row,) = rows(intake, t.MessageRow)
    assert result.state == "unrelated" and not result.campaign
    assert (row.subject, row.from_addr, row.message_id, row.raw_path) == (None, None, None, None)
    assert not (tmp_path / "raw").exists()


def test_replies_to_one_address_are_limited_so_no_loop_can_start(intake: Intake) -> None:
    outbox_sizes = []
    for uid in range(1, 5):
        raw = clients.foxmail(from_addr="dc@example.cn", from_name="", to="bot@163.example",
                              subject="Re: 东城区报送" if uid > 1 else "东城区报送", body=f"第{uid}封",
                              attachments=[(f"{uid}.jpg", make_jpeg(1_100_000, seed=uid))], date=RECEIVED)
        intake.process(raw, RECEIVED, Source("INBOX", 7, uid), NOW)
        outbox_sizes.append(len(rows(intake, t.OutboxRow)))
    assert outbox_sizes == [1, 2, 2, 2]  # two per subject in the window
    limited = [r for r in rows(intake, t.MessageRow) if r.review and "reply-limit" in r.review]
    assert [r.uid for r in limited] == [3, 4]


def test_reprocessing_after_a_roster_change_files_the_mail_under_its_unit_without_a_second_reply(
    intake: Intake, tmp_path: Path
) -> None:
    from dataclasses import replace

    from bot.core.overrides import Overrides

    stranger = clients.netease_webmail(
        from_addr="new@example.cn", from_name="小李", to="bot@163.example", subject="报送材料", body="请查收",
        attachments=[("简报.docx", make_docx("简报")), ("1.jpg", make_jpeg(1_100_000, seed=5))], date=RECEIVED)
    first = intake.process(stranger, RECEIVED, Source("INBOX", 7, 1), NOW)
    assert (first.reply_kind, rows(intake, t.MessageRow)[0].unit) == ("ask_unit", None)
    assert {i.path for i in rows(intake, t.ItemRow)} == {"idv-2020/_unassigned/brief/简报.docx",
                                                         "idv-2020/_unassigned/photo/1.jpg"}
    item_ids = sorted(i.id for i in rows(intake, t.ItemRow))
    # The roster learns the address (say, a new roster was imported); the mail is reprocessed.
    roster = Roster((Unit("东城区文明办", (), ("dc@example.cn", "new@example.cn"), "区县", True),))
    intake.ctx = replace(intake.ctx, roster=roster)
    intake.reprocess(first.row_id, NOW, Overrides())
    (row,) = rows(intake, t.MessageRow)
    assert (row.unit, row.match_how, row.disposition, row.review) == ("东城区文明办", "address", "accepted", None)
    assert sorted((i.id, i.path) for i in rows(intake, t.ItemRow)) == list(zip(item_ids, [
        "idv-2020/东城区文明办/brief/简报.docx", "idv-2020/东城区文明办/photo/1.jpg"], strict=True))
    files = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "idv-2020").rglob("*") if p.is_file())
    assert files == ["idv-2020/东城区文明办/brief/简报.docx", "idv-2020/东城区文明办/photo/1.jpg"]
    assert [o.kind for o in rows(intake, t.OutboxRow)] == ["ask_unit"]  # answered once already: no new reply
    # Asked to, it answers again, with a Message-ID of its own.
    intake.reprocess(first.row_id, NOW, Overrides(), reply=ReplyPolicy.ALWAYS)
    assert [(o.kind, o.header_message_id) for o in rows(intake, t.OutboxRow)] == [
        ("ask_unit", f"<intake.idv-2020.{row.id}.ask_unit@163.example>"),
        ("receipt", f"<intake.idv-2020.{row.id}.receipt.2@163.example>")]


def test_reprocessing_a_failed_message_answers_it_once(intake: Intake, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.core.overrides import Overrides

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug, since fixed")

    monkeypatch.setattr("bot.office.intake.shell.place_files", broken)
    failed = intake.process(RAW, RECEIVED, Source("INBOX", 7, 1), NOW)
    assert failed.state == "failed" and rows(intake, t.OutboxRow) == []
    monkeypatch.undo()
    intake.reprocess(failed.row_id, NOW, Overrides())
    intake.reprocess(failed.row_id, NOW, Overrides())
    (row,) = rows(intake, t.MessageRow)
    assert (row.state, row.disposition, row.error, row.review) == ("stored", "accepted", None, None)
    assert [o.kind for o in rows(intake, t.OutboxRow)] == ["receipt"] and len(rows(intake, t.ItemRow)) == 2


@pytest.mark.parametrize("threading", ["in-reply-to", "subject"])
def test_a_follow_up_from_another_address_answering_our_receipt_is_the_units(intake: Intake, threading: str) -> None:
    first = intake.process(RAW, RECEIVED, Source("INBOX", 7, 1), NOW)
    (receipt,) = rows(intake, t.OutboxRow)
    quoted = reference(intake.ctx.campaigns[0].reference_prefix, first.row_id)
    subject = f"Re: 报送材料 [{quoted}]" if threading == "subject" else "补充照片"
    follow_up = clients.netease_webmail(
        from_addr="xiaoli@qq.example", from_name="小李", to="bot@163.example", subject=subject, body="补充照片。",
        attachments=[("2.jpg", make_jpeg(1_100_000, seed=6))], date=RECEIVED)
    if threading == "in-reply-to":
        follow_up = f"In-Reply-To: {receipt.header_message_id}\r\n".encode() + follow_up
    second = intake.process(follow_up, RECEIVED, Source("INBOX", 7, 2), NOW)
    row = rows(intake, t.MessageRow)[1]
    assert (row.unit, row.match_how, row.match_text, row.review) == (
        "东城区文明办", "thread", f"M{first.row_id}", "unregistered-sender")
    assert second.reply_kind == "receipt"
    assert sorted(i.path for i in rows(intake, t.ItemRow) if i.message_row_id == row.id) == [
        "idv-2020/东城区文明办/photo/2.jpg"]


def test_a_backlog_of_weeks_from_one_address_is_answered_in_full_in_one_run(intake: Intake) -> None:
    from datetime import timedelta

    for day in range(12):  # more than max_per_sender (10), one a day, all processed at the same moment
        received = RECEIVED + timedelta(days=day)
        raw = clients.foxmail(from_addr="dc@example.cn", from_name="", to="bot@163.example",
                              subject=f"东城区第{day}批", body="x", date=received,
                              attachments=[(f"{day}.jpg", make_jpeg(1_100_000, seed=100 + day))])
        intake.process(raw, received, Source("INBOX", 7, day + 1), NOW)
    assert len(rows(intake, t.OutboxRow)) == 12
    assert [r.review for r in rows(intake, t.MessageRow) if r.review and "reply-limit" in r.review] == []


def plain(sender: str, subject: str, body: str, uid_seed: int) -> bytes:
    return clients.foxmail(from_addr=sender, from_name="", to="bot@163.example", subject=subject, body=body,
                           date=RECEIVED, message_id=f"plain-{uid_seed}@example.cn")


def test_a_stranger_is_asked_what_to_send_once_per_address_and_shown_no_units_state(intake: Intake) -> None:
    intake.process(RAW, RECEIVED, Source("INBOX", 7, 1), NOW)  # 东城区文明办 has files stored
    for uid in (2, 3):
        intake.process(plain("friend@qq.example", "东城区文明办的材料", "你好", uid), RECEIVED, Source("INBOX", 7, uid),
                       NOW)
    asked = [o for o in rows(intake, t.OutboxRow) if o.to_addr == "friend@qq.example"]
    assert [o.kind for o in asked] == ["ask_sender"]
    text = asked[0].raw.decode("ascii", "replace")
    assert "X-Report-Intake: idv-2020" in text
    body = email_text(asked[0].raw)
    assert "写明单位全称" in body and "贵单位" not in body and "目前已报送" not in body
    assert [p.code for p in rows(intake, t.ProblemRow) if p.message_row_id != 1] == []


def test_a_units_question_is_kept_for_staff_until_marked_answered(intake: Intake) -> None:
    from types import SimpleNamespace

    from bot.office.decisions import answered
    from bot.office.review import review_list

    question = "请问活动简报需要加盖公章吗？照片是否需要单独打包？截止时间能否延后？"
    result = intake.process(plain("dc@example.cn", "咨询", question, 9), RECEIVED, Source("INBOX", 7, 9), NOW)
    (reply,) = rows(intake, t.OutboxRow)
    assert reply.kind == "question" and rows(intake, t.ProblemRow) == []
    body = email_text(reply.raw)
    assert question in body and "报送截止时间：12月31日18:00" in body and "每张大于1.0 MB" in body
    entries = [e for e in review_list(intake.engine, TZ) if e.kind == "question"]
    assert [(e.ref, e.unit, e.detail) for e in entries] == [(f"M{result.row_id}", "东城区文明办", f"咨询\n{question}")]
    answered(SimpleNamespace(engine=intake.engine), result.row_id, "王芳", NOW)  # type: ignore[arg-type]
    assert [e for e in review_list(intake.engine, TZ) if e.kind == "question"] == []
    (kept,) = rows(intake, t.QuestionRow)
    assert (kept.answered_by, kept.answered_at) == ("王芳", NOW)


def email_text(raw: bytes) -> str:
    import email
    from email import policy

    message = email.message_from_bytes(raw, policy=policy.default)
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()  # type: ignore[no-any-return]
