"""What a campaign asks and allows: the values the pure steps read (the window, required categories,
classification words, unpacking limits, reply limits, the reminder schedule). Plain frozen values; the
config file adapter (bot/adapters/config_file.py) builds them from TOML."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_BRIEF_WORDS = ("简报", "工作简报", "活动简报", "信息", "动态", "快报", "通讯", "报道", "总结报告")
DEFAULT_CASE_WORDS = (
    "典型事例", "典型案例", "先进事迹", "经验总结", "经验做法", "典型经验", "事迹材料",
    "案例", "事迹", "经验", "做法",
)
DEFAULT_COMPRESSED_NAMES = (r"^mmexport\d{13}", r"^微信图片_\d{8,}", r"^wx_camera_\d{13}", r"^QQ图片\d{8,}")


@dataclass(frozen=True)
class ClassifyRules:
    """Keyword lists (configuration with Chinese defaults, never literals in the logic)."""

    brief: tuple[str, ...] = DEFAULT_BRIEF_WORDS
    case_study: tuple[str, ...] = DEFAULT_CASE_WORDS
    # File names of photos that went through WeChat or QQ (compressed copies), as regular expressions.
    compressed_names: tuple[str, ...] = DEFAULT_COMPRESSED_NAMES
    # A photo with no camera EXIF whose long edge is at most this many pixels looks like a compressed copy.
    compressed_long_edge: int = 2000


@dataclass(frozen=True)
class Limits:
    """Bounds on what one mail may make the bot unpack; past them the file becomes a problem."""

    max_unpacked_bytes: int = 512 * 1024 * 1024  # per mail, all archive entries together
    max_entries: int = 2000  # per mail
    max_ratio: int = 200  # unpacked size / packed size of one entry
    max_depth: int = 3  # archives inside archives
    max_parts: int = 500  # files in one mail, counting archive entries
    max_message_bytes: int = 100 * 1024 * 1024  # a larger mail is archived and the sender asked to split it
    max_attempts: int = 5  # a mail whose processing is interrupted (the process killed) this often is set aside


@dataclass(frozen=True)
class CampaignConfig:
    name: str
    slug: str
    opens: datetime
    deadline: datetime
    timezone: ZoneInfo
    required: tuple[str, ...] = ("brief", "photo")
    min_photo_bytes: int = 1048576
    late_policy: str = "accept"
    late_days: int = 30
    keywords: tuple[str, ...] = ()
    max_image_pixels: int = 120_000_000
    classify: ClassifyRules = ClassifyRules()
    limits: Limits = Limits()
    reference_prefix: str = "REF"  # receipts are numbered <prefix>-0031
    notice: str = ""  # the notice's number as printed on it: 并文明办〔2020〕65号
    units: tuple[str, ...] = ()  # unit names and/or roster groups it asks; () = every unit the roster requires
    reminders: tuple[Slot, ...] | None = None  # relative to its deadline; None = [schedule].reminders
    closed_at: datetime | None = None  # staff closed it (`intake campaigns close`): no mail counts after this

    @property
    def closes(self) -> datetime:
        """After this moment mail no longer counts for the campaign."""
        ends = self.deadline + timedelta(days=self.late_days)
        return min(ends, self.closed_at) if self.closed_at is not None else ends

    def open_at(self, moment: datetime) -> bool:
        return self.opens <= moment <= self.closes

    def title(self) -> str:
        """Its name with its number, as units read it: 国际志愿者日活动（并文明办〔2020〕65号）."""
        return f"{self.name}（{self.notice}）" if self.notice else self.name


DEFAULT_TIMEZONE = "Asia/Shanghai"


def office_zone(campaigns: tuple[CampaignConfig, ...]) -> ZoneInfo:
    """The office's time zone (its first campaign's): the worker's clock, the digest's day, staff tables."""
    return campaigns[0].timezone if campaigns else ZoneInfo(DEFAULT_TIMEZONE)


@dataclass(frozen=True)
class ReplyLimits:
    """No mail loops, no backscatter: at most this many replies to one address in the window."""

    max_per_sender: int = 10
    max_same_subject: int = 2
    window_hours: int = 3


@dataclass(frozen=True)
class Slot:
    """A moment relative to a campaign day: "-3d 09:00" is three days before the deadline's date, 09:00."""

    days: int
    at: time
    text: str  # as written in the config, also the slot's key in the reminder ledger

    def on(self, day: date) -> date:
        return day + timedelta(days=self.days)


@dataclass(frozen=True)
class ScheduleConfig:
    """When the worker sends the staff digest and reminds units (times in the campaign's zone)."""

    digest_time: time | None = None  # None: no daily digest
    reminders: tuple[Slot, ...] = ()  # relative to the deadline's date
    overdue_notice: Slot | None = None  # one notice after the deadline, relative to its date
    working_days_only: bool = True  # a slot on a weekend or public holiday moves to the previous working day
    copy_staff: bool = False  # reminders and the overdue notice also go to staff.digest_to


