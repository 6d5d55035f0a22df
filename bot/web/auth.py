"""Who is asking: the signed session cookie, the login limiter, the checks against cross-site requests, and
the secret that signs the cookie (made once per data folder)."""

from __future__ import annotations

import hmac
import os
import secrets
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request

COOKIE = "intake_session"
STAFF, VIEWER = "staff", "viewer"


@dataclass(frozen=True)
class User:
    name: str
    role: str
    csrf: str  # this session's token, sent back with every form and htmx request

    @property
    def can_decide(self) -> bool:
        return self.role == STAFF


def signing_secret(folder: Path) -> str:
    """The cookie-signing secret of this data folder: made on first use, readable by its owner only. Every
    console process on the folder shares it, and a new one logs everybody out."""
    path = folder / "web-secret"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(32))
    return path.read_text(encoding="ascii").strip()


class Sessions:
    """The session cookie: the account's name and a CSRF token, signed and dated; it expires after `hours`."""

    def __init__(self, secret: str, hours: int, secure: bool) -> None:
        self.serializer = URLSafeTimedSerializer(secret, salt="intake-console-session")
        self.max_age = hours * 3600
        self.secure = secure

    def issue(self, name: str) -> tuple[str, str]:
        """The cookie value for a fresh login, and its CSRF token."""
        csrf = secrets.token_urlsafe(24)
        return self.serializer.dumps({"u": name, "c": csrf}), csrf

    def read(self, value: str | None) -> tuple[str, str] | None:
        """(account name, CSRF token) from a valid, unexpired cookie; None otherwise."""
        if not value:
            return None
        try:
            data: Any = self.serializer.loads(value, max_age=self.max_age)
        except BadSignature:  # SignatureExpired is one
            return None
        if not isinstance(data, dict) or not isinstance(data.get("u"), str) or not isinstance(data.get("c"), str):
            return None
        return data["u"], data["c"]

    def cookie_args(self) -> dict[str, Any]:
        return {"key": COOKIE, "max_age": self.max_age, "httponly": True, "samesite": "lax", "secure": self.secure,
                "path": "/"}


class LoginLimiter:
    """Failed logins per account and per address within a window: past the limit, a login is refused without
    looking at the password until the oldest failure leaves the window."""

    def __init__(self, clock: Callable[[], datetime], per_account: int = 5, per_address: int = 20,
                 window: timedelta = timedelta(minutes=15)) -> None:
        self.clock = clock
        self.limits = {"account": per_account, "address": per_address}
        self.window = window
        self.failures: dict[tuple[str, str], deque[datetime]] = defaultdict(deque)

    def _recent(self, key: tuple[str, str]) -> deque[datetime]:
        moments = self.failures[key]
        edge = self.clock() - self.window
        while moments and moments[0] <= edge:
            moments.popleft()
        return moments

    def blocked(self, account: str, address: str) -> bool:
        return (len(self._recent(("account", account.lower()))) >= self.limits["account"]
                or len(self._recent(("address", address))) >= self.limits["address"])

    def failed(self, account: str, address: str) -> None:
        now = self.clock()
        self.failures[("account", account.lower())].append(now)
        self.failures[("address", address)].append(now)

    def succeeded(self, account: str) -> None:
        self.failures.pop(("account", account.lower()), None)


def same_origin(request: Request, base_url: str | None) -> bool:
    """A state-changing request must come from the console's own pages: a browser says where it comes from in
    Sec-Fetch-Site and Origin; either, when sent, must name this site."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    allowed = {f"{request.url.scheme}://{request.url.netloc}"}
    if base_url:
        scheme, _, rest = base_url.partition("://")
        allowed.add(f"{scheme}://{rest.split('/', 1)[0]}")
    return origin in allowed


def token_matches(sent: str | None, expected: str) -> bool:
    return bool(sent) and hmac.compare_digest(str(sent), expected)


def local_path(target: str | None) -> str:
    """Where to go after logging in: a path of this site only, never another site's address."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
