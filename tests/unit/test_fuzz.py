"""Fuzzing: generated and mutated messages through parse → unpack → classify → check → decide.

The normal suite runs a short pass; `make fuzz` runs at least 10,000 inputs (FUZZ_EXAMPLES).
"""

from __future__ import annotations

import os
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.mail.parse import parse_mail
from bot.core.model import Unit, UnitState
from bot.core.pipeline import Context, analyse, judge
from bot.core.roster import Roster
from bot.core.settings import CampaignConfig, Limits
from tests.fixtures import archives, clients
from tests.fixtures.files import make_docx, make_jpeg, make_pdf

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
TZ = ZoneInfo("Asia/Shanghai")
CAMPAIGN = CampaignConfig(name="活动", slug="c", opens=datetime(2020, 12, 3, tzinfo=TZ),
                          deadline=datetime(2020, 12, 31, 18, tzinfo=TZ), timezone=TZ, keywords=("志愿",),
                          limits=Limits(max_unpacked_bytes=32 * 1024 * 1024, max_entries=200))
CTX = Context((CAMPAIGN,), Roster((Unit("东城区文明办", ("东城",), ("dc@example.cn",)),)), ("bot@163.example",))
WHEN = datetime(2020, 12, 10, tzinfo=TZ)


@cache
def seeds() -> tuple[bytes, ...]:
    own = [
        clients.foxmail(from_addr="dc@example.cn", from_name="东城区文明办", to="bot@163.example", subject="东城区材料",
                        body="请查收", date=WHEN, attachments=[
                            ("简报.docx", make_docx("简报", pictures=1)), ("1.jpg", make_jpeg(seed=1)),
                            ("材料.zip", archives.windows_zip({"照片/2.jpg": make_jpeg(seed=2)})),
                            ("典型事例.pdf", make_pdf("典型事例"))]),
        clients.outlook(from_addr="x@qq.example", from_name="", to="bot@163.example", subject="志愿", body="见附件",
                        date=WHEN, attachments=[("东城区照片.jpg", make_jpeg(seed=3))]),
    ]
    corpus: list[bytes] = []
    listing = CORPORA / "MESSAGES.txt"
    if listing.is_file():
        names = [n.strip() for n in listing.read_text().splitlines() if n.strip()]
        corpus = [(CORPORA / n).read_bytes()[:200_000] for n in names[::7]]
    return tuple(own + corpus)


def mutate(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    out = bytearray(data)
    for position, cut, insert in edits:
        if not out:
            out += insert
            continue
        p = position % len(out)
        out[p:p + cut] = insert
    return bytes(out)


def run_pipeline(raw: bytes) -> None:
    mail = parse_mail(raw)
    analysis = analyse(mail, WHEN, CTX)
    decision = judge(analysis, UnitState())
    assert decision.outcome.reply in ("receipt", "problems", "ask_unit", "ask_sender", "question", "none")
    assert len(decision.items) == len(analysis.unpacked.parts)


edit = st.tuples(st.integers(0, 10**7), st.integers(0, 64),
                 st.binary(max_size=32) | st.sampled_from([b"\r\n", b"\r\n\r\n", b"--", b"=?gb2312?B?", b"\x00",
                                                           b"Content-Type: multipart/mixed; boundary=x\r\n",
                                                           b"=\r\n", b"PK\x03\x04", b"\xff\xd8\xff"]))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), edits=st.lists(edit, max_size=8))
def test_mutated_messages_never_raise(seed: int, edits: list[tuple[int, int, bytes]]) -> None:
    pool = seeds()
    run_pipeline(mutate(pool[seed % len(pool)], edits))


@settings(max_examples=max(EXAMPLES // 3, 50), deadline=None)
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    run_pipeline(raw)
