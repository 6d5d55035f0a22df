from datetime import datetime
from zoneinfo import ZoneInfo

from bot.core.mail.large_file_links import find_large_links
from bot.core.mail.parse import parse_mail
from bot.core.model import LargeFileLink, Mail
from tests.fixtures import clients
from tests.fixtures.large_links import (
    dashi_block,
    dashi_url,
    netease_block,
    netease_url,
    qq_block,
    qq_plain_text_mail,
    qq_url,
    webmail_with_links,
)

WHEN = datetime(2020, 12, 20, 10, tzinfo=ZoneInfo("Asia/Shanghai"))
FILES = [("活动照片合集.zip", "250.34M", "2021年1月19日 10:20", "djAyZG1meTh2"),
         ("活动视频.mp4", "1.2G", "2021年1月19日 10:21", "djAyYmRmOTk3")]


def links_of(block: tuple[str, str], writer=clients.netease_webmail) -> tuple[LargeFileLink, ...]:
    raw = webmail_with_links(*block, from_addr="x@163.example", subject="材料", date=WHEN, writer=writer)
    return find_large_links(parse_mail(raw))


def html_mail(html: str, text: str = "") -> Mail:
    return Mail(message_id=None, subject="材料", from_addr="a@163.example", from_name="", to=(), date=None,
                content_type="text/html", headers=(), text=text, html=html, attachments=())


def details(links: tuple[LargeFileLink, ...]) -> list[tuple[str, str, str, str]]:
    return [(x.provider, x.filename, x.size, x.expires) for x in links]


def test_163_large_attachments_are_found_with_name_size_and_expiry_once_each() -> None:
    found = links_of(netease_block(FILES))

    assert details(found) == [("163", "活动照片合集.zip", "250.34M", "2021年1月19日 10:20"),
                              ("163", "活动视频.mp4", "1.2G", "2021年1月19日 10:21")]
    assert [x.url for x in found] == [netease_url("djAyZG1meTh2"), netease_url("djAyYmRmOTk3")]


def test_the_title_in_a_163_address_is_not_taken_for_the_file_name() -> None:
    html = ('<a href="https://mail.163.com/large-attachment-download/index.html?p=X&amp;file=k1&amp;title=%E6%9D%90">'
            "江森产品.rar</a><span> (60.57M, 2011年12月27日 19:39 到期)</span>")

    assert details(find_large_links(html_mail(html))) == [("163", "江森产品.rar", "60.57M", "2011年12月27日 19:39")]


def test_126_links_are_told_apart_from_163_by_their_host() -> None:
    found = links_of(netease_block(FILES[:1], domain="126"))

    assert [(x.provider, x.url) for x in found] == [("126", netease_url("djAyZG1meTh2", "126"))]


def test_126_mail_linking_to_mail_163_com_is_told_by_its_heading() -> None:
    found = links_of(netease_block(FILES[:1], domain="126", host="mail.163.com"))

    assert details(found) == [("126", "活动照片合集.zip", "250.34M", "2021年1月19日 10:20")]


def test_qq_old_style_cards_give_name_size_and_expiry() -> None:
    found = links_of(qq_block(FILES), writer=clients.plain_mail)

    assert details(found) == [("qq", "活动照片合集.zip", "250.34M", "2021年1月19日 10:20"),
                              ("qq", "活动视频.mp4", "1.2G", "2021年1月19日 10:21")]
    assert [x.url for x in found] == [qq_url("djAyZG1meTh2"), qq_url("djAyYmRmOTk3")]


def test_qq_new_style_links_give_name_size_and_the_download_deadline() -> None:
    found = links_of(qq_block(FILES, new_style=True), writer=clients.plain_mail)

    assert details(found) == [("qq", "活动照片合集.zip", "250.34M", "2021年1月19日 10:20"),
                              ("qq", "活动视频.mp4", "1.2G", "2021年1月19日 10:21")]
    assert found[0].url == "https://wx.mail.qq.com/ftn/download?func=3&k=djAyZG1meTh2&key=djAyZG1meTh2&code=7a3b9c1d"


def test_a_qq_file_kept_without_limit_expires_never() -> None:
    found = links_of(qq_block([("总结.docx", "30.5M", "无限期", "a1")]), writer=clients.plain_mail)

    assert details(found) == [("qq", "总结.docx", "30.5M", "无限期")]


def test_mail_master_cloud_attachments_are_found() -> None:
    found = links_of(dashi_block(FILES[:1]))

    assert details(found) == [("dashi", "活动照片合集.zip", "250.34M", "2021年1月19日 10:20")]
    assert found[0].url == dashi_url("djAyZG1meTh2")


def test_a_qq_mail_composed_as_plain_text_yields_its_links() -> None:
    raw = qq_plain_text_mail(FILES, from_addr="12345@qq.com", subject="东城区照片", date=WHEN)

    found = find_large_links(parse_mail(raw))

    assert details(found) == [("qq", "活动照片合集.zip", "250.34M", "2021年1月19日 10:20"),
                              ("qq", "活动视频.mp4", "1.2G", "2021年1月19日 10:21")]
    assert found[1].url == qq_url("djAyYmRmOTk3")


def test_the_text_part_of_a_real_qq_mail_yields_its_link() -> None:
    text = ("从QQ邮箱发来的超大附件\n\nepoch70_acc0.8719.pth (128.03M, 2020年11月27日 21:59 到期)进入下载页面："
            "http://mail.qq.com/cgi-bin/ftnExs_download?t=exs_ftn_download&k=7d363834fce0&code=7684decd\n")

    found = find_large_links(html_mail("", text))

    assert details(found) == [("qq", "epoch70_acc0.8719.pth", "128.03M", "2020年11月27日 21:59")]
    assert found[0].url == "http://mail.qq.com/cgi-bin/ftnExs_download?t=exs_ftn_download&k=7d363834fce0&code=7684decd"


def test_a_plain_text_only_163_mail_still_yields_the_link() -> None:
    _html, text = netease_block(FILES[:1])
    mail = parse_mail(
        b"From: x@163.example\r\nSubject: a\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text.encode())

    assert details(find_large_links(mail)) == [("163", "活动照片合集.zip", "250.34M", "2021年1月19日 10:20")]


def test_the_text_part_fills_in_what_the_html_left_out() -> None:
    html = '<a href="https://mail.163.com/large-attachment-download/index.html?file=k9">下载</a>'
    text = "照片.zip (80.96M, 2026年8月17日 0:49 到期)\n下载：https://mail.163.com/large-attachment-download/index.html?file=k9"

    assert details(find_large_links(html_mail(html, text))) == [("163", "照片.zip", "80.96M", "2026年8月17日 0:49")]


def test_a_bare_download_button_takes_the_details_written_after_it() -> None:
    html = ('<div><a href="https://mail.163.com/large-attachment-download/index.html?file=abc">下载</a>'
            "<span> (12.5M, 2026年9月1日 0:00 到期)</span></div>")

    assert details(find_large_links(html_mail(html))) == [("163", "", "12.5M", "2026年9月1日 0:00")]


def test_ordinary_links_are_not_large_attachments() -> None:
    mail = parse_mail(b"From: a@b\r\nSubject: s\r\nContent-Type: text/html\r\n\r\n"
                      b'<a href="https://www.163.com/news/x.html">news.zip</a> '
                      b'<a href="http://u.163.com/RcUwvU56g">\xe6\x8e\xa8\xe8\x8d\x90</a>')

    assert find_large_links(mail) == ()
