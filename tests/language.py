"""What a line of user-facing text may look like: one language per line, no Python reprs.

A line with Chinese characters may still carry what is not prose: ids, numbers, paths, options
(`--json`), codes and field names in backticks or quotes, acronyms (GPU, CSV), product names
(suanli, Ray, Slurm) and units. Any other English word of three letters or more mixes the two
languages, as in `已导入 124 条新opportunities` or `警告: row 1, encoding: …`.
"""

from __future__ import annotations

import re

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
QUOTED = re.compile(
    r"\[/?[a-z]+(?: [a-z]+)*\]|`[^`]*`|'[^']*'|\"[^\"]*\"|“[^”]*”|‘[^’]*’|「[^」]*」|《[^》]*》|https?://\S+"
)
# Not Latin, not space: the CJK ideographs, CJK punctuation and full-width forms split chunks.
CHUNK = re.compile(r"[^\s\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]+")
EDGE_PUNCTUATION = "()[]{}<>,;:!?'\"…*|"
INSIDE_A_TOKEN = re.compile(r"[\d_./:@=+\-\\#%$~]")
PROPER_NAMES = frozenset(
    [
        "suanli",
        "Ray",
        "Slurm",
        "Kubernetes",
        "PostgreSQL",
        "SQLite",
        "Alibaba",
        "Gavel",
        "Fernet",
        "Base64",
        "Unicode",
        "Excel",
        "Python",
        "Chromium",
        "NVIDIA",
        "Huawei",
        "Ascend",
        "Cambricon",
        "Hygon",
        "Kunlunxin",
        "Moore",
        "Threads",
        "Biren",
        "MetaX",
        "Iluvatar",
        "Enflame",
        "Tianshu",
        "Zhixin",
        "Bearer",
        "Prometheus",
        "OpenAPI",
        "Typer",
        "FastAPI",
        "WPS",
        "Accept",
        "Language",
        "Authorization",
        "Idempotency",
        "Key",
        "Content",
        "Type",
        "Retry",
        "After",
        "Authenticator",
        "Cookie",
        "sbatch",
        "squeue",
        "sinfo",
        "scancel",
        "sacct",
        "ray",
        "gres",
        "gpu",
        "pip",
        "ssh",
        "curl",
        "root",
        "munge",
        "npm",
        "fen",
        "MiB",
        "GiB",
        "KiB",
        "TiB",
    ]
)
PYTHON_REPR = re.compile(
    r"\{'[^']*': |\['[^']*'(, |\])|\b(None|True|False)\b|<[A-Za-z_.]+ object at "
)


# Table cells and columns are read apart: a Chinese region beside a `local` backend column is
# two values, not one mixed phrase.
CELL_BREAK = re.compile(r"\s{2,}|[│┃|]")


def english_words_beside_chinese(line: str) -> list[str]:
    """The English prose words in a phrase that also holds Chinese; [] when the line is fine."""
    return [word for cell in CELL_BREAK.split(line) for word in _mixed_words(cell)]


def _mixed_words(phrase: str) -> list[str]:
    prose = QUOTED.sub(" ", phrase)  # quoted Chinese in an English line is data, not prose
    if not CJK.search(prose):
        return []
    words = []
    for chunk in CHUNK.findall(prose):
        word = chunk.strip(EDGE_PUNCTUATION)
        if INSIDE_A_TOKEN.search(word) or len(word) < 3 or not word.isascii():
            continue
        if word.isupper() or word in PROPER_NAMES or not word.isalpha():
            continue
        words.append(word)
    return words


def mixed_lines(text: str) -> list[str]:
    """Lines that mix Chinese prose with English words, each with the words at fault."""
    found = []
    for line in text.splitlines():
        words = english_words_beside_chinese(line)
        if words:
            found.append(f"{line!r}: {', '.join(words)}")
    return found


def python_reprs(text: str) -> list[str]:
    """Lines that show a Python repr (a dict, a list of strings, None) instead of text."""
    return [line for line in text.splitlines() if PYTHON_REPR.search(line)]


def has_chinese(text: str) -> bool:
    return bool(CJK.search(text))


def has_chinese_outside_quotes(text: str) -> bool:
    """Chinese prose, not a quoted Chinese value (a name, an industry) in English text."""
    return has_chinese(QUOTED.sub(" ", text))
