from bot.core.mail.sender_auth import sender_auth_failure
from bot.core.model import Mail


def mail(*results: str) -> Mail:
    headers = tuple(("authentication-results", r) for r in results)
    return Mail(message_id="m@x", subject="s", from_addr="dc@example.cn", from_name="", to=(), date=None,
                content_type="text/plain", headers=headers, text="", html="", attachments=())


def test_dmarc_failure_reported_by_the_receiving_server_is_a_failure() -> None:
    header = "mx.163.com; spf=pass smtp.mailfrom=dc@example.cn; dkim=none; dmarc=fail header.from=example.cn"
    assert sender_auth_failure(mail(header)) == "dmarc=fail"


def test_spf_fail_counts_but_softfail_does_not() -> None:
    assert sender_auth_failure(mail("mx.163.com; spf=fail smtp.mailfrom=x")) == "spf=fail"
    assert sender_auth_failure(mail("mx.163.com; spf=softfail smtp.mailfrom=x")) is None


def test_only_the_topmost_header_counts_a_forged_lower_one_is_ignored() -> None:
    assert sender_auth_failure(mail("mx.163.com; spf=pass; dmarc=pass", "evil; dmarc=fail")) is None
    assert sender_auth_failure(mail()) is None
