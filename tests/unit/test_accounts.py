"""Staff accounts of the web console: argon2id hashes, the rules for names, roles and passwords, disabling,
new passwords, sign-in (no answer telling whether a name exists), the audit trail, and `intake users`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.office import accounts
from bot.office.accounts import (
    Account,
    AccountError,
    add_account,
    authenticate,
    disable_account,
    enable_account,
    find_account,
    get_account,
    list_accounts,
    set_password,
)
from storage import tables as t
from storage.db import make_engine, session
from tests.unit.test_roster_store import CONFIG, HEADER

NOW = datetime(2020, 12, 10, 2, tzinfo=UTC)
LATER = NOW + timedelta(hours=3)


QUICK = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def quick_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2id parameters: these tests hash dozens of passwords, and the library's own take 64 MiB and a
    fifth of a second each (test_the_password_is_kept_as_an_argon2id_hash uses them)."""
    monkeypatch.setattr(accounts, "_hasher", lambda: QUICK)
    monkeypatch.setattr(accounts, "_dummy_hash", cache(lambda: QUICK.hash("no such account")))


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    quick_hashes(monkeypatch)
    return make_engine(f"sqlite:///{tmp_path / 'intake.db'}")


def stored(engine: Engine, name: str) -> t.AccountRow:
    with session(engine) as s:
        row = s.exec(select(t.AccountRow).where(t.AccountRow.name == name)).one()
    return row


def actions(engine: Engine) -> list[tuple[str, str, dict[str, object]]]:
    with session(engine) as s:
        rows = s.exec(select(t.ActionRow).order_by(t.ActionRow.id)).all()
    return [(a.actor, a.command, json.loads(a.detail)) for a in rows]


def test_accounts_are_added_and_listed_without_their_hash(engine: Engine) -> None:
    assert list_accounts(engine) == []
    added = add_account(engine, "wang", "correct horse", "staff", NOW, actor="王老师")
    assert added == Account("wang", "staff", False, NOW, None)
    add_account(engine, "李老师", "battery staple", "viewer", LATER, actor="王老师")
    assert list_accounts(engine) == [Account("wang", "staff", False, NOW, None),
                                     Account("李老师", "viewer", False, LATER, None)]
    assert not hasattr(added, "password_hash")
    assert get_account(engine, "李老师").role == "viewer"
    assert find_account(engine, "李老师") == get_account(engine, "李老师") and find_account(engine, "li") is None
    assert authenticate(engine, "wang", "correct horse") == added
    assert authenticate(engine, "李老师", "battery staple") is not None


def test_the_password_is_kept_as_an_argon2id_hash(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'intake.db'}")  # the library's recommended parameters
    add_account(engine, "wang", "correct horse", "staff", NOW, actor="王老师")
    row = stored(engine, "wang")
    assert row.password_hash.startswith("$argon2id$")
    assert "correct horse" not in row.password_hash
    assert PasswordHasher().verify(row.password_hash, "correct horse")
    assert PasswordHasher().check_needs_rehash(row.password_hash) is False
    assert authenticate(engine, "wang", "correct horse") is not None
    assert authenticate(engine, "li", "correct horse") is None


def test_a_name_is_taken_once(engine: Engine) -> None:
    add_account(engine, "wang", "correct horse", "staff", NOW, actor="王老师")
    with pytest.raises(AccountError) as refused:
        add_account(engine, "wang", "another password", "viewer", NOW, actor="王老师")
    assert (refused.value.code, refused.value.params) == ("duplicate", {"name": "wang"})
    add_account(engine, "Jos\u00e9", "correct horse", "staff", NOW, actor="王老师")
    with pytest.raises(AccountError, match="duplicate"):  # the same name typed decomposed (NFD)
        add_account(engine, "Jose\u0301", "correct horse", "staff", NOW, actor="王老师")
    assert authenticate(engine, "Jose\u0301", "correct horse") is not None
    assert [a.name for a in list_accounts(engine)] == ["wang", "Jos\u00e9"]


@pytest.mark.parametrize("name", ["", "a b", "王 老师", "a\tb", "a\nb", "a\x00b", "a\x7fb", "a\u200bb", "a\u3000b",
                                  "x" * 65])
def test_a_bad_name_is_refused(engine: Engine, name: str) -> None:
    with pytest.raises(AccountError) as refused:
        add_account(engine, name, "correct horse", "staff", NOW, actor="王老师")
    assert refused.value.code == "bad_name" and refused.value.params["max"] == 64
    assert list_accounts(engine) == [] and actions(engine) == []


def test_a_name_of_64_characters_is_taken(engine: Engine) -> None:
    assert add_account(engine, "王" * 64, "correct horse", "staff", NOW, actor="王老师").name == "王" * 64


