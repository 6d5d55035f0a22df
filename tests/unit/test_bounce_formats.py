"""Bounces, complaints, read receipts and auto-replies as each mail system writes them, From a registered unit's
own address (a unit's server or an auto-forwarder sends them so): triage knows each by what it is, and the
pipeline answers none of them, also when a bounce carries the unit's submission with its brief and photo.
The fixtures are in tests/fixtures/bounces.py."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.core.mail.parse import parse_mail
from bot.core.mail.triage import automatic_reason, returned_message_ids
from bot.core.model import Mail, Unit, UnitState
from bot.core.pipeline import NO_REPLY, RECEIPT, Context, Decision, analyse, judge
from bot.core.roster import Roster
from bot.core.settings import CampaignConfig
from tests.fixtures import bounces, clients
from tests.fixtures.bounces import FORMATS, ORIGINAL_ID, UNIT_ADDRESS, UNIT_NAME, Format
from tests.fixtures.files import make_docx, make_jpeg

OURS = (bounces.INTAKE,)
TZ = ZoneInfo("Asia/Shanghai")
CAMPAIGN = CampaignConfig(
    name="2020年国际志愿者日主题宣传和实践活动", slug="idv-2020",
    opens=datetime(2020, 12, 3, tzinfo=TZ), deadline=datetime(2020, 12, 31, 18, tzinfo=TZ), timezone=TZ,
    keywords=("志愿", "国际志愿者日"),
)
CTX = Context((CAMPAIGN,), Roster((Unit(UNIT_NAME, (), (UNIT_ADDRESS,), "区县", True),)), OURS, check_sender_auth=False)
IDS = [f.name for f in FORMATS]
SAMPLES = Path(__file__).resolve().parents[2] / "bot" / "samples"
# Every sample but the everyday mail (05), the auto-reply (06) and the bounce (10).
SUBMISSION_SAMPLES = sorted(p.name for p in SAMPLES.glob("*.eml") if p.name[:2] not in ("05", "06", "10"))
CLIENTS = [clients.foxmail, clients.netease_webmail, clients.outlook, clients.iphone, clients.with_signature_logo]
# What a person's mail may hold that a careless bounce detector takes for a bounce: addresses between commas (a
# quoted To: line), "<address>:" and words such as "failure" or "returned".
SIGNATURE = ("各位领导：\n附件是东城区文明办的简报和照片，请查收。上次的邮件被退回 (failure notice)，这次重新发送。\n\n"
             "-----原始邮件-----\n收件人: wmb@example.cn, wmb-old@example.org, office@example.cn,\n"
             "<wmb-old@example.org>: 请勿再用此地址\n\n东城区文明办 张三\n电话 010-12345678  邮箱 dc-wmb@example.cn")


@cache
def parsed(name: str) -> Mail:
    return parse_mail(bounces.by_name(name).write(UNIT_ADDRESS))


def decided(mail: Mail) -> Decision:
    return judge(analyse(mail, bounces.WHEN, CTX), UnitState())


def test_there_are_at_least_thirty_distinct_formats() -> None:
    assert len(FORMATS) >= 30
    assert len(set(IDS)) == len(IDS)
    assert len({f.write(UNIT_ADDRESS) for f in FORMATS}) == len(FORMATS)


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_each_format_from_a_units_own_address_is_known_for_what_it_is(fmt: Format) -> None:
    mail = parsed(fmt.name)
    assert mail.from_addr == UNIT_ADDRESS
    assert automatic_reason(mail, OURS) == fmt.kind


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_the_pipeline_answers_none_of_them(fmt: Format) -> None:
    decision = decided(parsed(fmt.name))
    assert decision.analysis.match.unit == UNIT_NAME  # the registered address: without triage it gets a reply
    assert (decision.outcome.reply, decision.outcome.disposition) == (NO_REPLY, "ignored")


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f.returns_mail], ids=[f.name for f in FORMATS if f.returns_mail])
def test_what_a_bounce_returns_is_the_units_submission(fmt: Format) -> None:
    """The fixtures are the dangerous case: the unit's own mail comes back inside (forwarded: one level down)."""
    mail = parsed(fmt.name)
    if fmt.name == "postfix-dsn-forwarded-as-attachment":
        inner = parse_mail(mail.attachments[0].payload)
        assert ORIGINAL_ID in returned_message_ids(inner)
    else:
        assert ORIGINAL_ID in returned_message_ids(mail)


def test_a_returned_submission_brings_its_brief_and_photo_and_still_gets_no_reply() -> None:
    decision = decided(parsed("postfix-dsn"))
    kinds = sorted(item.facts.kind for item in decision.items)
    assert kinds == ["docx", "jpeg"]
    assert decision.outcome.reply == NO_REPLY


def test_the_same_submission_sent_by_the_unit_itself_gets_a_receipt() -> None:
    """The control: what the bounces carry is a complete submission the pipeline would confirm."""
    decision = decided(parse_mail(bounces.submission().replace(b"To: " + bounces.LOST.encode(),
                                                                b"To: " + bounces.INTAKE.encode(), 1)))
    assert automatic_reason(decision.analysis.mail, OURS) is None
    assert decision.outcome.reply == RECEIPT


@pytest.mark.parametrize("writer", [bounces.forwarded_submission, bounces.reply_about_a_bounce],
                         ids=["forwarded-submission", "reply-about-a-bounce"])
def test_a_person_forwarding_a_submission_or_answering_about_a_bounce_is_answered(
        writer: Callable[..., bytes]) -> None:
    mail = parse_mail(writer())
    assert automatic_reason(mail, OURS) is None
    assert mail.machine_marks == ()
    assert decided(mail).outcome.reply != NO_REPLY


@pytest.mark.parametrize("name", SUBMISSION_SAMPLES)
def test_the_sample_submissions_are_left_to_a_person(name: str) -> None:
    mail = parse_mail((SAMPLES / name).read_bytes())
    assert automatic_reason(mail, OURS) is None
    assert mail.machine_marks == ()


@pytest.mark.parametrize("writer", CLIENTS, ids=[w.__name__ for w in CLIENTS])
def test_a_submission_as_each_client_writes_it_is_left_to_a_person(writer: Callable[..., bytes]) -> None:
    raw = writer(from_addr=UNIT_ADDRESS, from_name=UNIT_NAME, to=bounces.INTAKE, subject="东城区文明办报送材料",
                 body=SIGNATURE, date=bounces.WHEN,
                 attachments=[("活动简报.docx", make_docx("东城区国际志愿者日活动简报")),
                              ("IMG_0001.jpg", make_jpeg(1_100_000, width=700, height=500, seed=5))])
    mail = parse_mail(raw)
    assert automatic_reason(mail, OURS) is None
    assert mail.machine_marks == ()
    assert decided(mail).outcome.reply == RECEIPT
