"""Bilingual messages: zh-CN by default, English on request.

The language is, first found: an explicit argument; the caller's language for this request
(the API sets it from `Accept-Language`, see `using_language`); `SUANLI_LANGUAGE` (the CLI);
else zh-CN. A `Msg` carries both texts and renders when read, so an error raised deep in a
service speaks the language of the request that reads it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
_request_language: ContextVar[str | None] = ContextVar("suanli_language", default=None)


def normalise_language(value: str | None) -> str | None:
    """'en', 'en-US', 'EN_gb' → 'en'; 'zh', 'zh-CN', 'zh-Hans' → 'zh-CN'; anything else → None."""
    if not value:
        return None
    primary = value.strip().lower().replace("_", "-").split("-", 1)[0]
    return {"en": "en", "zh": "zh-CN"}.get(primary)


def current_language(language: str | None = None) -> str:
    chosen = (
        normalise_language(language)
        or _request_language.get()
        or normalise_language(os.environ.get("SUANLI_LANGUAGE"))
    )
    return chosen or DEFAULT_LANGUAGE


def t(zh: str, en: str, language: str | None = None) -> str:
    """Picks the message for the current language."""
    return en if current_language(language) == "en" else zh


@dataclass(frozen=True)
class Msg:
    """A message in both languages; `str()` renders it in the current language."""

    zh: str
    en: str

    def render(self, language: str | None = None) -> str:
        return t(self.zh, self.en, language)

    def __str__(self) -> str:
        return self.render()


def msg(zh: str, en: str) -> Msg:
    return Msg(zh, en)


def render(text: str | Msg, language: str | None = None) -> str:
    return text.render(language) if isinstance(text, Msg) else text


@contextmanager
def using_language(language: str | None) -> Iterator[str]:
    """Within the block, messages render in `language` (None: the usual default chain)."""
    token = _request_language.set(normalise_language(language))
    try:
        yield current_language()
    finally:
        _request_language.reset(token)


ACCEPT_LANGUAGE_PARTS_MAX = 20  # a longer header is read this far (bounded work per request)


def parse_accept_language(header: str | None) -> str | None:
    """The best supported language of an Accept-Language header (RFC 9110 q-values: `q` in
    any case, after other parameters too; above 1 counts as 1); None when it names none
    (`*`, `fr`, `en;q=0`, a q-value that is no number): the caller's default applies. Only
    the first `ACCEPT_LANGUAGE_PARTS_MAX` entries are read."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:ACCEPT_LANGUAGE_PARTS_MAX]):
        tag, *params = part.split(";")
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
        language = normalise_language(tag)
        if language is not None and quality > 0:  # NaN too is no preference
            ranked.append((-min(quality, 1.0), position, language))
    return min(ranked)[2] if ranked else None


# Texts kept in the database (a job's failure reason, a voucher note) are stored in both
# languages, so each reader sees their own; plain text from before is shown as it is.
_STORED_START = '{"zh": '


def stored(text: str | Msg, chars_max: int | None = None) -> str:
    """The column value of a text: a bilingual `Msg` as JSON, each side cut to `chars_max`."""
    if not isinstance(text, Msg):
        return text[:chars_max] if chars_max else text
    zh, en = (text.zh[:chars_max], text.en[:chars_max]) if chars_max else (text.zh, text.en)
    return json.dumps({"zh": zh, "en": en}, ensure_ascii=False)


def from_stored(value: str) -> str | Msg:
    if value.startswith(_STORED_START):
        try:
            data = json.loads(value)
            return Msg(str(data["zh"]), str(data["en"]))
        except (ValueError, KeyError, TypeError):
            return value
    return value


def render_stored(value: str | None, language: str | None = None) -> str:
    """A stored text in the reader's language."""
    return render(from_stored(value or ""), language)
