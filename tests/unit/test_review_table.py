"""What senders wrote is printed as text in the staff's tables: rich markup in it is not interpreted."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bot.adapters.templates import Templates
from bot.cli.reports import print_review
from bot.core.review import QUESTION, ReviewEntry


def test_a_question_with_markup_is_printed_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    entry = ReviewEntry(ref="M3", kind=QUESTION, message=3, unit="东城区文明办", sender="[red]a@x.cn",
                        subject="咨询", received_at=None, file="[b]f.docx",
                        detail="请问[bold]盖章[/bold]吗？[link=http://evil.example]点此[/link]")
    print_review([entry], SimpleNamespace(templates=Templates(), campaigns=()))  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert "[bold]盖章[/bold]" in out and "[link=http://evil.example]点此[/link]" in out
    assert "[red]a@x.cn" in out and "[b]f.docx" in out
