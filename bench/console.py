"""The staff console over the large data folder: the campaign overview, the page of the unit with the most files
and the review queue, each requested through Starlette's test client in this process, logged in as a staff
account (no server, no network: the figures are the application's own work, routing and rendering included).

Each page is requested once to warm up (the thumbnails its photos link to are fetched then, as a browser's
first view makes them), then CONSOLE_REPEATS times; the median counts. Every response is checked for what it
must show (the grid's 500 rows, the unit's files, every review entry), so a broken page cannot look fast.
"""

from __future__ import annotations

import cProfile
import pstats
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

CONSOLE_REPEATS = 5
STAFF_NAME = "bench-staff"
STAFF_PASSWORD = "bench console password"
BASE_URL = "http://console.bench"
_FILE_ID = re.compile(r'<li class="file [^"]*" id="F\d+"')
_THUMBNAIL = re.compile(r'src="(/files/\d+/thumbnail)"')


@dataclass
class Page:
    name: str  # "overview", "unit page", "review queue"
    path: str
    seconds: list[float]  # the timed requests, after the warm-up
    warm_up: float  # the first request
    size: int  # bytes of the page's HTML
    shows: str  # what the page was checked to show: "500 units", "23 files", "3,210 entries"

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


@dataclass
class ConsoleTimes:
    messages: int  # stored messages in the data folder (all of them, the review mail included)
    units: int  # in the roster
    files: int  # stored files (item rows)
    review_entries: int  # what the review queue lists
    review_mails: int = 0  # of the messages, those sent to fill the review queue
    review_fill_seconds: float = 0.0  # processing them with `intake poll --once`
    pages: list[Page] = field(default_factory=list)

    def page(self, name: str) -> Page | None:
        return next((p for p in self.pages if p.name == name), None)


class PageWrong(RuntimeError):
    """A page answered but does not show what it must: its timing would mean nothing."""


def _expect(condition: bool, problem: str) -> None:
    if not condition:
        raise PageWrong(problem)


@dataclass(frozen=True)
class _Request:
    name: str
    path: str
    check: Callable[[str], None]  # raises PageWrong when the page does not show what it must
    shows: str


def time_console(config: Path, now: datetime, repeats: int = CONSOLE_REPEATS,
                 profile_dir: Path | None = None) -> ConsoleTimes:
    """Log in as a staff account and time the three pages; with `profile_dir`, one more request of each under
    cProfile, its stats written there as console-<page>.prof."""
    from starlette.testclient import TestClient

    from bot.adapters.config_file import load_config
    from bot.bootstrap import build
    from bot.web.app import create_app

    app = build(load_config(config))
    try:
        _ensure_staff(app.engine, now)
        campaign = app.campaigns[0]
        facts = _facts(app, campaign.slug)
        requests = _requests(facts, campaign.slug)
        times = ConsoleTimes(facts["messages"], facts["units"], facts["files"], facts["review_entries"])
        profiler = _Profiler(create_app(app, clock=lambda: now))
        with TestClient(profiler, base_url=BASE_URL) as client:
            response = client.post("/login", data={"username": STAFF_NAME, "password": STAFF_PASSWORD, "next": "/"},
                                   follow_redirects=False)
            if response.status_code != 303:
                raise RuntimeError(f"the console refused the bench's login: {response.status_code} {response.text}")
            for request in requests:
                times.pages.append(_time_page(client, request, repeats))
            if profile_dir is not None:
                profile_dir.mkdir(parents=True, exist_ok=True)
                for request in requests:
                    _profiled(client, profiler, request,
                              profile_dir / f"console-{request.name.replace(' ', '-')}.prof")
        return times
    finally:
        app.engine.dispose()


def _ensure_staff(engine: Any, now: datetime) -> None:
    from bot.office.accounts import add_account, find_account

    if find_account(engine, STAFF_NAME) is None:  # a data folder built before keeps its account
        add_account(engine, STAFF_NAME, STAFF_PASSWORD, "staff", now, actor="bench")


def _facts(app: Any, slug: str) -> dict[str, Any]:
    """What the pages must show, counted in the database (not by the console's own queries)."""
    from sqlalchemy import func, select

    from bot.office.review import ALL, review_list
    from storage import tables as t
    from storage.db import session

    i, m = t.ItemRow, t.MessageRow
    with session(app.engine) as s:
        db = s.connection()
        messages = db.execute(select(func.count()).select_from(m).where(m.state == t.STORED)).scalar_one()
        files = db.execute(select(func.count()).select_from(i)).scalar_one()
        busiest = db.execute(select(i.unit, func.count()).where(i.campaign == slug, i.unit.is_not(None))
                             .group_by(i.unit).order_by(func.count().desc(), i.unit).limit(1)).first()
    if busiest is None:
        raise RuntimeError("no unit has a file: the data folder was not filled")
    return {"messages": messages, "files": files, "units": len(app.roster.units), "unit": busiest[0],
            "unit_files": busiest[1], "review_entries": len(review_list(app.engine, app.zone, ALL))}


