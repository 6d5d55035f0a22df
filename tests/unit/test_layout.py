"""The rooms of bot/ and the direction of imports between them (ARCHITECTURE.md):

    cli  →  web;   cli, worker, web  →  bootstrap (the wiring)  →  office  →  core, adapters, storage;
    adapters → core;   core → nothing

Read from the source with `ast`, every import counted wherever it stands (inside a function too).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROOMS = ("core", "adapters", "office", "worker", "web", "cli")
# What a room must not import: other rooms of the project, and libraries that do I/O.
FORBIDDEN = {
    "bot.core": ("bot.adapters", "bot.office", "bot.worker", "bot.web", "bot.cli", "bot.bootstrap", "storage",
                 "imapclient", "smtplib", "imaplib", "sqlalchemy", "sqlmodel", "subprocess", "jinja2", "socket"),
    "bot.adapters": ("bot.office", "bot.worker", "bot.web", "bot.cli", "bot.bootstrap", "storage.db",
                     "storage.tables"),
    "bot.office": ("bot.worker", "bot.web", "bot.cli", "bot.bootstrap", "starlette", "uvicorn"),
    "bot.worker": ("bot.web", "bot.cli"),
    "bot.web": ("bot.worker", "bot.cli", "bot.adapters.mailbox", "imapclient", "smtplib"),
    "storage": ("bot.office", "bot.worker", "bot.web", "bot.cli", "bot.bootstrap", "bot.adapters"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package.replace(".", "/")).rglob("*.py"))


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_every_room_exists_and_says_what_it_holds() -> None:
    for room in ROOMS:
        init = ROOT / "bot" / room / "__init__.py"
        assert init.is_file(), room
        assert len(ast.get_docstring(ast.parse(init.read_text("utf-8"))) or "") > 80, f"bot/{room}/__init__.py"
        assert len(modules(f"bot.{room}")) > 1, room
    assert sorted(p.name for p in (ROOT / "bot").glob("*.py")) == ["__init__.py", "bootstrap.py"]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_one_way(package: str) -> None:
    wrong = sorted(
        f"{module_name(path)} imports {name}"
        for path in modules(package)
        for name in imports(path)
        if any(under(name, forbidden) for forbidden in FORBIDDEN[package])
    )
    assert wrong == []


def test_the_cli_groups_share_only_bot_cli_app() -> None:
    """No import cycle between the command modules: each group imports the shared app, main imports them all."""
    for path in modules("bot.cli"):
        name = module_name(path)
        others = {i for i in imports(path) if under(i, "bot.cli")} - {"bot.cli.app"}
        others = {i for i in others if not i.startswith("bot.cli.app.")}
        if name == "bot.cli.main":
            continue
        allowed = {"bot.cli.reports", "bot.cli.reports.print_review", "bot.cli.reports.print_status"} \
            if name == "bot.cli.demo" else set()
        assert others <= allowed, f"{name} imports {sorted(others - allowed)}"
