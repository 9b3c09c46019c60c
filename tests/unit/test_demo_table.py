"""The demo's live table speaks the reader's language, job states included."""

from __future__ import annotations

import pytest
from rich.console import Console

from suanli.cli.demo import _table
from suanli.services.demo import DemoJobLine


def rendered(language: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SUANLI_LANGUAGE", language)
    rows = [
        DemoJobLine("llm-sft", "succeeded", "h100-a (H100-SXM)", 8, 747, 6),
        DemoJobLine("ocr", "queued", "", 2, 30, None),
    ]
    console = Console(width=120, record=True, color_system=None)
    console.print(_table(rows))
    return console.export_text()


def test_the_demo_table_shows_job_states_in_chinese_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = rendered("zh-CN", monkeypatch)
    assert "成功" in text and "排队" in text
    assert "succeeded" not in text and "queued" not in text


def test_the_demo_table_shows_job_states_in_english_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = rendered("en", monkeypatch)
    assert "succeeded" in text and "queued" in text and "成功" not in text
