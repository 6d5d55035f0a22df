"""The staff console in a real browser: headless Chromium from Debian, driven by Playwright (no browser is
downloaded), against `intake web` started as a subprocess on loopback, over a data folder the real pipeline
filled from Dovecot; decisions that reply go out through the SMTP sink.

Screenshots of the overview and a unit page are kept in test-artifacts/console/ (not committed)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import BOT_ADDRESS, INTAKE, Setup, body_text, parse, write_config
from tests.e2e.servers import Dovecot, SmtpSink, append, free_port
from tests.e2e.test_poll_e2e import when
from tests.e2e.test_staff_e2e import mails
from tests.fixtures import clients
from tests.fixtures.files import make_docx, make_jpeg

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("INTAKE_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
NOW = "2020-12-20T10:00:00+08:00"
STAFF, VIEWER, PASSWORD = "wang", "li", "a long enough password"
# What a hostile sender puts where the console shows text: each would run in a page that did not escape it.
HOSTILE_SUBJECT = '<script>alert("subject")</script>"><img src=x onerror=alert("subject-img")>'
HOSTILE_NAMES = ['"><img src=x onerror=alert("name")>.jpg', '<script>alert("file")</script>简报.docx',
                 "javascript:alert('link').docx"]
HOSTILE_BODY = '<a href="javascript:alert(\'body\')">点我</a><script>alert("body")</script>'


@dataclass
class Console:
    setup: Setup
    url: str
    process: subprocess.Popen[bytes]

    def ids(self) -> dict[str, int]:
        """Message id by sender address."""
        return {m["from"]: m["id"] for m in self.setup.status()["messages"]}


def hostile_mail() -> bytes:
    return clients.netease_webmail(
        from_addr="nh-xcb@example.cn", from_name="南湖县委宣传部", to=BOT_ADDRESS, subject=HOSTILE_SUBJECT,
        body=HOSTILE_BODY, date=when(12, 13),
        attachments=[(HOSTILE_NAMES[0], make_jpeg(200_000, width=640, height=480, seed=31)),  # too small
                     (HOSTILE_NAMES[1], make_docx("<script>alert('title')</script>", ["<b>粗体</b>"])),
                     (HOSTILE_NAMES[2], make_docx("简报", ["正文"]))])


def wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"intake web exited {process.returncode}")
        try:
            urllib.request.urlopen(url + "login", timeout=2).close()
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise AssertionError("intake web did not answer within 30 s")


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    from tests.e2e.conftest import _require_dovecot

    _require_dovecot()
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is missing ({CHROMIUM}): run `make install` as root", pytrace=False)
    tmp = tmp_path_factory.mktemp("console")
    dovecot, sink = Dovecot(), SmtpSink()
    dovecot.start()
    sink.start()
    process = None
    try:
        setup = Setup(tmp, write_config(tmp, dovecot, sink), tmp / "data", dovecot, sink)
        for raw, internaldate in [*mails(), (hostile_mail(), when(12, 13))]:
            append(dovecot, raw, internaldate)  # type: ignore[arg-type]
        setup.intake("poll", "--once")
        for name, role in ((STAFF, "staff"), (VIEWER, "viewer")):
            done = subprocess.run([str(INTAKE), "--config", str(setup.config), "users", "add", name, "--role", role,
                                   "--password-stdin"], input=PASSWORD + "\n", text=True, capture_output=True,
                                  cwd=tmp, timeout=60)
            assert done.returncode == 0, done.stderr
        port = free_port()
        with (tmp / "web.log").open("wb") as log:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen([str(INTAKE), "--config", str(setup.config), "--now", NOW, "web", "--port",
                                        str(port)], cwd=tmp, stdout=subprocess.DEVNULL, stderr=log)
        url = f"http://127.0.0.1:{port}/"
        wait_for(url, process)
        yield Console(setup, url, process)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=10)
        sink.stop()
        dovecot.stop()
        dovecot.cleanup()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@dataclass
class Watched:
    page: Any
    dialogs: list[str]
    errors: list[str]


@pytest.fixture
def staff(browser: Any, console: Console) -> Iterator[Watched]:
    yield from logged_in(browser, console, STAFF)


@pytest.fixture
def viewer(browser: Any, console: Console) -> Iterator[Watched]:
    yield from logged_in(browser, console, VIEWER)


def logged_in(browser: Any, console: Console, name: str) -> Iterator[Watched]:
    context = browser.new_context(base_url=console.url, accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watched = Watched(page, [], [])
    page.on("dialog", lambda d: (watched.dialogs.append(d.message), d.dismiss()))
    page.on("console", lambda m: watched.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: watched.errors.append(str(e)))
    page.goto("/")
    assert "/login" in page.url
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_url("**/campaigns/idv-2020")
    yield watched
    context.close()


def grid_row(page: Any, unit: str) -> Any:
    return page.locator(f"table.grid tr[data-unit='{unit}']")


def cell(page: Any, unit: str, category: str) -> str:
    return grid_row(page, unit).locator(f"td[data-category='{category}']").inner_text().strip()


def test_log_in_and_see_the_grid(staff: Watched) -> None:
    page = staff.page
    assert page.locator("h1").inner_text().startswith("2020年国际志愿者日主题宣传和实践活动")
    rows = page.locator("table.grid tbody tr")
    names = [rows.nth(i).get_attribute("data-unit") for i in range(rows.count())]
    # Units that sent nothing first (市志愿服务指导中心 sent nothing), then the incomplete, the complete, the
    # units the notice does not require.
    assert names == ["市志愿服务指导中心", "南湖县委宣传部", "东城区文明办", "西城区文明办", "滨江街道新时代文明实践站"]
    assert page.locator("#complete").inner_text() == "2" and page.locator("#required").inner_text() == "4"
    assert cell(page, "东城区文明办", "brief") == "1" and cell(page, "东城区文明办", "photo") == "1"
    assert cell(page, "市志愿服务指导中心", "brief") == "缺"
    page.select_option("select[name=group]", "部门")
    page.click("form.filter button")
    assert page.locator("table.grid tbody tr").count() == 1
    ARTIFACTS.joinpath("console").mkdir(parents=True, exist_ok=True)
    page.goto("/campaigns/idv-2020")
    page.screenshot(path=str(ARTIFACTS / "console" / "overview.png"), full_page=True)
    assert staff.dialogs == [] and staff.errors == []


def test_open_a_unit_and_its_photo(staff: Watched) -> None:
    page = staff.page
    page.click("table.grid a:text('东城区文明办')")
    page.wait_for_url("**/units/*")
    thumbnail = page.locator("ul.files li.photo img")
    assert thumbnail.count() == 1
    thumbnail.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle())
    assert max(thumbnail.evaluate("img => [img.naturalWidth, img.naturalHeight]")) == 360
    with page.expect_popup() as opened:
        thumbnail.click()
    large = opened.value
    large.wait_for_load_state()
    size = large.evaluate("() => [document.images[0].naturalWidth, document.images[0].naturalHeight]")
    assert max(size) == 1600 or min(size) > 360  # the photo at screen size, re-encoded
    page.screenshot(path=str(ARTIFACTS / "console" / "unit.png"), full_page=True)
    assert "现场照片一.jpg" in page.locator("ul.files").inner_text()
    assert staff.dialogs == [] and staff.errors == []


def test_assign_an_unassigned_mail_counts_it_and_sends_a_receipt(staff: Watched, console: Console) -> None:
    page = staff.page
    stranger = console.ids()["xiaowang@163.example"]
    sent_before = len(console.setup.sink.messages)
    page.goto("/campaigns/idv-2020")
    before = cell(page, "市志愿服务指导中心", "photo")
    page.goto("/review")
    entry = page.locator(f"li.entry.unassigned[data-ref='M{stranger}']")
    entry.locator("input[name=unit]").fill("市志愿服务指导中心")
    entry.locator("input[name=notify]").check()
    entry.locator("button:text('登记')").click()
    outcome = page.locator(f"li[data-ref='M{stranger}'] p.done")
    outcome.wait_for()
    assert "已登记到“市志愿服务指导中心”" in outcome.inner_text()
    page.goto("/campaigns/idv-2020")
    assert (before, cell(page, "市志愿服务指导中心", "photo")) == ("缺", "1")
    assert cell(page, "市志愿服务指导中心", "brief") == "1"
    receipts = [parse(m) for m in console.setup.sink.messages[sent_before:]]
    assert [(r["To"].addresses[0].addr_spec, str(r["In-Reply-To"]).strip("<>")) for r in receipts] == [
        ("xiaowang@163.example", console.setup.status()["messages"][1]["message_id"])]
    assert "已收到" in body_text(receipts[0]) and "市志愿服务指导中心" in body_text(receipts[0])
    assert "wang：将邮件" in page.goto("/campaigns/idv-2020/units/市志愿服务指导中心").text()
    assert staff.dialogs == [] and staff.errors == []


def test_reclassify_a_file(staff: Watched, console: Console) -> None:
    page = staff.page
    page.goto("/review")
    entry = page.locator("li.entry.unclassified_file").filter(has_text="附件2.docx")
    ref = entry.get_attribute("data-ref")
    entry.locator("select[name=category]").select_option("case_study")
    entry.locator("button:text('改类别')").click()
    page.locator(f"li[data-ref='{ref}'] p.done").wait_for()
    page.goto("/campaigns/idv-2020")
    assert cell(page, "东城区文明办", "case_study") == "1"
    page.goto("/review")
    assert page.locator(f"li[data-ref='{ref}']").count() == 0


def test_exempt_a_unit_and_it_leaves_the_missing_list(staff: Watched) -> None:
    page = staff.page
    page.goto("/campaigns/idv-2020/units/南湖县委宣传部")
    page.click("button:text('设为免报')")
    page.wait_for_url("**/units/*")
    assert page.locator("#unit-state").inner_text().strip() == "本次免报"
    page.goto("/campaigns/idv-2020")
    assert "免报" in grid_row(page, "南湖县委宣传部").locator("td.state").inner_text()
    assert grid_row(page, "南湖县委宣传部").locator("td.missing").count() == 0
    page.goto("/campaigns/idv-2020/units/南湖县委宣传部")
    page.click("button:text('恢复为必报')")
    page.wait_for_url("**/units/*")
    assert page.locator("#unit-state").inner_text().startswith("尚缺")


def test_download_the_workbook(staff: Watched) -> None:
    from openpyxl import load_workbook

    page = staff.page
    page.goto("/downloads")
    with page.expect_download() as started:
        page.click("a:text('报送情况统计表（XLSX）')")
    download = started.value
    assert download.suggested_filename == "2020年国际志愿者日主题宣传和实践活动报送情况统计表.xlsx"
    sheet = load_workbook(io.BytesIO(Path(download.path()).read_bytes())).active
    assert sheet is not None
    names = [row[1] for row in sheet.iter_rows(values_only=True)]
    assert {"东城区文明办", "西城区文明办", "南湖县委宣传部", "市志愿服务指导中心"} <= set(names)


def test_a_viewer_has_no_buttons_and_its_posts_are_refused(viewer: Watched, console: Console) -> None:
    page = viewer.page
    for path in ("/review", f"/mail/{console.ids()['xiaowang@163.example']}", "/campaigns/idv-2020/units/东城区文明办"):
        page.goto(path)
        assert page.locator("main form[method=post]").count() == 0, path
        assert page.locator("main button").count() == 0, path
    token = page.locator("form.who input[name=csrf]").get_attribute("value")
    refused = page.request.post("/units/exempt", form={"unit": "东城区文明办", "csrf": token},
                                headers={"origin": console.url.rstrip("/")})
    assert refused.status == 403
    page.goto("/campaigns/idv-2020")
    assert "免报" not in grid_row(page, "东城区文明办").locator("td.state").inner_text()


def test_the_hostile_mail_runs_nothing_on_any_page(staff: Watched, console: Console) -> None:
    page = staff.page
    hostile = console.ids()["nh-xcb@example.cn"]
    for path in ("/campaigns/idv-2020", "/review", f"/mail/{hostile}", "/campaigns/idv-2020/units/南湖县委宣传部",
                 "/reminders", "/roster", "/downloads"):
        page.goto(path)
        page.wait_for_load_state("load")
    page.goto(f"/mail/{hostile}")
    text = page.locator("main").inner_text()
    assert HOSTILE_SUBJECT in text  # shown as text, whole
    assert page.locator("main img[src='x']").count() == 0 and page.locator("main script").count() == 0
    assert page.locator("a[href^='javascript:']").count() == 0
    assert staff.dialogs == [] and staff.errors == []
