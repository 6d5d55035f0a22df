"""A reproducible benchmark mailbox: the same seed always gives the same messages.

Mail is written by the project's own client writers (tests/fixtures/clients.py) with real files from
tests/fixtures/files.py and archives.py. Photos are real noise JPEGs with EXIF (incompressible, so their
sizes are real); a pool is made once per run in a cache folder and each use gets its own JPEG comment, so
every photo in the mailbox has its own bytes and hash, as real photos do.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tests.fixtures import archives, clients, files

CST = timezone(timedelta(hours=8))
BOT_ADDRESS = "wmb-collect@163.example"
FIRST_DAY = datetime(2020, 12, 4, 8, 0, tzinfo=CST)  # inside the harness campaign (opens 12-03, deadline 12-31)
POOL_SIZES_MB = (1.1, 1.4, 1.8, 2.2, 2.6, 3.0, 3.4, 3.8, 4.2, 4.6, 4.9)  # 1–5 MB photos
CAMERAS = ("Canon EOS 80D", "NIKON D7500", "HUAWEI P40", "Apple iPhone 12", "SONY ILCE-7M3")
WRITERS: tuple[Callable[..., bytes], ...] = (clients.foxmail, clients.netease_webmail, clients.outlook,
                                             clients.iphone)
# Share of each kind of mail (weights, summing to 100).
MIX = (("photos", 12), ("zip", 6), ("brief_docx", 22), ("case_pdf", 12), ("small", 30), ("problem", 18))


@dataclass(frozen=True)
class Unit:
    name: str
    alias: str
    address: str


@dataclass(frozen=True)
class BenchMail:
    kind: str
    raw: bytes
    internaldate: datetime


def units(count: int) -> list[Unit]:
    return [Unit(f"第{i + 1}街道新时代文明实践所", f"第{i + 1}实践所", f"unit{i + 1}@example.cn") for i in range(count)]


def units_csv(roster: list[Unit]) -> str:
    head = "单位名称,别名,邮箱,分组,是否必报\n"
    return head + "".join(f"{u.name},{u.alias},{u.address},街道,是\n" for u in roster)


class PhotoPool:
    """Noise JPEGs of 1–5 MB, made once and cached as files; `photo(n)` gives the n-th distinct variant."""

    def __init__(self, cache: Path, seed: int) -> None:
        self.cache = cache
        self.seed = seed
        cache.mkdir(parents=True, exist_ok=True)
        self._loaded: dict[int, bytes] = {}

    def base(self, index: int) -> bytes:
        index %= len(POOL_SIZES_MB)
        if index not in self._loaded:
            path = self.cache / f"pool-{self.seed}-{index}.jpg"
            if not path.exists():
                size = int(POOL_SIZES_MB[index] * 1024 * 1024)
                camera = CAMERAS[index % len(CAMERAS)]
                data = files.make_jpeg(size, width=1600, height=1200, seed=self.seed * 100 + index, camera=camera)
                path.write_bytes(data)
            self._loaded[index] = path.read_bytes()
        return self._loaded[index]

    def photo(self, index: int, variant: int) -> bytes:
        """The pool photo with a JPEG comment naming `variant`: a valid JPEG with its own SHA-256."""
        base = self.base(index)
        text = f"bench photo {variant}".encode("ascii")
        comment = b"\xff\xfe" + struct.pack(">H", len(text) + 2) + text
        return base[:2] + comment + base[2:]  # right after SOI


def small_jpeg(seed: int) -> bytes:
    """A 300 KB photo: under min_photo_bytes, so the reply asks for the original."""
    return files.make_jpeg(300 * 1024, width=400, height=300, seed=seed, exif=False)


def generate(count: int, roster: list[Unit], pool: PhotoPool, seed: int = 2020) -> Iterator[BenchMail]:
    """`count` messages in a fixed mix, oldest first, one every 7 minutes from FIRST_DAY."""
    rng = random.Random(seed)
    kinds = [k for k, w in MIX for _ in range(w)]
    photo_counter = 0
    small_photos = [small_jpeg(seed + i) for i in range(3)]
    for n in range(count):
        kind = kinds[rng.randrange(len(kinds))]
        unit = roster[rng.randrange(len(roster))]
        when = FIRST_DAY + timedelta(minutes=7 * n)
        writer = WRITERS[rng.randrange(len(WRITERS))]
        base = dict(from_addr=unit.address, from_name=unit.alias, to=BOT_ADDRESS, date=when,
                    message_id=f"bench.{seed}.{n}@example.cn")
        if kind == "photos":
            photos = []
            for k in range(rng.randint(2, 10)):
                photo_counter += 1
                photos.append((f"志愿服务活动照片{n}-{k + 1}.jpg", pool.photo(rng.randrange(100), photo_counter)))
            attachments = photos
            if rng.random() < 0.5:
                attachments = [(f"{unit.alias}志愿服务简报{n}.docx", _brief(unit, n)), *photos]
            raw = writer(**base, subject=f"{unit.alias}国际志愿者日活动简报及照片", body=_body(unit),
                         attachments=attachments)
        elif kind == "zip":
            entries = {f"照片/活动照片{k + 1}.jpg": pool.photo(rng.randrange(4), photo_counter + k + 1)
                       for k in range(rng.randint(2, 4))}
            photo_counter += len(entries)
            entries[f"简报/{unit.alias}简报.docx"] = _brief(unit, n)
            raw = writer(**base, subject=f"{unit.alias}志愿服务材料（压缩包）", body=_body(unit),
                         attachments=[(f"{unit.alias}志愿服务材料.zip", archives.windows_zip(entries))])
        elif kind == "brief_docx":
            raw = writer(**base, subject=f"报送：{unit.alias}12.5志愿者日简报", body=_body(unit),
                         attachments=[(f"{unit.alias}简报.docx", _brief(unit, n))])
        elif kind == "case_pdf":
            pdf = files.make_pdf(f"{unit.alias}典型事例", f"Case study {n}\nVolunteer service")
            raw = writer(**base, subject=f"{unit.alias}志愿服务典型事例", body=_body(unit),
                         attachments=[(f"{unit.alias}典型事例.pdf", pdf)])
        elif kind == "small":
            raw = clients.plain_mail(**base, subject=f"咨询：{unit.alias}志愿者日材料报送要求",
                                     body="请问照片需要多大？是否需要原图？谢谢。")
        else:
            raw = _problem(rng.randrange(4), base, unit, n, small_photos)
        yield BenchMail(kind, raw, when + timedelta(seconds=30))


def _body(unit: Unit) -> str:
    return f"市文明办：\n\n附件是{unit.name}的国际志愿者日活动材料，请查收。\n\n{unit.alias}\n联系电话：0571-88886666\n"


def _brief(unit: Unit, n: int) -> bytes:
    paragraphs = [f"{unit.name}于12月5日组织志愿者开展国际志愿者日主题活动（第{n}期）。"] * 6
    return files.make_docx(f"{unit.alias}国际志愿者日活动简报", paragraphs)


def _problem(which: int, base: dict, unit: Unit, n: int, small_photos: list[bytes]) -> bytes:
    if which == 0:  # photos too small (WeChat copies)
        attachments = [(f"微信图片_2020120{k}.jpg", small_photos[k]) for k in range(3)]
        return clients.iphone(**base, subject=f"{unit.alias}活动照片", body=_body(unit), attachments=attachments)
    if which == 1:  # a password-protected archive
        entries = {"照片1.jpg": small_photos[0], "简报.txt": "志愿服务简报".encode()}
        data = archives.encrypted_zip(entries, {"照片1.jpg"})
        return clients.outlook(**base, subject=f"{unit.alias}志愿服务材料", body=_body(unit),
                               attachments=[("材料.zip", data)])
    if which == 2:  # an unregistered sender naming the unit in the subject
        base = base | {"from_addr": f"volunteer{n}@qq.example", "from_name": "张老师"}
        return clients.netease_webmail(**base, subject=f"{unit.alias}志愿者日简报", body=_body(unit),
                                       attachments=[("简报.docx", _brief(unit, n))])
    return clients.auto_reply(from_addr=unit.address, from_name=unit.alias, to=BOT_ADDRESS,
                              subject="关于报送国际志愿者日材料的通知", body="您好，我休假中，节后回复。",
                              date=base["date"], message_id=base["message_id"])


def small_messages(count: int, roster: list[Unit], seed: int = 7) -> Iterator[BenchMail]:
    """Many small campaign mails (a tiny brief each), `count // len(roster)` or so per unit, for the
    10,000-message idle poll and report timings."""
    rng = random.Random(seed)
    for n in range(count):
        unit = roster[n % len(roster)]
        when = FIRST_DAY + timedelta(seconds=150 * n)
        kind = rng.random()
        if kind < 0.6:
            name, data = f"{unit.alias}简报{n}.pdf", files.make_pdf(f"{unit.alias}简报{n}", "brief")
        elif kind < 0.9:
            name, data = f"活动照片{n}.png", files.make_png(24, 24, seed=n % 50)
        else:
            name, data = f"{unit.alias}典型事例{n}.pdf", files.make_pdf(f"{unit.alias}典型事例{n}", "case")
        raw = clients.foxmail(from_addr=unit.address, from_name=unit.alias, to=BOT_ADDRESS, date=when,
                              subject=f"{unit.alias}志愿者日材料{n}", body=_body(unit),
                              attachments=[(name, data)], message_id=f"small.{seed}.{n}@example.cn")
        yield BenchMail("small", raw, when + timedelta(seconds=30))


def review_messages(count: int, roster: list[Unit], seed: int = 11) -> Iterator[BenchMail]:
    """Mail that needs a person's decision, for the console's review queue, alternately: a stranger's campaign
    mail that names no unit (unassigned; a brief attached), and a unit's mail whose file has no category's
    word in its name, title or text (an unclassified file). Every two hours from FIRST_DAY, so they fall
    among the small messages."""
    rng = random.Random(seed)
    for n in range(count):
        when = FIRST_DAY + timedelta(hours=2 * n, seconds=75)
        base = dict(to=BOT_ADDRESS, date=when, message_id=f"review.{seed}.{n}@example.cn")
        if n % 2 == 0:
            brief = files.make_pdf(f"活动简报{n}", "brief")
            raw = clients.netease_webmail(**base, from_addr=f"volunteer{n}@qq.example", from_name="志愿者",
                                          subject=f"国际志愿者日活动材料{n}",
                                          body="老师好：\n\n附件是我们的活动材料，请查收。\n",
                                          attachments=[(f"活动简报{n}.pdf", brief)])
        else:
            unit = roster[rng.randrange(len(roster))]
            other = files.make_pdf(f"附件{n}", "appendix")
            raw = clients.foxmail(**base, from_addr=unit.address, from_name=unit.alias,
                                  subject=f"{unit.alias}志愿者日材料补充{n}", body=_body(unit),
                                  attachments=[(f"附件{n}.pdf", other)])
        yield BenchMail("review", raw, when + timedelta(seconds=30))
