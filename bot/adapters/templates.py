"""The template loader: Jinja2 templates and the message catalogue from the package's templates/ folder,
staff overrides (`templates.dir`) first. The pure renderers take it as `bot.core.render.texts.Texts`."""

from __future__ import annotations

import tomllib
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape

from bot.core.model import Problem
from bot.core.render.formats import filesize
from bot.core.render.texts import problem_params
from bot.core.settings import CampaignConfig


class Templates:
    """The Jinja2 environment and the message catalogue, staff overrides first."""

    def __init__(self, overrides: Path | None = None) -> None:
        builtin = Path(str(resources.files("templates")))
        loaders = [FileSystemLoader(str(overrides))] if overrides else []
        loaders.append(FileSystemLoader(str(builtin)))
        self.env = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )
        # The staff's messages.toml overrides text by text: a copy made before a text was added still works.
        self.catalogue: dict[str, dict[str, str]] = tomllib.loads((builtin / "messages.toml").read_text("utf-8"))
        staff_file = overrides / "messages.toml" if overrides else None
        if staff_file is not None and staff_file.exists():
            for section, texts in tomllib.loads(staff_file.read_text(encoding="utf-8")).items():
                self.catalogue.setdefault(section, {}).update(texts)
        self.env.filters["filesize"] = filesize
        self.env.filters["label"] = self.label
        # Catalogue texts: a parameter a problem does not carry renders empty instead of failing.
        self.text_env = Environment(autoescape=False, keep_trailing_newline=False)
        self.text_env.filters["filesize"] = filesize
        self.text_env.filters["label"] = self.label
        self._compiled: dict[tuple[str, str], Template] = {}  # catalogue texts, compiled once
        self._fixed: dict[tuple[str, str], str] = {}  # texts without parameters, rendered once

    def label(self, category: str) -> str:
        return self.catalogue["categories"].get(category, category)

    def text(self, section: str, code: str, **params: Any) -> str:
        key = (section, code)
        if not params and key in self._fixed:
            return self._fixed[key]
        compiled = self._compiled.get(key)
        if compiled is None:
            source = self.catalogue.get(section, {}).get(code)
            if source is None:
                return code
            compiled = self._compiled[key] = self.text_env.from_string(source)
        text = compiled.render(**params).strip()
        if not params:
            self._fixed[key] = text
        return text

    def problem_text(self, problem: Problem, campaign: CampaignConfig, received_at: datetime) -> str:
        return self.text("problems", problem.code, **problem_params(problem, campaign, received_at))

    def render(self, name: str, **context: Any) -> str:
        return self.env.get_template(name).render(**context)
