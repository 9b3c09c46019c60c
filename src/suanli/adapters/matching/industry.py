"""The shipped GB/T 4754-2017 tables (src/suanli/data/industry/), read once per process, and
an industry label in the reader's language."""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from importlib.resources import files

from suanli.domain.industry import IndustryTaxonomy
from suanli.domain.scenes import INDUSTRIES, resolve_industry
from suanli.i18n import current_language


def _rows(name: str) -> list[dict[str, str]]:
    text = (files("suanli") / "data" / "industry" / name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@lru_cache(maxsize=1)
def load_taxonomy() -> IndustryTaxonomy:
    """Sections and divisions (gb4754_2017.csv) plus platform labels (aliases.csv), reading
    a label as the platform stores it (so a filter means what storing its words meant)."""
    classes = [(row["code"], row["name"], row["name_en"]) for row in _rows("gb4754_2017.csv")]
    aliases = {row["label"]: row["code"] for row in _rows("aliases.csv")}
    return IndustryTaxonomy(classes, aliases, stored_as=_stored_as)


def _stored_as(label: str) -> str:
    return resolve_industry(label)[0]


def industry_label(label: str, language: str | None = None) -> str:
    """An item's industry as a reader of `language` (default: the request's) sees it: a
    taxonomy label is vocabulary, shown in the reader's language (智能制造 → "smart
    manufacturing", 汽车制造业 → "automobile manufacturing"); a label nothing knows is the
    tenant's own words, shown as written. The stored label never changes."""
    english = current_language(language) == "en"
    platform = next((item for item in INDUSTRIES if item.name == label), None)
    if platform is not None:
        return platform.name_en if english else platform.name
    return load_taxonomy().label_for(label, english=english)
