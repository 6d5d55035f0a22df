"""The test servers behave like the real ones the bot will meet; these tests pin what e2e tests rely on."""

from __future__ import annotations

import smtplib
import socket
from datetime import datetime, timedelta, timezone

import pytest
from imapclient import IMAPClient

from tests.e2e.servers import (
    Dovecot,
    SmtpSink,
    append,
    create_folder,
    fetch_flags,
    imap_login,
    list_uids,
    process_group_members,
    uidvalidity,
)

pytestmark = pytest.mark.any_database  # runs once, in the SQLite pass: see pyproject.toml

BEIJING = timezone(timedelta(hours=8))
BRIEF = "Subject: =?UTF-8?B?566A5oql?=\r\nFrom: unit@example.cn\r\n\r\n\xbc\xf2\xb1\xa8\r\n".encode("latin-1")
PHOTO = b"Subject: photo\r\nFrom: other@example.cn\r\n\r\n" + bytes(range(32, 127)) * 100 + b"\r\n"
BRIEF_DATE = datetime(2026, 3, 1, 9, 30, 15, tzinfo=BEIJING)
PHOTO_DATE = datetime(2026, 2, 28, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5)))


def _append_two(dovecot: Dovecot) -> tuple[int, int]:
    return append(dovecot, BRIEF, BRIEF_DATE), append(dovecot, PHOTO, PHOTO_DATE)


def test_appended_mail_comes_back_byte_for_byte_with_its_internaldate(dovecot: Dovecot) -> None:
    brief_uid, photo_uid = _append_two(dovecot)

    with imap_login(dovecot) as client:
        client.select_folder("INBOX")
        fetched = client.fetch([brief_uid, photo_uid], ["BODY.PEEK[]", "INTERNALDATE"])

    assert (brief_uid, photo_uid) == (1, 2)
    assert fetched[brief_uid][b"BODY[]"] == BRIEF
    assert fetched[photo_uid][b"BODY[]"] == PHOTO
    assert fetched[brief_uid][b"INTERNALDATE"] == BRIEF_DATE
    assert fetched[photo_uid][b"INTERNALDATE"] == PHOTO_DATE


def test_internaldate_is_reported_in_the_servers_time_zone(dovecot: Dovecot) -> None:
    uid = append(dovecot, PHOTO, PHOTO_DATE)

    with imap_login(dovecot) as client:
        client.select_folder("INBOX")
        date = client.fetch([uid], ["INTERNALDATE"])[uid][b"INTERNALDATE"]

    assert date.utcoffset() == timedelta(hours=8)
    assert date.replace(tzinfo=None) == datetime(2026, 3, 1, 12, 59, 59)


def test_bare_line_feeds_come_back_as_crlf(dovecot: Dovecot) -> None:
    uid = append(dovecot, b"Subject: lf\n\nline one\nline two\n", BRIEF_DATE)

    with imap_login(dovecot) as client:
        client.select_folder("INBOX")
        body = client.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"]

    assert body == b"Subject: lf\r\n\r\nline one\r\nline two\r\n"


def test_server_advertises_id_and_answers_it(dovecot: Dovecot) -> None:
    with imap_login(dovecot) as client:
        assert b"ID" in client.capabilities()
        assert client.id_({"name": "report-intake"}) == ((b"name", b"Dovecot"),)


def test_peek_leaves_mail_unseen_and_a_private_keyword_sticks(dovecot: Dovecot) -> None:
    brief_uid, photo_uid = _append_two(dovecot)

    with imap_login(dovecot) as client:
        selected = client.select_folder("INBOX")
        client.fetch([brief_uid, photo_uid], ["BODY.PEEK[]"])
        client.add_flags([brief_uid], [b"$IntakeDone"])

    assert b"\\*" in selected[b"PERMANENTFLAGS"]
    flags = fetch_flags(dovecot)
    assert flags[brief_uid] == ("$IntakeDone",)
    assert flags[photo_uid] == ()


def test_append_can_set_flags(dovecot: Dovecot) -> None:
    uid = append(dovecot, BRIEF, BRIEF_DATE, flags=["\\Seen", "$IntakeDone"])

    assert fetch_flags(dovecot) == {uid: ("$IntakeDone", "\\Seen")}


def test_append_rejects_a_naive_internaldate(dovecot: Dovecot) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        append(dovecot, BRIEF, datetime(2026, 3, 1, 9, 30))


def test_restart_keeps_mail_keywords_and_uidvalidity(dovecot: Dovecot) -> None:
    brief_uid, photo_uid = _append_two(dovecot)
    append(dovecot, BRIEF, BRIEF_DATE, flags=["$IntakeDone"])
    before = uidvalidity(dovecot)
    port = dovecot.port

    dovecot.restart()

    assert dovecot.port == port
    assert uidvalidity(dovecot) == before
    assert list_uids(dovecot) == [1, 2, 3]
    assert fetch_flags(dovecot)[3] == ("$IntakeDone",)
    with imap_login(dovecot) as client:
        client.select_folder("INBOX")
        assert client.fetch([photo_uid], ["BODY.PEEK[]"])[photo_uid][b"BODY[]"] == PHOTO


def test_a_connected_client_loses_its_connection_on_restart(dovecot: Dovecot) -> None:
    with imap_login(dovecot) as client:
        client.select_folder("INBOX")
        dovecot.restart()
        with pytest.raises((OSError, client.AbortError)):
            client.noop()


