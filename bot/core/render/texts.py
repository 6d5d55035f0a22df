"""What the renderers need of the templates: catalogue texts and Jinja2 templates by name. The loader that
reads them from disk is bot/adapters/templates.py; the pure renderers only see this protocol."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from bot.core.model import Problem
from bot.core.render.formats import local_moment
from bot.core.settings import CampaignConfig


class Texts(Protocol):
    catalogue: dict[str, dict[str, str]]

    def label(self, category: str) -> str: ...

    def text(self, section: str, code: str, **params: Any) -> str: ...

    def render(self, name: str, **context: Any) -> str: ...

    def problem_text(self, problem: Problem, campaign: CampaignConfig, received_at: datetime) -> str: ...


def problem_params(problem: Problem, campaign: CampaignConfig, received_at: datetime) -> dict[str, Any]:
    """What a problem's catalogue text may use: its own parameters, the file, the deadline and the receive time."""
    params: dict[str, Any] = dict(problem.params)
    params.update(
        file=problem.file or "",
        deadline=local_moment(campaign.deadline, campaign),
        received=local_moment(received_at, campaign),
    )
    return params
