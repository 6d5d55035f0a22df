"""The staff console over the demo's data, through Starlette's test client (the browser tests are in
tests/e2e/test_console_browser.py): every route needs a session, decisions need a staff account, the
same site and the session's token; file routes take ids; logins are rate-limited; the sender's text is
escaped on every page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from bot.bootstrap import App
from bot.cli.demo import run_demo
from bot.office.accounts import add_account
from bot.web.app import create_app

NOW = datetime(2020, 12, 20, 2, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> App:
    app, _ = run_demo(tmp_path_factory.mktemp("demo") / "out")
    add_account(app.engine, "wang", PASSWORD, "staff", NOW, actor="test")
    add_account(app.engine, "li", PASSWORD, "viewer", NOW, actor="test")
    return app


@pytest.fixture
def client(demo: App) -> Iterator[TestClient]:
    with TestClient(create_app(demo, clock=lambda: NOW), base_url="http://console.test") as c:
        yield c


def login(client: TestClient, name: str = "wang") -> str:
    """Log in; the session's CSRF token."""
    response = client.post("/login", data={"username": name, "password": PASSWORD, "next": "/review"},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/review"
    page = client.get("/review")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def page_routes(demo: App) -> list[str]:
    """Every GET route of the console, with ids of the demo's data filled in."""
    app = create_app(demo, clock=lambda: NOW)
    paths = []
    for route in app.routes:
        if isinstance(route, Route) and "GET" in (route.methods or ()) and route.path not in ("/login", "/favicon.ico"):
            paths.append(route.path.replace("{slug}", "idv-2020").replace("{unit}", "东城区文明办")
                         .replace("{id:int}", "1"))
    return paths


def test_every_page_and_file_route_needs_a_session(demo: App, client: TestClient) -> None:
    paths = page_routes(demo)
    assert len(paths) >= 12
    for path in paths:
        browser = client.get(path, headers={"accept": "text/html"}, follow_redirects=False)
        assert browser.status_code == 303, path
        assert browser.headers["location"].startswith("/login?next="), path
        script = client.get(path, follow_redirects=False)
        assert script.status_code == 401, path


def test_every_decision_needs_a_session(client: TestClient) -> None:
    for path in ("/mail/1/assign", "/files/1/reclassify", "/units/exempt", "/mail/1/resend", "/mail/1/reprocess",
                 "/mail/1/answered"):
        assert client.post(path, data={"unit": "东城区文明办"}, follow_redirects=False).status_code == 401, path


def test_static_files_and_the_login_page_are_open(client: TestClient) -> None:
    assert client.get("/login").status_code == 200
    script = client.get("/static/htmx.min.js")
    assert script.status_code == 200
    assert "htmx" in script.text[:200]


def test_security_headers_on_every_response(client: TestClient) -> None:
    response = client.get("/login")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


def test_the_session_cookie_is_httponly_and_lax(demo: App, client: TestClient) -> None:
    response = client.post("/login", data={"username": "wang", "password": PASSWORD}, follow_redirects=False)
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie  # base_url is not https


def test_a_wrong_password_is_refused_and_then_rate_limited(client: TestClient) -> None:
    codes = [client.post("/login", data={"username": "zhao", "password": "wrong password"}).status_code
             for _ in range(6)]
    assert codes == [401] * 5 + [429]


def test_a_cross_site_post_is_refused_even_with_the_token(client: TestClient) -> None:
    token = login(client)
    for headers in ({"origin": "http://evil.example"}, {"sec-fetch-site": "cross-site"}):
        response = client.post("/units/exempt", data={"unit": "东城区文明办", "csrf": token}, headers=headers)
        assert response.status_code == 403
        assert "跨站" in response.text


def test_a_post_without_the_session_token_is_refused(client: TestClient) -> None:
    login(client)
    assert client.post("/units/exempt", data={"unit": "东城区文明办", "csrf": "forged"}).status_code == 403
    assert client.post("/units/exempt", data={"unit": "东城区文明办"}).status_code == 403


def test_a_viewer_sees_pages_without_buttons_and_cannot_decide(client: TestClient) -> None:
    token = login(client, "li")
    review = client.get("/review")
    assert review.status_code == 200
    assert "/assign" not in review.text and "改类别" not in review.text
    response = client.post("/units/exempt", data={"unit": "东城区文明办", "csrf": token})
    assert response.status_code == 403
    assert "只读" in response.text


@pytest.mark.parametrize("path", ["/files/..%2F..%2Fconfig.toml", "/files/%2Fetc%2Fpasswd", "/files/-1",
                                  "/files/999999", "/mail/999999/raw", "/files/999999/thumbnail"])
def test_file_routes_take_ids_and_nothing_else(client: TestClient, path: str) -> None:
    login(client)
    assert client.get(path).status_code == 404


def test_a_stored_file_is_downloaded_never_shown(client: TestClient) -> None:
    login(client)
    response = client.get("/files/1")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"].startswith("attachment; filename=\"")
    assert "filename*=UTF-8''" in response.headers["content-disposition"]


