"""Bilingual messages: zh-CN by default, English with SUANLI_LANGUAGE=en (read at call time)."""

from __future__ import annotations

import os


def current_language(language: str | None = None) -> str:
    chosen = language or os.environ.get("SUANLI_LANGUAGE", "zh-CN")
    return "en" if chosen.lower().startswith("en") else "zh-CN"


def t(zh: str, en: str, language: str | None = None) -> str:
    """Picks the message for the current language."""
    return en if current_language(language) == "en" else zh
