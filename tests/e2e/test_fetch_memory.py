"""Fetching a large message from Dovecot holds it once, not three times (imapclient's imaplib debug level)."""

from __future__ import annotations

import logging
import ssl
import tracemalloc
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.adapters.config_file import ImapConfig
from bot.adapters.mailbox import ImapMailbox
from tests.e2e.servers import Dovecot, append
from tests.fixtures import clients
from tests.fixtures.files import make_jpeg

pytestmark = pytest.mark.any_database  # runs once, in the SQLite pass: see pyproject.toml

RECEIVED = datetime(2020, 12, 10, 10, tzinfo=ZoneInfo("Asia/Shanghai"))


def big_mail() -> bytes:
    photos = [(f"照片{n}.jpg", make_jpeg(4_000_000, seed=n)) for n in range(5)]  # about 27 MB as base64
    return clients.foxmail(from_addr="dc-wmb@example.cn", from_name="东城区文明办", to="wmb-collect@163.example",
                           subject="东城区 活动照片", body="原图见附件", attachments=photos, date=RECEIVED)


def mailbox(dovecot: Dovecot) -> ImapMailbox:
    config = ImapConfig(host=dovecot.host, port=dovecot.port, security="none", username=dovecot.user,
                        password=dovecot.password, timeout_seconds=30)
    return ImapMailbox(config, ssl.create_default_context())


@pytest.mark.parametrize("debug_logging", [False, True])
def test_a_fetch_holds_the_message_once(dovecot: Dovecot, debug_logging: bool) -> None:
    raw = big_mail()
    uid = append(dovecot, raw, RECEIVED)
    logger = logging.getLogger("imapclient.imaplib")
    level = logger.level
    logger.setLevel(logging.DEBUG if debug_logging else logging.NOTSET)
    box = mailbox(dovecot)
    try:
        box.connect()
        box.open_folder()
        tracemalloc.start()
        try:
            fetched = box.fetch(uid)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert fetched is not None and fetched.raw == raw
        assert box.client is not None
        if debug_logging:  # asked for: imaplib's own trace stays on, with its copies
            assert box.client._imap.debug == 5
            assert peak > 2.5 * len(raw)
        else:
            assert box.client._imap.debug == 0
            assert peak < 1.2 * len(raw)
    finally:
        box.close()
        logger.setLevel(level)