def test_the_hostile_sample_is_escaped_on_its_pages(demo: App, client: TestClient) -> None:
    login(client)
    for path in ("/mail/9", "/review", "/campaigns/idv-2020/units/" + "南湖县委宣传部"):
        text = client.get(path).text
        assert "<script>" not in text.replace('<script src="/static/htmx.min.js" defer></script>', ""), path


def test_login_goes_back_only_to_this_site(client: TestClient) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        response = client.post("/login", data={"username": "wang", "password": PASSWORD, "next": target},
                               follow_redirects=False)
        assert response.headers["location"] == "/"


def test_a_staff_decision_is_recorded_under_the_account(demo: App, client: TestClient, tmp_path: Path) -> None:
    token = login(client)
    response = client.post("/units/exempt", data={"unit": "滨江街道新时代文明实践站", "csrf": token,
                                                  "back": "/roster"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/roster"
    page = client.get("/campaigns/idv-2020/units/" + "滨江街道新时代文明实践站")
    assert "wang：设为免报" in page.text
    client.post("/units/exempt", data={"unit": "滨江街道新时代文明实践站", "csrf": token, "undo": "1"})


def test_mark_a_review_entry_done_and_back(demo: App, client: TestClient) -> None:
    from bot.office.review import review_list

    token = login(client)
    before = [e.key for e in review_list(demo.engine, demo.zone)]
    assert "M4:unregistered_sender" in before
    response = client.post("/review/done", data={"ref": "M4", "kind": "unregistered_sender", "csrf": token},
                           headers={"hx-request": "true"})
    assert response.status_code == 200
    assert "M4 已标记为处理完毕" in response.text
    assert [e.key for e in review_list(demo.engine, demo.zone)] == [k for k in before if k != "M4:unregistered_sender"]
    assert 'data-ref="M4"' not in client.get("/review").text
    assert "wang：待处理事项 M4 标记为处理完毕" in client.get("/campaigns/idv-2020/units/滨江街道新时代文明实践站").text
    again = client.post("/review/done", data={"ref": "M4", "kind": "unregistered_sender", "csrf": token},
                        headers={"hx-request": "true"})
    assert again.status_code == 422 and "待处理事项中没有 M4" in again.text
    client.post("/review/done", data={"ref": "M4", "kind": "unregistered_sender", "undo": "1", "csrf": token})
    assert [e.key for e in review_list(demo.engine, demo.zone)] == before


def test_a_new_roster_is_shown_as_a_diff_then_applied(demo: App, client: TestClient) -> None:
    from bot.cli.demo import samples_dir

    token = login(client)
    csv = (samples_dir() / "units.csv").read_text(encoding="utf-8-sig").splitlines()
    new = "\n".join([*csv, "新华街道文明办,,xh@example.cn,街道,是"]) + "\n"
    shown = client.post("/roster/upload", data={"csrf": token},
                        files={"roster": ("新名单.csv", new.encode("utf-8"), "text/csv")})
    assert shown.status_code == 200
    assert "新增 1 个单位" in shown.text and "新华街道文明办（街道）" in shown.text
    assert demo.roster.by_name("新华街道文明办") is None  # nothing applied yet
    staged = re.search(r'name="token" value="([0-9a-f]{64})"', shown.text)
    assert staged is not None
    applied = client.post("/roster/apply", data={"csrf": token, "token": staged.group(1), "back": "/roster"},
                          follow_redirects=False)
    assert applied.status_code == 303
    assert demo.roster.by_name("新华街道文明办") is not None
    assert "新华街道文明办" in client.get("/roster").text
    wrong = client.post("/roster/upload", data={"csrf": token},
                        files={"roster": ("x.csv", b"nothing,here\n", "text/csv")})
    assert wrong.status_code == 422 and "单位名单有误" in wrong.text
    gone = client.post("/roster/apply", data={"csrf": token, "token": "../" + "0" * 61})
    assert gone.status_code == 422 and "找不到这份上传的名单" in gone.text
    client.post("/roster/apply", data={"csrf": token, "token": roster_token(client, token, csv)})


def roster_token(client: TestClient, token: str, lines: list[str]) -> str:
    """Upload the demo's own roster back, so later tests see the roster they expect."""
    shown = client.post("/roster/upload", data={"csrf": token},
                        files={"roster": ("units.csv", ("\n".join(lines) + "\n").encode("utf-8"), "text/csv")})
    found = re.search(r'name="token" value="([0-9a-f]{64})"', shown.text)
    assert found is not None
    return found.group(1)


def test_remind_now_queues_one_reminder_per_waiting_unit_once_a_minute(demo: App, client: TestClient) -> None:
    from sqlmodel import select

    from storage import tables as t
    from storage.db import session

    token = login(client)
    page = client.get("/reminders")
    assert "立即催报：2020年国际志愿者日主题宣传和实践活动" in page.text
    waiting = sorted(u["name"] for u in unit_report_of(demo)["units"]
                     if u["required"] and u["missing"] and u["emails"])
    assert waiting  # the demo has units that still owe something
    first = client.post("/reminders/send", data={"campaign": "idv-2020", "csrf": token},
                        headers={"hx-request": "true"})
    assert first.status_code == 200 and f"已向 {len(waiting)} 个尚未报齐的单位" in first.text
    again = client.post("/reminders/send", data={"campaign": "idv-2020", "csrf": token},
                        headers={"hx-request": "true"})
    assert "已向 0 个" in again.text  # the same minute's slot is taken
    with session(demo.engine) as s:
        rows = s.exec(select(t.ReminderRow).where(t.ReminderRow.slot == "手动催报 2020-12-20 10:00")).all()
        queued = s.exec(select(t.OutboxRow).where(t.OutboxRow.kind == "reminder")).all()
    assert sorted(r.unit for r in rows) == waiting
    assert len(queued) == sum(len(demo.roster.by_name(name).emails) for name in waiting)  # type: ignore[union-attr]


def unit_report_of(demo: App) -> dict:
    from bot.office.status import unit_report

    return unit_report(demo.engine, demo.roster, demo.campaign("idv-2020"))


def test_a_session_expires_after_session_hours(demo: App, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from itsdangerous.timed import TimestampSigner

    login(client)
    assert client.get("/review").status_code == 200
    issued = TimestampSigner.get_timestamp
    later = demo.config.web.session_hours * 3600 + 5
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: issued(self) + later)
    assert client.get("/review", follow_redirects=False).status_code == 401


def test_disabling_an_account_ends_its_sessions_at_once(demo: App, client: TestClient) -> None:
    from bot.office.accounts import add_account, disable_account

    add_account(demo.engine, "zhou", PASSWORD, "staff", NOW, actor="test")
    login(client, "zhou")
    assert client.get("/review").status_code == 200
    disable_account(demo.engine, "zhou", NOW, actor="test")
    assert client.get("/review", follow_redirects=False).status_code == 401
    refused = client.post("/login", data={"username": "zhou", "password": PASSWORD})
    assert refused.status_code == 401
