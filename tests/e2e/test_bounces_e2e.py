"""Automatic mail from a registered unit's own address, through the real path: every bounce, complaint, read
receipt and auto-reply format of tests/fixtures/bounces.py is delivered to Dovecot From that address, `poll
--once` takes them in, and the SMTP server receives no reply at all, while a submission sent after them from
the same address is answered."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.harness import Setup, write_config
from tests.e2e.servers import Dovecot, SmtpSink, append
from tests.fixtures import bounces
from tests.fixtures.bounces import FORMATS, UNIT_ADDRESS


def test_no_bounce_complaint_or_auto_reply_from_a_units_address_is_answered(
    tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    setup = Setup(tmp_path, write_config(tmp_path, dovecot, smtp_sink), tmp_path / "data", dovecot, smtp_sink)
    assert UNIT_ADDRESS == "dc-wmb@example.cn"  # registered to 东城区文明办 in the harness's roster
    for fmt in FORMATS:
        append(dovecot, fmt.write(UNIT_ADDRESS), bounces.WHEN)
    setup.intake("poll", "--once")
    assert smtp_sink.messages == []
    status = setup.status()
    taken = status["messages"]
    assert len(taken) + status["campaign"]["unrelated_seen"] == len(FORMATS)
    assert all(m["status"] in ("ignored", "duplicate") and not m["replied"] for m in taken), [
        (m["subject"], m["status"]) for m in taken if m["status"] not in ("ignored", "duplicate")]
    dongcheng = next(u for u in status["units"] if u["name"] == "东城区文明办")
    assert dongcheng["counts"] == {"brief": 0, "photo": 0, "case_study": 0, "other": 0}  # nothing counted

    append(dovecot, bounces.submission(), bounces.WHEN)
    setup.intake("poll", "--once")
    assert [m.rcpt_tos for m in smtp_sink.messages] == [(UNIT_ADDRESS,)]