@pytest.mark.parametrize("role", ["admin", "Staff", ""])
def test_a_bad_role_is_refused(engine: Engine, role: str) -> None:
    with pytest.raises(AccountError) as refused:
        add_account(engine, "wang", "correct horse", role, NOW, actor="王老师")
    assert (refused.value.code, refused.value.params) == ("bad_role", {"role": role, "known": "staff, viewer"})
    assert list_accounts(engine) == []


def test_a_short_password_is_refused(engine: Engine) -> None:
    with pytest.raises(AccountError) as refused:
        add_account(engine, "wang", "1234567", "staff", NOW, actor="王老师")
    assert (refused.value.code, refused.value.params) == ("short_password", {"min": 8})
    assert list_accounts(engine) == []
    add_account(engine, "wang", "12345678", "staff", NOW, actor="王老师")
    with pytest.raises(AccountError, match="short_password"):
        set_password(engine, "wang", "short", LATER, actor="王老师")
    assert authenticate(engine, "wang", "12345678") is not None


def test_a_disabled_account_cannot_sign_in_until_enabled(engine: Engine) -> None:
    add_account(engine, "wang", "correct horse", "staff", NOW, actor="王老师")
    assert disable_account(engine, "wang", LATER, actor="李老师") == Account("wang", "staff", True, NOW, LATER)
    assert authenticate(engine, "wang", "correct horse") is None
    assert list_accounts(engine)[0].disabled is True
    enable_account(engine, "wang", LATER, actor="李老师")
    assert authenticate(engine, "wang", "correct horse") == Account("wang", "staff", False, NOW, LATER)


def test_a_new_password_replaces_the_old(engine: Engine) -> None:
    add_account(engine, "wang", "correct horse", "staff", NOW, actor="王老师")
    before = stored(engine, "wang").password_hash
    assert set_password(engine, "wang", "battery staple", LATER, actor="王老师").changed_at == LATER
    assert stored(engine, "wang").password_hash != before
    assert authenticate(engine, "wang", "correct horse") is None
    assert authenticate(engine, "wang", "battery staple") is not None


def test_a_wrong_password_or_an_unknown_name_gives_none(engine: Engine) -> None:
    add_account(engine, "wang", "correct horse", "staff", NOW, actor="王老师")
    assert authenticate(engine, "wang", "Correct horse") is None
    assert authenticate(engine, "wang", "") is None
    assert authenticate(engine, "li", "correct horse") is None
    for change in (lambda: disable_account(engine, "li", NOW, actor="王老师"),
                   lambda: enable_account(engine, "li", NOW, actor="王老师"),
                   lambda: set_password(engine, "li", "battery staple", NOW, actor="王老师"),
                   lambda: get_account(engine, "li")):
        with pytest.raises(AccountError) as refused:
            change()
        assert (refused.value.code, refused.value.params) == ("unknown_account", {"name": "li"})