def _requests(facts: dict[str, Any], slug: str) -> list[_Request]:
    units, unit, unit_files, entries = facts["units"], facts["unit"], facts["unit_files"], facts["review_entries"]

    def overview(html: str) -> None:
        rows = html.count("data-unit=")
        _expect(rows == units, f"the overview shows {rows} units, not {units}")

    def unit_page(html: str) -> None:
        shown = len(_FILE_ID.findall(html))
        _expect(shown == unit_files, f"the unit page of {unit} shows {shown} files, not {unit_files}")
        _expect('id="unit-state"' in html, "the unit page has no state")

    def review(html: str) -> None:
        shown = html.count("data-ref=")
        _expect(entries > 0, "the review queue is empty: the data folder has nothing to decide")
        _expect(shown == entries, f"the review queue shows {shown} entries, not {entries}")

    return [
        _Request("overview", f"/campaigns/{quote(slug, safe='')}", overview, f"{units:,} units"),
        _Request("unit page", f"/campaigns/{quote(slug, safe='')}/units/{quote(unit, safe='')}", unit_page,
                 f"{unit_files:,} files"),
        _Request("review queue", "/review", review, f"{entries:,} entries"),
    ]


def _get(client: Any, request: _Request) -> tuple[float, str]:
    start = time.perf_counter()
    response = client.get(request.path)
    seconds = time.perf_counter() - start
    if response.status_code != 200:
        raise RuntimeError(f"{request.name} {request.path}: {response.status_code}\n{response.text[:2000]}")
    request.check(response.text)
    return seconds, response.text


def _time_page(client: Any, request: _Request, repeats: int) -> Page:
    warm_up, html = _get(client, request)
    for thumbnail in _THUMBNAIL.findall(html):  # what a browser fetches next; made and cached on this first view
        answer = client.get(thumbnail)
        if answer.status_code != 200:
            raise RuntimeError(f"{thumbnail}: {answer.status_code}")
    seconds = [_get(client, request)[0] for _ in range(repeats)]
    return Page(request.name, request.path, seconds, warm_up, len(html.encode()), request.shows)


class _Profiler:
    """The console's ASGI application, profiled while `profile` is set. The test client runs the application on
    its own event loop thread, which a profiler enabled in the caller's thread would not see: this one is
    enabled in that thread, around the request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.profile: cProfile.Profile | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        profile = self.profile if scope["type"] == "http" else None
        if profile is None:
            await self.app(scope, receive, send)
            return
        profile.enable()
        try:
            await self.app(scope, receive, send)
        finally:
            profile.disable()


def _profiled(client: Any, profiler: _Profiler, request: _Request, out: Path) -> None:
    profiler.profile = cProfile.Profile()
    try:
        response = client.get(request.path)
    finally:
        profile, profiler.profile = profiler.profile, None
    if response.status_code != 200:
        raise RuntimeError(f"{request.name} {request.path}: {response.status_code}")
    profile.dump_stats(out)


def profile_lines(stats_file: Path, top: int = 15) -> list[str]:
    """One profiled request (what `--only console` prints for a page over its target): the functions with the
    most cumulative time below the web framework's own layers, then those with the most own time."""
    stats = pstats.Stats(str(stats_file))
    rows = [(cumulative, own, calls, f"{_short(filename)}:{line} {name}")
            for (filename, line, name), (_cc, calls, own, cumulative, _callers)
            in stats.stats.items()]  # type: ignore[attr-defined]
    framework = [row for row in rows if not any(layer in row[3] for layer in _FRAMEWORK)]
    total = max((row[0] for row in rows), default=0.0)

    def line(row: tuple[float, float, int, str]) -> str:
        return f"  {row[0] * 1000:8.1f} ms cum {row[1] * 1000:8.1f} ms own {row[2]:>9,}  {row[3]}"

    return [f"  {total * 1000:.1f} ms in all under the profiler; by cumulative time:",
            *map(line, sorted(framework, reverse=True)[:top]), "  by own time:",
            *map(line, sorted(rows, key=lambda r: r[1], reverse=True)[:top])]


_FRAMEWORK = ("starlette/", "anyio/", "httpx", "asyncio/", "bench/console.py", "bot/web/app.py:48 ")


def _short(filename: str) -> str:
    for marker in ("/site-packages/", "/lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename.rsplit("/main/", 1)[-1]
