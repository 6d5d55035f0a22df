"""Real-world mail through Dovecot: Windows zips, winmail.dat, forwards, 超大附件 links, WeChat copies."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import Setup, body_text, write_config
from tests.e2e.servers import Dovecot, SmtpSink, append
from tests.e2e.test_poll_e2e import TO, when
from tests.fixtures import archives, clients
from tests.fixtures.files import make_docx, make_jpeg
from tests.fixtures.large_links import netease_block, webmail_with_links

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"
WINMAIL = CORPORA / "MimeKit" / "UnitTests" / "TestData" / "tnef" / "panic.tnef"


@pytest.fixture
def setup(tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink) -> Setup:
    return Setup(tmp_path, write_config(tmp_path, dovecot, smtp_sink), tmp_path / "data", dovecot, smtp_sink)


def by_subject(setup: Setup) -> dict[str, dict]:
    return {m["subject"]: m for m in setup.status()["messages"]}


def test_a_windows_zip_is_opened_and_its_folders_classify_the_files(setup: Setup) -> None:
    photo = make_jpeg(1_100_000, seed=21)
    zipped = archives.windows_zip({
        "照片/活动现场一.jpg": photo,
        "典型事例/社区志愿服务队.docx": make_docx("社区志愿服务队"),
        "工作简报.docx": make_docx("东城区志愿服务工作简报"),
    })
    raw = clients.outlook(from_addr="dc-wmb@example.cn", from_name="东城区文明办", to=TO, subject="东城区材料",
                          body="材料见压缩包。", attachments=[("东城区材料.zip", zipped)], date=when(12, 10))
    append(setup.dovecot, raw, when(12, 10))
    setup.intake("poll", "--once")
    m = by_subject(setup)["东城区材料"]
    assert [(f["name"], f["source"], f["category"], f["path"]) for f in m["files"]] == [
        ("活动现场一.jpg", "东城区材料.zip/照片/活动现场一.jpg", "photo", "idv-2020/东城区文明办/photo/活动现场一.jpg"),
        ("社区志愿服务队.docx", "东城区材料.zip/典型事例/社区志愿服务队.docx", "case_study",
         "idv-2020/东城区文明办/case_study/社区志愿服务队.docx"),
        ("工作简报.docx", "东城区材料.zip/工作简报.docx", "brief", "idv-2020/东城区文明办/brief/工作简报.docx"),
    ]
    assert (setup.data / m["files"][0]["path"]).read_bytes() == photo
    assert m["status"] == "accepted"
    assert "东城区材料.zip/照片/活动现场一.jpg（照片" in body_text(setup.replies()[0])


def test_an_encrypted_zip_is_kept_and_the_unit_asked_for_an_open_one(setup: Setup) -> None:
    zipped = archives.encrypted_zip({"简报.docx": b"doc"}, {"简报.docx"})
    raw = clients.foxmail(from_addr="nh-xcb@example.cn", from_name="南湖县委宣传部", to=TO, subject="南湖县材料",
                          body="见附件", attachments=[("南湖县材料.zip", zipped)], date=when(12, 11))
    append(setup.dovecot, raw, when(12, 11))
    setup.intake("poll", "--once")
    m = by_subject(setup)["南湖县材料"]
    assert [(p["code"], p["file"]) for p in m["problems"]] == [("archive_encrypted", "南湖县材料.zip")]
    assert [f["path"] for f in m["files"]] == ["idv-2020/南湖县委宣传部/other/南湖县材料.zip"]
    assert "压缩包“南湖县材料.zip”设置了密码" in body_text(setup.replies()[0])


@pytest.mark.skipif(not WINMAIL.exists(), reason="the shared corpora are not beside the repository")
def test_outlook_winmail_dat_is_unpacked(setup: Setup) -> None:
    raw = clients.outlook(from_addr="xc-wmb@example.cn", from_name="西城区文明办", to=TO, subject="西城区材料",
                          body="见附件", attachments=[("winmail.dat", WINMAIL.read_bytes())], date=when(12, 12))
    append(setup.dovecot, raw, when(12, 12))
    setup.intake("poll", "--once")
    m = by_subject(setup)["西城区材料"]
    assert [(f["name"], f["source"]) for f in m["files"]] == [
        ("image001.jpg", "winmail.dat/image001.jpg"), ("image002.jpg", "winmail.dat/image002.jpg"),
        ("image003.png", "winmail.dat/image003.png")]


def test_a_forward_from_a_personal_address_counts_for_the_registered_inner_sender(setup: Setup) -> None:
    inner = clients.foxmail(from_addr="zyfw@example.cn", from_name="市志愿服务指导中心", to="zhang@qq.example",
                            subject="照片", body="照片", attachments=[("IMG_0001.jpg", make_jpeg(1_100_000, seed=22))],
                            date=when(12, 12))
    raw = clients.netease_webmail(from_addr="zhang@163.example", from_name="张", to=TO, subject="转发材料",
                                  body="转发", attachments=[("照片.eml", inner)], date=when(12, 13))
    append(setup.dovecot, raw, when(12, 13))
    setup.intake("poll", "--once")
    m = by_subject(setup)["转发材料"]
    assert (m["unit"], m["review"]) == ("市志愿服务指导中心", ["unregistered-sender"])
    assert [(f["source"], f["category"]) for f in m["files"]] == [("照片.eml/IMG_0001.jpg", "photo")]


def test_large_file_links_are_recorded_for_staff_and_the_unit_asked_to_attach(setup: Setup) -> None:
    html, text = netease_block([("活动照片合集.zip", "250.34M", "2021年1月19日 10:20", "a1b2")])
    raw = webmail_with_links(html, text, from_addr="dc-wmb@example.cn", subject="东城区照片（超大附件）",
                             date=when(12, 20))
    append(setup.dovecot, raw, when(12, 20))
    setup.intake("poll", "--once")
    m = by_subject(setup)["东城区照片（超大附件）"]
    assert m["files"] == []
    assert [(x["provider"], x["name"], x["size"], x["expires"]) for x in m["links"]] == [
        ("163", "活动照片合集.zip", "250.34M", "2021年1月19日 10:20")]
    assert [p["code"] for p in m["problems"]] == ["large_file_link"]
    reply = body_text(setup.replies()[0])
    assert "“活动照片合集.zip”（250.34M）是以“超大附件”下载链接发送的" in reply
    assert "请把文件作为普通附件发送" in reply


def test_a_wechat_compressed_photo_is_asked_for_as_the_original(setup: Setup) -> None:
    copy = make_jpeg(1_100_000, width=1280, height=960, exif=False, seed=23)
    raw = clients.iphone(from_addr="xc-wmb@example.cn", from_name="", to=TO, subject="西城区照片", body="照片",
                         attachments=[("mmexport1607500000000.jpg", copy)], date=when(12, 14))
    append(setup.dovecot, raw, when(12, 14))
    setup.intake("poll", "--once")
    m = by_subject(setup)["西城区照片"]
    assert [(p["code"], p["file"]) for p in m["problems"]] == [("photo_compressed", "mmexport1607500000000.jpg")]
    assert m["files"][0]["counted"] is False


def test_a_bounce_of_our_reply_is_recorded_against_it_and_not_answered(setup: Setup) -> None:
    raw = clients.foxmail(from_addr="dc-wmb@example.cn", from_name="东城区文明办", to=TO, subject="东城区简报",
                          body="见附件", attachments=[("简报.docx", make_docx("简报"))], date=when(12, 10))
    append(setup.dovecot, raw, when(12, 10))
    setup.intake("poll", "--once")
    (reply,) = setup.sink.messages
    append(setup.dovecot, clients.bounce(reply.data, failed_recipient="dc-wmb@example.cn", date=when(12, 10, 11)),
           when(12, 10, 11))
    setup.intake("poll", "--once")
    first, bounce = setup.status()["messages"]
    assert (first["subject"], first["replied"], first["reply_bounced"]) == ("东城区简报", True, True)
    assert (bounce["status"], bounce["automatic"], bounce["review"], bounce["replied"]) == (
        "ignored", "bounce", ["bounced-reply"], False)
    assert len(setup.sink.messages) == 1