def test_an_unknown_name_costs_a_verification_like_a_known_one(engine: Engine,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    add_account(engine, "wang", "correct horse", "staff", NOW, actor="王老师")
    disable_account(engine, "wang", NOW, actor="王老师")
    verified: list[str] = []
    real = accounts._verify

    def spy(password_hash: str, password: str) -> bool:
        verified.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(accounts, "_verify", spy)
    assert authenticate(engine, "nobody", "correct horse") is None
    assert verified == [accounts._dummy_hash()]
    assert accounts._hasher().check_needs_rehash(verified[0]) is False  # the current parameters: the same cost
    assert authenticate(engine, "wang", "correct horse") is None  # disabled: verified all the same
    assert verified[1:] == [stored(engine, "wang").password_hash]


def test_a_hash_with_old_parameters_is_replaced_at_sign_in(engine: Engine) -> None:
    add_account(engine, "wang", "correct horse", "staff", NOW, actor="王老师")
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("correct horse")
    with session(engine) as s:
        row = s.exec(select(t.AccountRow)).one()
        row.password_hash = weak
        s.add(row)
        s.commit()
    assert authenticate(engine, "wang", "wrong password") is None
    assert stored(engine, "wang").password_hash == weak  # only a right password is rehashed
    assert authenticate(engine, "wang", "correct horse") is not None
    rehashed = stored(engine, "wang").password_hash
    assert rehashed != weak and rehashed.startswith("$argon2id$")
    assert accounts._hasher().check_needs_rehash(rehashed) is False
    assert authenticate(engine, "wang", "correct horse") is not None


def test_each_change_is_recorded_without_the_password(engine: Engine) -> None:
    add_account(engine, "wang", "correct horse", "staff", NOW, actor="王老师")
    disable_account(engine, "wang", LATER, actor="李老师")
    enable_account(engine, "wang", LATER, actor="李老师")
    set_password(engine, "wang", "battery staple", LATER, actor="王老师")
    authenticate(engine, "wang", "battery staple")  # signing in changes nothing staff decided
    with pytest.raises(AccountError):
        add_account(engine, "wang", "correct horse", "staff", NOW, actor="王老师")
    assert actions(engine) == [
        ("王老师", "users-add", {"account": "wang", "role": "staff"}),
        ("李老师", "users-disable", {"account": "wang", "before": False}),
        ("李老师", "users-enable", {"account": "wang", "before": True}),
        ("王老师", "users-passwd", {"account": "wang"}),
    ]
    with session(engine) as s:
        details = " ".join(a.detail for a in s.exec(select(t.ActionRow)).all())
        assert {a.at for a in s.exec(select(t.ActionRow)).all()} == {NOW, LATER}
    assert "correct horse" not in details and "battery staple" not in details and "argon2" not in details


def test_staff_manage_accounts_with_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from bot.cli.app import state
    from bot.cli.main import app as cli

    monkeypatch.setattr(state, "now", None)  # restored after the test: the CLI's options are process-wide
    monkeypatch.setattr(state, "config_path", state.config_path)
    monkeypatch.chdir(tmp_path)
    quick_hashes(monkeypatch)
    monkeypatch.setenv("INTAKE_STAFF", "王老师")
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "units.csv").write_text(HEADER + "东城区文明办,dc@example.cn\n", encoding="utf-8")
    runner = CliRunner()

    def intake(*args: str, input: str | None = None) -> tuple[int, str]:
        done = runner.invoke(cli, ["--config", "config.toml", "--now", "2020-12-20T10:00:00+08:00", *args],
                             input=input)
        return done.exit_code, done.output

    assert intake("users", "list") == (0, "还没有账户。请用 intake users add 名称 添加。\n")
    code, out = intake("users", "add", "wang", "--password-stdin", input="correct horse\n")
    assert (code, out) == (0, "已添加账户“wang”，角色：工作人员（可处理）。\n")
    code, out = intake("users", "add", "李老师", "--role", "viewer", input="battery staple\nbattery staple\n")
    assert code == 0 and "已添加账户“李老师”，角色：查看者（只读）。" in out
    assert "battery staple" not in out  # the prompt is hidden
    code, out = intake("users", "add", "wang", "--password-stdin", input="whatever1\n")
    assert (code, out) == (2, "账户“wang”已存在。\n")
    code, out = intake("users", "add", "zhao", "--password-stdin", input="short\n")
    assert (code, out) == (2, "密码太短：至少需要 8 个字符。\n")
    code, out = intake("users", "add", "zhao", "--role", "admin", "--password-stdin", input="correct horse\n")
    assert code == 2 and "没有“admin”这一角色" in out
    code, out = intake("users", "add", "a b", "--password-stdin", input="correct horse\n")
    assert code == 2 and "账户名“a b”不可用" in out
    assert intake("users", "disable", "wang", "--by", "李老师") == (0, "账户“wang”已停用，不能再登录网页控制台。\n")
    code, out = intake("users", "passwd", "李老师", "--password-stdin", input="new password\r\n")
    assert (code, out) == (0, "账户“李老师”的密码已更改。\n")
    assert intake("users", "passwd", "nobody", "--password-stdin", input="new password\n") == (
        2, "没有名为“nobody”的账户。请用 intake users list 查看。\n")
    assert intake("users", "disable", "nobody")[0] == 2
    code, out = intake("users", "list", "--json")
    assert code == 0
    assert json.loads(out) == [
        {"name": "wang", "role": "staff", "disabled": True, "created_at": "2020-12-20T10:00:00+08:00",
         "changed_at": "2020-12-20T10:00:00+08:00"},
        {"name": "李老师", "role": "viewer", "disabled": False, "created_at": "2020-12-20T10:00:00+08:00",
         "changed_at": "2020-12-20T10:00:00+08:00"}]
    code, out = intake("users", "list")
    assert code == 0 and "网页控制台账户（共 2 个）" in out and "已停用" in out and "查看者（只读）" in out
    assert "argon2" not in out

    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'intake.db'}")
    assert authenticate(engine, "wang", "correct horse") is None  # disabled
    assert authenticate(engine, "李老师", "battery staple") is None
    assert authenticate(engine, "李老师", "new password") is not None  # the line end is not the password's
    assert [(actor, command) for actor, command, _ in actions(engine)] == [
        ("王老师", "users-add"), ("王老师", "users-add"), ("李老师", "users-disable"), ("王老师", "users-passwd")]
    assert intake("users", "enable", "wang") == (0, "账户“wang”已恢复启用。\n")
    assert authenticate(engine, "wang", "correct horse") is not None
