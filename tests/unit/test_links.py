from datetime import datetime
from zoneinfo import ZoneInfo

from bot.links import find_large_links
from bot.model import LargeFileLink
from bot.parse import parse_mail
from tests.fixtures.large_links import netease_block, qq_block, webmail_with_links

WHEN = datetime(2020, 12, 20, 10, tzinfo=ZoneInfo("Asia/Shanghai"))
FILES = [("活动照片合集.zip", "250.34M", "2021年1月19日 10:20", "a1b2"),
         ("活动视频.mp4", "1.2G", "2021年1月19日 10:20", "c3d4")]


def links_of(block: tuple[str, str]) -> tuple[LargeFileLink, ...]:
    return find_large_links(parse_mail(webmail_with_links(*block, from_addr="x@163.example", subject="材料",
                                                          date=WHEN)))


def test_163_large_attachments_are_found_with_name_size_and_expiry_once_each() -> None:
    found = links_of(netease_block(FILES))
    assert [(x.provider, x.filename, x.size, x.expires) for x in found] == [
        ("163", "活动照片合集.zip", "250.34M", "2021年1月19日 10:20"),
        ("163", "活动视频.mp4", "1.2G", "2021年1月19日 10:20")]
    assert found[0].url.startswith("https://mail.163.com/large-attachment-download/index.html?p=a1b2")


def test_126_links_are_told_apart_from_163() -> None:
    assert [x.provider for x in links_of(netease_block(FILES[:1], domain="126"))] == ["126"]


def test_qq_old_and_new_large_attachments_are_found() -> None:
    old = links_of(qq_block(FILES[:1]))
    new = links_of(qq_block(FILES[:1], new_style=True))
    assert [(x.provider, x.filename, x.size, x.expires) for x in old] == [
        ("qq", "活动照片合集.zip", "250.34M", "2021年1月19日 10:20")]
    assert new[0].url.startswith("https://wx.mail.qq.com/ftn/download?func=3&k=a1b2")
    assert (new[0].filename, new[0].size) == ("活动照片合集.zip", "250.34M")


def test_a_plain_text_only_mail_still_yields_the_link() -> None:
    _html, text = netease_block(FILES[:1])
    mail = parse_mail(
        b"From: x@163.example\r\nSubject: a\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text.encode())
    assert [(x.filename, x.size) for x in find_large_links(mail)] == [("活动照片合集.zip", "250.34M")]


def test_ordinary_links_are_not_large_attachments() -> None:
    mail = parse_mail(b"From: a@b\r\nSubject: s\r\nContent-Type: text/html\r\n\r\n"
                      b'<a href="https://www.163.com/news/x.html">news.zip</a>')
    assert find_large_links(mail) == ()
