from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.adapters.templates import Templates
from bot.core.model import Problem
from bot.core.render.formats import filesize, local_moment
from bot.core.render.outgoing import Identity
from bot.core.render.reply import FileLine, ReplyInput, UnitSummary, render_reply
from bot.core.settings import CampaignConfig

TZ = ZoneInfo("Asia/Shanghai")
CAMPAIGN = CampaignConfig(name="国际志愿者日活动", slug="idv-2020", opens=datetime(2020, 12, 3, tzinfo=TZ),
                          deadline=datetime(2020, 12, 31, 18, tzinfo=TZ), timezone=TZ)


def reply(subject: str = "东城区报送材料", references: str | None = "<a@x>") -> ReplyInput:
    return ReplyInput(
        kind="problems", to_addr="dc@example.cn", to_name="东城区文明办", original_subject=subject,
        original_message_id="m1@example.cn", original_references=references,
        received=(FileLine("简报.docx", "brief", 36_000),),
        problems=((Problem("photo_too_small", "小.jpg"), "照片“小.jpg”太小。"),), notes=(),
        summary=UnitSummary("东城区文明办", {"brief": 1, "photo": 0, "case_study": 0, "other": 0}, ("photo",)),
    )


def render(r: ReplyInput):
    out = render_reply(Templates(), r, CAMPAIGN, Identity("bot@163.example", "市文明办材料收集"), "<r1@163.example>",
                       datetime(2020, 12, 10, 2, tzinfo=UTC))
    return out, message_from_bytes(out.raw, policy=policy.default)


def test_a_reply_threads_and_is_marked_automatic() -> None:
    out, msg = render(reply())
    assert msg["Subject"] == "Re: 东城区报送材料" == out.subject
    assert msg["In-Reply-To"] == "<m1@example.cn>"
    assert msg["References"] == "<a@x> <m1@example.cn>"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Report-Intake"] == "idv-2020"
    assert msg["Message-ID"] == "<r1@163.example>"
    assert b"\r\n" in out.raw and b"\n" not in out.raw.replace(b"\r\n", b"")


def test_a_reply_to_a_reply_does_not_stack_re_prefixes() -> None:
    _out, msg = render(reply("Re: 东城区报送材料"))
    assert msg["Subject"] == "Re: 东城区报送材料"


def test_the_problem_list_names_the_file_the_missing_category_and_the_local_deadline() -> None:
    _out, msg = render(reply())
    text = msg.get_body(("plain",)).get_content()
    assert "1. 照片“小.jpg”太小。" in text
    assert "尚缺：照片。请于12月31日18:00前补报。" in text
    html = msg.get_body(("html",)).get_content()
    assert "照片“小.jpg”太小。" in html and "<b>尚缺：照片</b>" in html


def test_html_escapes_what_the_sender_wrote() -> None:
    r = reply()
    r = ReplyInput(**{**r.__dict__, "received": (FileLine("<script>x</script>.docx", "brief", 10),)})
    _out, msg = render(r)
    assert "<script>" not in msg.get_body(("html",)).get_content()


def test_sizes_and_moments_read_as_offices_write_them() -> None:
    assert [filesize(n) for n in (512, 300_000, 1_048_576, 2_300_000)] == ["512 字节", "293 KB", "1.0 MB", "2.2 MB"]
    assert local_moment(datetime(2020, 12, 31, 10, tzinfo=UTC), CAMPAIGN) == "12月31日18:00"


def test_a_staff_catalogue_overrides_text_by_text_and_a_template_file_whole(tmp_path: Path) -> None:
    (tmp_path / "messages.toml").write_text('[categories]\nbrief = "工作简报"\n', encoding="utf-8")
    (tmp_path / "receipt.txt").write_text("{{ greeting }}：已收到。\n", encoding="utf-8")
    tx = Templates(tmp_path)
    # The staff's text wins; a text their older copy does not have still comes from the built-in catalogue.
    assert (tx.label("brief"), tx.label("photo")) == ("工作简报", "照片")
    assert tx.text("staff", "exempt_word") == "免报"
    assert tx.render("receipt.txt", greeting="东城区文明办") == "东城区文明办：已收到。\n"
