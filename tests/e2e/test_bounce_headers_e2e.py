"""A bounce that returns only the headers of our reply (text/rfc822-headers) is recorded against that reply."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import Setup, parse, write_config
from tests.e2e.servers import Dovecot, SmtpSink, append
from tests.e2e.test_poll_e2e import TO, when
from tests.fixtures import clients
from tests.fixtures.files import make_docx


@pytest.fixture
def setup(tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink) -> Setup:
    return Setup(tmp_path, write_config(tmp_path, dovecot, smtp_sink), tmp_path / "data", dovecot, smtp_sink)


def test_a_bounce_carrying_only_the_headers_of_our_reply_marks_that_reply_bounced(setup: Setup) -> None:
    raw = clients.foxmail(from_addr="xc-wmb@example.cn", from_name="西城区文明办", to=TO, subject="西城区简报",
                          body="见附件", attachments=[("简报.docx", make_docx("简报"))], date=when(12, 10))
    append(setup.dovecot, raw, when(12, 10))
    setup.intake("poll", "--once")
    (reply,) = setup.sink.messages
    reply_id = parse(reply)["Message-ID"].strip()
    bounce = clients.bounce(reply.data, failed_recipient="xc-wmb@example.cn", date=when(12, 10, 11),
                            headers_only=True)
    assert b"Content-Type: text/rfc822-headers" in bounce and b"Content-Type: message/rfc822" not in bounce
    append(setup.dovecot, bounce, when(12, 10, 11))

    setup.intake("poll", "--once")

    first, returned = setup.status()["messages"]
    assert (first["subject"], first["replied"], first["reply_bounced"]) == ("西城区简报", True, True)
    assert (returned["status"], returned["automatic"], returned["review"], returned["replied"]) == (
        "ignored", "bounce", ["bounced-reply"], False)
    rows = setup.query("SELECT header_message_id, bounce_row_id FROM outbox")
    [(bounce_row,)] = setup.query("SELECT id FROM message WHERE automatic = 'bounce'")
    assert rows == [(reply_id, bounce_row)]
    assert len(setup.sink.messages) == 1  # the bounce is not answered
