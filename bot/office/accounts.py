"""Staff accounts of the web console: who may sign in, with which role. Passwords are kept only as argon2id
hashes (argon2-cffi); every change is recorded in the audit trail (`ActionRow`, commands users-add,
users-disable, users-enable, users-passwd) with the actor the caller names. Errors are `AccountError`s whose
code names the catalogue's text under [users].

Names are compared after Unicode NFC normalisation, so that the same name typed by two input methods is one.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.office.decisions import record
from storage import tables as t
from storage.db import session

if TYPE_CHECKING:
    from argon2 import PasswordHasher

ROLES = (t.ROLE_STAFF, t.ROLE_VIEWER)
NAME_MAX = 64
PASSWORD_MIN = 8


class AccountError(ValueError):
    """An account change cannot be made; `code` names the catalogue text ([users]), `params` fill it."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code, params)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class Account:
    """An account as the console and the commands see it: never its hash."""

    name: str
    role: str
    disabled: bool
    created_at: datetime
    changed_at: datetime | None


@cache
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher  # imported on first use: the other commands start without it

    return PasswordHasher()  # argon2id with the library's recommended parameters


@cache
def _dummy_hash() -> str:
    """A hash with the current parameters that no password is checked against for real: verifying against it
    for an unknown name costs what verifying a real account costs."""
    return _hasher().hash("an account that does not exist")


def _verify(password_hash: str, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def normal_name(name: str) -> str:
    return unicodedata.normalize("NFC", name)


def check_name(name: str) -> str:
    """The name as kept (NFC), or AccountError bad_name: 1–64 characters, no whitespace or control characters
    (nor the invisible format characters such as a zero-width space)."""
    name = normal_name(name)
    if not 1 <= len(name) <= NAME_MAX or any(c.isspace() or unicodedata.category(c).startswith("C") for c in name):
        raise AccountError("bad_name", name=name if name.isprintable() else repr(name), max=NAME_MAX)
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError("bad_role", role=role, known=", ".join(ROLES))
    return role


def check_password(password: str) -> None:
    if len(password) < PASSWORD_MIN:
        raise AccountError("short_password", min=PASSWORD_MIN)


def check_new(engine: Engine, name: str, role: str) -> str:
    """What add_account would refuse before it needs the password (bad name or role, a name taken): the name
    as it would be kept. The commands ask it before prompting for a password."""
    name = check_name(name)
    check_role(role)
    with session(engine) as s:
        if _row(s, name) is not None:
            raise AccountError("duplicate", name=name)
    return name


def _row(s: Session, name: str) -> t.AccountRow | None:
    return s.exec(select(t.AccountRow).where(t.AccountRow.name == normal_name(name))).first()


def _existing(s: Session, name: str) -> t.AccountRow:
    row = _row(s, name)
    if row is None:
        raise AccountError("unknown_account", name=name)
    return row


def _account(row: t.AccountRow) -> Account:
    return Account(row.name, row.role, row.disabled, row.created_at, row.changed_at)


def add_account(engine: Engine, name: str, password: str, role: str, now: datetime, *, actor: str) -> Account:
    """A new account (enabled); AccountError bad_name, bad_role, short_password or duplicate."""
    name = check_new(engine, name, role)
    check_password(password)
    password_hash = _hasher().hash(password)
    with session(engine) as s:
        row = t.AccountRow(name=name, role=role, password_hash=password_hash, created_at=now)
        s.add(row)
        try:
            s.flush()
        except IntegrityError as exc:  # added by another process since check_new
            raise AccountError("duplicate", name=name) from exc
        record(s, now, actor, "users-add", account=name, role=role)
        s.commit()
        return _account(row)


def find_account(engine: Engine, name: str) -> Account | None:
    """The account named `name`, disabled or not, or None (the web console checks its sessions with it)."""
    with session(engine) as s:
        row = _row(s, name)
    return None if row is None else _account(row)


def get_account(engine: Engine, name: str) -> Account:
    """The account named `name`; AccountError unknown_account."""
    account = find_account(engine, name)
    if account is None:
        raise AccountError("unknown_account", name=name)
    return account


def list_accounts(engine: Engine) -> list[Account]:
    """Every account, disabled ones too, in the order they were added."""
    with session(engine) as s:
        return [_account(row) for row in s.exec(select(t.AccountRow).order_by(t.AccountRow.id)).all()]


def _set_disabled(engine: Engine, name: str, disabled: bool, now: datetime, actor: str) -> Account:
    with session(engine) as s:
        row = _existing(s, name)
        before = row.disabled
        row.disabled = disabled
        row.changed_at = now
        s.add(row)
        record(s, now, actor, "users-disable" if disabled else "users-enable", account=row.name, before=before)
        s.commit()
        return _account(row)


def disable_account(engine: Engine, name: str, now: datetime, *, actor: str) -> Account:
    """The account can no longer sign in (it is kept, with its history); AccountError unknown_account."""
    return _set_disabled(engine, name, True, now, actor)


def enable_account(engine: Engine, name: str, now: datetime, *, actor: str) -> Account:
    """A disabled account can sign in again; AccountError unknown_account."""
    return _set_disabled(engine, name, False, now, actor)


def set_password(engine: Engine, name: str, password: str, now: datetime, *, actor: str) -> Account:
    """A new password for the account; AccountError unknown_account or short_password."""
    get_account(engine, name)
    check_password(password)
    password_hash = _hasher().hash(password)
    with session(engine) as s:
        row = _existing(s, name)
        row.password_hash = password_hash
        row.changed_at = now
        s.add(row)
        record(s, now, actor, "users-passwd", account=row.name)
        s.commit()
        return _account(row)


def authenticate(engine: Engine, name: str, password: str) -> Account | None:
    """The account, if `name` is an enabled account and `password` its password; else None. An unknown name
    is verified against a dummy hash and a disabled account's password is verified too, so the time the answer
    takes does not tell which names exist. A hash made with weaker parameters than the current ones is
    replaced on a successful sign-in."""
    dummy = _dummy_hash()
    with session(engine) as s:
        row = _row(s, name)
    if row is None:
        _verify(dummy, password)
        return None
    if not _verify(row.password_hash, password) or row.disabled:
        return None
    if _hasher().check_needs_rehash(row.password_hash):
        with session(engine) as s:
            fresh = s.get(t.AccountRow, row.id)
            if fresh is not None and fresh.password_hash == row.password_hash:  # not changed meanwhile
                fresh.password_hash = _hasher().hash(password)
                s.add(fresh)
                s.commit()
    return _account(row)
