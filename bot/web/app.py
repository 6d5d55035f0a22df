"""The console's Starlette application: the shared parts every page and action use (who is asking, rendering,
the security headers) and the routes of pages.py, actions.py and files.py.

Every handler is `async` and calls the office's synchronous code inline: the application's mutable state (the
roster in force, the intake that reprocesses a mail) keeps one owner, the event loop's thread, as in the
worker. An office has a handful of staff; a decision takes well under a second."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.bootstrap import App, system_clock
from bot.core.settings import CampaignConfig
from bot.office.accounts import find_account
from bot.office.previews import Previews
from bot.web.auth import COOKIE, LoginLimiter, Sessions, User, same_origin, signing_secret, token_matches

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"), (b"referrer-policy", b"same-origin"),
                    (b"cross-origin-opener-policy", b"same-origin")]


class SecurityHeaders:
    """Every response carries the strict policy: no inline script, no framing, no sniffing; pages are not
    cached (they show the sender's data to a logged-in person)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(SECURITY_HEADERS)
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class NotLoggedIn(Exception):
    """A page asked for without a session: the browser goes to the login page, anything else gets 401."""


@dataclass
class Console:
    application: App
    clock: Callable[[], datetime] = system_clock
    sessions: Sessions = field(init=False)
    limiter: LoginLimiter = field(init=False)

    def __post_init__(self) -> None:
        web = self.application.config.web
        secret = signing_secret(self.application.config.storage.data_dir / "web")
        self.sessions = Sessions(secret, web.session_hours, web.secure_cookies)
        self.limiter = LoginLimiter(self.clock)

    @property
    def engine(self) -> Engine:
        return self.application.engine

    @functools.cached_property
    def previews(self) -> Previews:
        """Thumbnails made once under data/web/thumbnails/; photo facts and document lines read on demand."""
        data = self.application.config.storage.data_dir
        campaigns = self.application.campaigns
        limit = campaigns[0].max_image_pixels if campaigns else CampaignConfig.max_image_pixels
        return Previews(data, data / "web" / "thumbnails", limit)

    @functools.cached_property
    def large_previews(self) -> Previews:
        """What a click on a thumbnail opens: the photo re-encoded at screen size (never the sender's bytes)."""
        small = self.previews
        return Previews(small.store.root, small.cache_dir.with_name("large"), small.max_image_pixels, 1600)

    @staticmethod
    def quote(text: str) -> str:
        return quote_path(text)

    def words(self, section: str, code: str, **params: Any) -> str:
        return self.application.templates.text(section, code, **params)

    def user(self, request: Request) -> User | None:
        """The account of a valid session whose account is still enabled (disabling logs out at once)."""
        found = self.sessions.read(request.cookies.get(COOKIE))
        if found is None:
            return None
        name, csrf = found
        account = find_account(self.engine, name)
        if account is None or account.disabled:
            return None
        return User(account.name, account.role, csrf)

    def campaign(self, slug: str) -> CampaignConfig:
        found = next((c for c in self.application.campaigns if c.slug == slug), None)
        if found is None:
            raise HTTPException(404)
        return found

    def render(self, request: Request, name: str, user: User | None, status_code: int = 200,
               **context: Any) -> HTMLResponse:
        html = self.application.templates.render(
            f"web/{name}", user=user, campaigns=self.application.campaigns, path=request.url.path,
            quote=quote_path, now=self.clock().astimezone(self.application.zone), **context)
        return HTMLResponse(html, status_code=status_code)


def quote_path(text: str) -> str:
    """A unit name (or any text) as one path segment."""
    return quote(text, safe="")


Handler = Callable[[Request], Awaitable[Response]]


def page(console: Console, view: Callable[[Request, User], Awaitable[Response]]) -> Handler:
    """A page: needs a session; the roster and campaigns are taken again first (the worker or another
    console may have changed them)."""

    async def handler(request: Request) -> Response:
        user = console.user(request)
        if user is None:
            raise NotLoggedIn
        console.application.refresh_roster()
        return await view(request, user)

    return handler


def action(console: Console, change: Callable[[Request, User, FormData], Awaitable[Response]]) -> Handler:
    """A decision: a POST from the console's own page (Origin/Sec-Fetch-Site and the session's CSRF token),
    by a staff account (a viewer decides nothing)."""

    async def handler(request: Request) -> Response:
        user = console.user(request)
        if user is None:
            raise NotLoggedIn
        form = await request.form()
        sent = request.headers.get("x-csrf-token") or form.get("csrf")
        if not same_origin(request, console.application.config.web.base_url) or not token_matches(
                sent if isinstance(sent, str) else None, user.csrf):
            return PlainTextResponse(console.words("web", "cross_site"), status_code=403)
        if not user.can_decide:
            return PlainTextResponse(console.words("web", "viewer_refused"), status_code=403)
        console.application.refresh_roster()
        return await change(request, user, form)

    return handler


def create_app(application: App, clock: Callable[[], datetime] = system_clock) -> Starlette:
    from bot.web import actions, files, login, pages

    console = Console(application, clock)

    async def not_logged_in(request: Request, exc: Exception) -> Response:
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
        return PlainTextResponse(console.words("web", "login_needed"), status_code=401)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return console.render(request, "error.html", console.user(request), status_code=404,
                                  message=console.words("web", "not_found"))
        return PlainTextResponse(str(exc.detail), status_code=exc.status_code)

    async def no_icon(request: Request) -> Response:
        return Response(status_code=204)

    static = StaticFiles(directory=Path(str(resources.files("bot.web") / "static")))
    routes = [Route("/favicon.ico", no_icon), *login.routes(console), *pages.routes(console),
              *actions.routes(console), *files.routes(console), Mount("/static", static, name="static")]
    app = Starlette(routes=routes, exception_handlers={NotLoggedIn: not_logged_in, HTTPException: http_error})
    app.add_middleware(SecurityHeaders)  # type: ignore[arg-type]
    app.state.console = console
    return app

