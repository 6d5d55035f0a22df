"""Each rule on its own: facts in, problems out."""

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.core.model import Category, FileFacts, ItemPlan, LargeFileLink, Problem, UnitMatch
from bot.core.rules import Evidence, check
from bot.core.settings import CampaignConfig

TZ = ZoneInfo("Asia/Shanghai")
CAMPAIGN = CampaignConfig(name="活动", slug="c", opens=datetime(2020, 12, 3, tzinfo=TZ),
                          deadline=datetime(2020, 12, 31, 18, tzinfo=TZ), timezone=TZ)
UNIT = UnitMatch("东城区文明办", "address")
WHEN = datetime(2020, 12, 10, tzinfo=TZ)
MB2 = 2 * 1024 * 1024


def photo(name: str, *, exif: bool = True, width: int = 4000, height: int = 3000, size: int = MB2,
          index: int = 0) -> ItemPlan:
    facts = FileFacts("jpeg", "image/jpeg", is_image=True, width=width, height=height, has_exif=exif)
    return ItemPlan(index, name, Category.PHOTO, "type:jpeg", facts, size, f"sha{index}", False)


def brief(name: str = "简报.docx", pictures: int = 0, index: int = 0) -> ItemPlan:
    facts = FileFacts("docx", "application/docx", is_document=True, embedded_images=pictures)
    return ItemPlan(index, name, Category.BRIEF, "name:简报", facts, 30_000, f"sha{index}", False)


def problems(*items: ItemPlan, links: tuple[LargeFileLink, ...] = (), unpack: tuple[Problem, ...] = ()):
    return [(p.code, p.file) for p in check(Evidence(CAMPAIGN, WHEN, UNIT, items, unpack, links))]


def test_a_camera_original_is_no_problem() -> None:
    assert problems(photo("IMG_0001.JPG")) == []


def test_a_wechat_named_copy_is_asked_for_the_original() -> None:
    assert problems(photo("mmexport1607500000000.jpg")) == [("photo_compressed", "mmexport1607500000000.jpg")]
    assert problems(photo("微信图片_20201210093000.jpg")) == [("photo_compressed", "微信图片_20201210093000.jpg")]


def test_a_photo_without_camera_exif_and_few_pixels_looks_compressed() -> None:
    assert problems(photo("a.jpg", exif=False, width=1920, height=1080)) == [("photo_compressed", "a.jpg")]
    assert problems(photo("b.jpg", exif=False, width=4032, height=3024)) == []


def test_a_too_small_photo_is_reported_once_as_too_small_not_also_as_compressed() -> None:
    assert problems(photo("mmexport1607500000000.jpg", size=200_000)) == [
        ("photo_too_small", "mmexport1607500000000.jpg")]


def test_photos_only_pasted_in_the_brief_are_asked_for_as_files() -> None:
    assert problems(brief(pictures=3)) == [("photos_pasted_in_document", "简报.docx")]
    assert problems(brief(pictures=3), photo("IMG_1.jpg", index=1)) == []


def test_a_large_file_link_is_a_problem_and_not_a_missing_attachment() -> None:
    link = LargeFileLink("163", "https://mail.163.com/large-attachment-download/x", "照片.zip", "250M", "12月30日")
    assert problems(links=(link,)) == [("large_file_link", "照片.zip")]


def test_problems_from_opening_archives_are_passed_on() -> None:
    assert problems(unpack=(Problem("archive_encrypted", "材料.zip"),)) == [("archive_encrypted", "材料.zip")]
