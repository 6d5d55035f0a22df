"""Logging in and out: the only pages open without a session."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.office.accounts import authenticate
from bot.web.app import Console
from bot.web.auth import COOKIE, local_path, same_origin, token_matches


def routes(console: Console) -> list[Route]:
    async def login_form(request: Request) -> Response:
        return console.render(request, "login.html", None, next=local_path(request.query_params.get("next")),
                              error=None, username="")

    async def login(request: Request) -> Response:
        if not same_origin(request, console.application.config.web.base_url):
            return PlainTextResponse(console.words("web", "cross_site"), status_code=403)
        form = await request.form()
        name, password = str(form.get("username") or "").strip(), str(form.get("password") or "")
        target = local_path(str(form.get("next") or "/"))
        address = request.client.host if request.client else "-"
        if console.limiter.blocked(name, address):
            return console.render(request, "login.html", None, status_code=429, next=target, username=name,
                                  error=console.words("web", "login_limited"))
        account = authenticate(console.engine, name, password) if name and password else None
        if account is None:
            console.limiter.failed(name, address)
            return console.render(request, "login.html", None, status_code=401, next=target, username=name,
                                  error=console.words("web", "login_failed"))
        console.limiter.succeeded(name)
        cookie, _csrf = console.sessions.issue(account.name)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(value=cookie, **console.sessions.cookie_args())
        return response

    async def logout(request: Request) -> Response:
        user = console.user(request)
        form = await request.form()
        sent = form.get("csrf")
        if user is not None and not (same_origin(request, console.application.config.web.base_url)
                                     and token_matches(sent if isinstance(sent, str) else None, user.csrf)):
            return PlainTextResponse(console.words("web", "cross_site"), status_code=403)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    return [Route("/login", login_form, methods=["GET"]), Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"])]