def test_reset_uidvalidity_keeps_the_mail_under_new_uids_and_a_higher_uidvalidity(dovecot: Dovecot) -> None:
    append(dovecot, BRIEF, BRIEF_DATE)
    append(dovecot, PHOTO, PHOTO_DATE)
    append(dovecot, BRIEF, PHOTO_DATE)
    with imap_login(dovecot) as client:
        client.select_folder("INBOX")
        client.delete_messages([1])
        client.expunge()
    before = uidvalidity(dovecot)

    after = dovecot.reset_uidvalidity()

    assert after > before
    assert uidvalidity(dovecot) == after
    assert list_uids(dovecot) == [1, 2]
    with imap_login(dovecot) as client:
        client.select_folder("INBOX")
        bodies = {data[b"BODY[]"] for data in client.fetch([1, 2], ["BODY.PEEK[]"]).values()}
    assert bodies == {PHOTO, BRIEF}


def test_mail_in_a_created_folder_with_a_chinese_name_is_kept_apart(dovecot: Dovecot) -> None:
    create_folder(dovecot, "待审核")
    append(dovecot, BRIEF, BRIEF_DATE)

    uid = append(dovecot, PHOTO, PHOTO_DATE, folder="待审核")

    assert uid == 1
    assert list_uids(dovecot, "待审核") == [1]
    assert list_uids(dovecot) == [1]
    assert dovecot.folder_dir("待审核").is_dir()


def test_reset_uidvalidity_of_one_folder_leaves_inbox_alone(dovecot: Dovecot) -> None:
    create_folder(dovecot, "Archive")
    append(dovecot, BRIEF, BRIEF_DATE, folder="Archive")
    inbox_before = uidvalidity(dovecot)
    archive_before = uidvalidity(dovecot, "Archive")

    archive_after = dovecot.reset_uidvalidity("Archive")

    assert archive_after > archive_before
    assert uidvalidity(dovecot) == inbox_before


def test_each_user_has_a_mailbox_of_their_own(dovecot: Dovecot) -> None:
    dovecot.add_user("second@example.org", "other-secret")
    append(dovecot, BRIEF, BRIEF_DATE)

    append(dovecot, PHOTO, PHOTO_DATE, user="second@example.org")
    append(dovecot, PHOTO, PHOTO_DATE, user="second@example.org")

    assert list_uids(dovecot) == [1]
    assert list_uids(dovecot, user="second@example.org") == [1, 2]


def test_wrong_password_is_refused(dovecot: Dovecot) -> None:
    client = IMAPClient(dovecot.host, dovecot.port, ssl=False, timeout=10)
    try:
        with pytest.raises(IMAPClient.Error, match="AUTHENTICATIONFAILED"):
            client.login(dovecot.user, dovecot.password + "-wrong")
    finally:
        client.shutdown()


def test_stop_leaves_no_process_and_closes_the_port(dovecot: Dovecot) -> None:
    master = dovecot.pid
    assert master is not None

    dovecot.stop()

    assert dovecot.pid is None
    assert process_group_members(master) == {}
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((dovecot.host, dovecot.port), timeout=1).close()


# -- SMTP sink ------------------------------------------------------------------------------------------

OUTGOING = "Subject: =?UTF-8?B?5Zue5omn?=\r\nTo: unit@example.cn\r\n\r\n.leading dot\r\n回执\r\n".encode()


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_sink_captures_mail_sent_after_login(smtp_sink: SmtpSink, mechanism: str) -> None:
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10) as client:
        client.ehlo()
        client.user, client.password = "bot@example.org", "any password"
        client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
        client.sendmail("bot@example.org", ["unit@example.cn", "staff@example.org"], OUTGOING)

    (message,) = smtp_sink.wait_for(1, timeout=5)
    assert message.mail_from == "bot@example.org"
    assert message.rcpt_tos == ("unit@example.cn", "staff@example.org")
    assert message.data == OUTGOING
    assert message.login == "bot@example.org"


def test_sink_records_no_login_when_the_client_sends_without_one(smtp_sink: SmtpSink) -> None:
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10) as client:
        client.sendmail("bot@example.org", ["unit@example.cn"], OUTGOING)

    assert smtp_sink.wait_for(1, timeout=5)[0].login is None


def test_sink_refusing_data_with_451_raises_in_smtplib_and_keeps_nothing(smtp_sink: SmtpSink) -> None:
    smtp_sink.refuse_with(451)

    with (
        smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10) as client,
        pytest.raises(smtplib.SMTPDataError) as refused,
    ):
        client.login("bot@example.org", "any password")
        client.sendmail("bot@example.org", ["unit@example.cn"], OUTGOING)

    assert refused.value.smtp_code == 451
    assert smtp_sink.messages == []


def test_sink_accepts_again_after_refusal_is_lifted(smtp_sink: SmtpSink) -> None:
    smtp_sink.refuse_with(550)
    smtp_sink.refuse_with(None)

    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10) as client:
        client.sendmail("bot@example.org", ["unit@example.cn"], OUTGOING)

    assert [m.data for m in smtp_sink.wait_for(1, timeout=5)] == [OUTGOING]


def test_sink_refusing_recipients_with_550_names_each_refused_recipient(smtp_sink: SmtpSink) -> None:
    smtp_sink.refuse_with(550, stage="RCPT")

    with (
        smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10) as client,
        pytest.raises(smtplib.SMTPRecipientsRefused) as refused,
    ):
        client.sendmail("bot@example.org", ["unit@example.cn"], OUTGOING)

    assert {rcpt: code for rcpt, (code, _) in refused.value.recipients.items()} == {"unit@example.cn": 550}
    assert smtp_sink.messages == []


def test_wait_for_times_out_naming_how_many_arrived(smtp_sink: SmtpSink) -> None:
    with pytest.raises(TimeoutError, match="got 0 of 1"):
        smtp_sink.wait_for(1, timeout=0.1)
