"""Chinese word segmentation for lexical matching: rjieba, lower-cased, stopwords removed.

bm25s does not segment Chinese itself, so every index and query goes through `tokenize`.
"""

from __future__ import annotations

import re

import rjieba

TEXT_CHARS_MAX = 20_000  # longer texts are cut: a list item is a paragraph, not a book
# Function words and list boilerplate ("希望", "需要", "我司") appear in almost every need
# and would otherwise give every pair a few shared "key terms".
_STOPWORD_TEXT = """
    的 了 和 与 及 或 等 在 是 为 对 并 将 可 能 中 上 下 其 由 以 于 把 被 也 都 而 且 就 但 还 又
    这 那 个 我 你 他 她 它 们 要 有 到 后 时 从 向 让 使 用 之 所 如 若 则 该 各 每 很 更 最 已
    希望 需要 目前 我们 我司 公司 本行 我院 进行 实现 支持 提供 通过 基于 一个 没有 可以 能够 以及
    或者 并且 如何 什么 不同 相关 主要 其中 具有 利用 采用 根据 同时 已经 往往 常常 导致 问题 情况
    the a an of and or for to in on with by is are be as at from
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_HAS_WORD_CHAR = re.compile(r"\w")


def tokenize(text: str) -> list[str]:
    """Search-mode segmentation (long words also yield their parts), minus stopwords and
    punctuation. Deterministic: the same text always gives the same list."""
    tokens: list[str] = []
    for raw in rjieba.cut_for_search(text[:TEXT_CHARS_MAX].lower()):
        token = raw.strip()
        if token and token not in STOPWORDS and _HAS_WORD_CHAR.search(token):
            tokens.append(token)
    return tokens
