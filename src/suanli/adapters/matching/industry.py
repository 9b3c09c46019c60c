"""The shipped GB/T 4754-2017 tables (src/suanli/data/industry/), read once per process."""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from importlib.resources import files

from suanli.domain.industry import IndustryTaxonomy


def _rows(name: str) -> list[dict[str, str]]:
    text = (files("suanli") / "data" / "industry" / name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@lru_cache(maxsize=1)
def load_taxonomy() -> IndustryTaxonomy:
    """Sections and divisions (gb4754_2017.csv) plus platform labels (aliases.csv)."""
    classes = [(row["code"], row["name"], row["name_en"]) for row in _rows("gb4754_2017.csv")]
    aliases = {row["label"]: row["code"] for row in _rows("aliases.csv")}
    return IndustryTaxonomy(classes, aliases)
