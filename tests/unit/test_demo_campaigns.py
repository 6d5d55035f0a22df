"""The demo's two overlapping notices: how each sample is routed (bot/core/routing.py), over the real pipeline.

The demo processes bot/samples/*.eml in file-name order, so sample NN is ledger id NN.
"""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlmodel import select

from bot.bootstrap import App
from bot.cli.demo import run_demo, samples_dir
from storage import tables as t
from storage.db import session

IDV = "2020年国际志愿者日主题宣传和实践活动（并文明办〔2020〕65号）"
CASE = "新时代文明实践志愿服务典型案例征集（并文明办〔2020〕71号）"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[App, Path]:
    return run_demo(tmp_path_factory.mktemp("demo") / "out")


def rows(app: App) -> dict[int, t.MessageRow]:
    with session(app.engine) as s:
        return {r.id or 0: r for r in s.exec(select(t.MessageRow)).all()}


def test_the_demo_configures_two_overlapping_notices(demo: tuple[App, Path]) -> None:
    app, _ = demo
    assert [(c.slug, c.title()) for c in app.campaigns] == [("idv-2020", IDV), ("case-2020", CASE)]


def test_each_sample_is_its_ledger_id_in_file_name_order(demo: tuple[App, Path]) -> None:
    app, _ = demo
    files = sorted(samples_dir().glob("*.eml"))
    assert [f.name[:2] for f in files] == [f"{n:02d}" for n in range(1, 14)]
    ledger = rows(app)
    assert sorted(ledger) == list(range(1, 14))
    for number, path in enumerate(files, 1):
        if ledger[number].state == t.UNRELATED:  # 05: nothing of its content is kept
            continue
        mail = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert ledger[number].message_id == str(mail["Message-ID"]).strip().strip("<>"), path.name


@pytest.mark.parametrize(("number", "campaign", "reason", "reply"), [
    (1, "idv-2020", "name:subject", "receipt"),  # before the second notice opens; its name is in the subject
    (7, "idv-2020", "only-open", "ask_unit"),  # a stranger on 14 December: the only notice open
    (8, "idv-2020", "keyword:subject", "receipt"),  # January, both open: 国际志愿者日 in the subject
    (10, "idv-2020", "only-open", None),  # the bounce of 16 December, the day before the second opens
    (11, "case-2020", "keyword:subject", "receipt"),  # 典型案例 outweighs the shorter 志愿 of the unit's name
    (12, "case-2020", "thread", "problems"),  # In-Reply-To our receipt to 11 (its photo is a 12 KB copy)
    (13, None, "ask:several-open", "ask_campaign"),  # nothing named, both ask the unit
])
def test_each_sample_is_routed_as_its_readme_says(demo: tuple[App, Path], number: int, campaign: str | None,
                                                  reason: str, reply: str | None) -> None:
    app, _ = demo
    row = rows(app)[number]
    assert (row.campaign, row.campaign_reason, row.reply_kind) == (campaign, reason, reply)


def test_samples_before_the_second_notice_all_stay_with_the_first(demo: tuple[App, Path]) -> None:
    app, _ = demo
    stored = [r for n, r in sorted(rows(app).items()) if n <= 10 and r.state == t.STORED]
    assert len(stored) == 9 and {r.campaign for r in stored} == {"idv-2020"}


def test_the_reply_in_thread_answers_the_receipt_to_sample_11(demo: tuple[App, Path]) -> None:
    _, outbox = demo
    receipt = outbox / "intake.case-2020.11.receipt@163.example.eml"
    assert receipt.exists()
    sent = email.message_from_bytes(receipt.read_bytes(), policy=policy.default)
    reply = email.message_from_bytes((samples_dir() / "12-reply-in-thread.eml").read_bytes(), policy=policy.default)
    assert str(reply["In-Reply-To"]).strip() == str(sent["Message-ID"]).strip()
    # It names neither notice: only the thread says which one it answers.
    text = f"{reply['Subject']}\n{reply.get_body(('plain',)).get_content()}"  # type: ignore[union-attr]
    for word in ("志愿", "典型案例", "案例征集", "12.5", "并文明办"):
        assert word not in text


def test_the_unsorted_mail_is_kept_under_未归类_and_the_unit_asked_which_notice(demo: tuple[App, Path]) -> None:
    app, outbox = demo
    with session(app.engine) as s:
        items = s.exec(select(t.ItemRow).where(t.ItemRow.message_row_id == 13)).all()
        assert [i.path for i in items] == ["未归类/滨江街道新时代文明实践站/photo/邻里节活动照片.jpg"]
        assert all(i.campaign is None and (app.config.storage.data_dir / (i.path or "")).is_file() for i in items)
    (path,) = outbox.glob("intake.unsorted.13.ask_campaign@*.eml")
    mail = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(mail, EmailMessage)
    assert mail["To"].addresses[0].addr_spec == "binjiang-sjz@163.example"
    for part in ("plain", "html"):
        body = mail.get_body((part,))
        assert body is not None
        content = body.get_content()
        assert IDV in content and CASE in content, part
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert text.index(IDV) < text.index(CASE)
