"""An open industry taxonomy: GB/T 4754-2017 (国民经济行业分类) sections (门类, A-T) and
divisions (大类, two digits), with the labels lists really use mapped onto them as aliases.

Labels are kept as written on the items; this only says what a label means. A label that maps
nowhere has no code, and then gives no industry signal at all: two unknown labels are not an
agreement (they used to be, when both were filed under 其他). Pure: the shipped tables are read
by an adapter and passed in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from suanli.errors import InvalidInput
from suanli.i18n import msg

SAME_CODE = 1.0  # same division (or both the same section-level label)
SAME_SECTION = 0.5  # same 门类, different 大类: neighbours, a weaker signal
UNRELATED = 0.0
_SECTION = re.compile(r"^[A-T]$")
_DIVISION = re.compile(r"^\d{2}$")
_PREFIXED_DIVISION = re.compile(r"^([A-T])(\d{2})$")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True)
class IndustryClass:
    code: str  # "C" (section) or "36" (division)
    name: str
    name_en: str
    section: str  # the section letter; a section's own letter for a section


class IndustryTaxonomy:
    """Codes, names and aliases; `code_of` a label, `proximity` of two codes, `canonical`
    industry of any label (what list filters compare).

    `stored_as` is how the platform stores a label (its own names and aliases become the
    platform name, blank becomes 其他); the default keeps labels as written."""

    def __init__(
        self,
        classes: Iterable[tuple[str, str, str]],
        aliases: Mapping[str, str],
        *,
        stored_as: Callable[[str], str] = str.strip,
    ) -> None:
        self._stored_as = stored_as
        self.classes: dict[str, IndustryClass] = {}
        section = ""
        for code, name, name_en in classes:
            if _SECTION.match(code):
                section = code
            elif not _DIVISION.match(code) or not section:
                raise InvalidInput(
                    msg(f"行业代码 {code!r} 无效", f"bad industry code {code!r}"), field="code"
                )
            self.classes[code] = IndustryClass(code, name, name_en, section)
        self._lookup: dict[str, str] = {}
        for item in self.classes.values():
            for label in (item.code, item.name, item.name_en):
                self._lookup.setdefault(label_key(label), item.code)
        for label, code in aliases.items():
            if code not in self.classes:
                raise InvalidInput(
                    msg(
                        f"别名 {label!r} 指向未知代码 {code!r}",
                        f"alias {label!r} names unknown code {code!r}",
                    ),
                    field="code",
                )
            self._lookup[label_key(label)] = code
        self._sole_division = _sole_divisions(self.classes.values())

    def code_of(self, label: str) -> str | None:
        """The code a label means ("汽车制造业" -> "36", "C36" -> "36", "智能制造" -> "C"), or
        None when it maps nowhere."""
        key = label_key(label)
        prefixed = _PREFIXED_DIVISION.match(key.upper())
        if prefixed and prefixed.group(2) in self.classes:
            key = prefixed.group(2)
        return self._lookup.get(key)

    def canonical(self, label: str) -> str:
        """The industry a label means, the one answer every list filter uses: any name the
        table or the platform knows (a code, C36, a Chinese or English name, an alias; case and
        spaces ignored) gives its code, else the label itself, case and spaces ignored, since
        tenants' own words are stored as typed and must still be found as typed.

        The label is first read as the platform stores it, so a filter means what storing the
        same words meant: 银行 is stored as 金融 (J), so filtering on 银行 finds it even though
        the table alone would say 66. A section with a single division (P/83 教育, K/70, T/97)
        is that division: both share one name, which must find both. Free text never equals a
        code: a label whose key is a code's key is that code."""
        stored = self._stored_as(label)
        code = self.code_of(stored)
        if code is None:
            return label_key(stored)
        return self._sole_division.get(code, code)

    def section_of(self, code: str) -> str:
        return self.classes[code].section

    def proximity(self, first: str | None, second: str | None) -> float:
        """1 for the same code, 0.5 for the same section, 0 otherwise or if either is
        unknown (None): agreement only counts when both sides are known."""
        if first is None or second is None:
            return UNRELATED
        if first == second:
            return SAME_CODE
        if self.section_of(first) == self.section_of(second):
            return SAME_SECTION
        return UNRELATED

    def describe(self, code: str, *, english: bool = False) -> str:
        """ "C 制造业" / "C manufacturing", for explanations."""
        return f"{code} {self.name_of(code, english=english)}"

    def name_of(self, code: str, *, english: bool = False) -> str:
        item = self.classes[code]
        return item.name_en if english else item.name

    def label_for(self, label: str, *, english: bool) -> str:
        """A label as a reader of one language sees it: a label the table knows (a name in
        the other language, an alias, a code such as "C36") as its class's name in the
        reader's language; words already in that language, or a label that maps nowhere
        (the tenant's own words), as written."""
        if english and not _CJK.search(label) and not _is_code(label):
            return label  # English words, perhaps more precise than their class
        if not english and _CJK.search(label):
            return label  # Chinese words, perhaps more precise than their class
        code = self.code_of(label)
        return label if code is None else self.name_of(code, english=english)


def _is_code(label: str) -> bool:
    cleaned = label.strip().upper()
    return bool(
        _SECTION.match(cleaned) or _DIVISION.match(cleaned) or _PREFIXED_DIVISION.match(cleaned)
    )


def _sole_divisions(classes: Iterable[IndustryClass]) -> dict[str, str]:
    """Section -> its division, for the sections that have exactly one."""
    divisions: dict[str, list[str]] = {}
    for item in classes:
        if item.code != item.section:
            divisions.setdefault(item.section, []).append(item.code)
    return {section: codes[0] for section, codes in divisions.items() if len(codes) == 1}


def label_key(label: str) -> str:
    """How labels are compared: case and every space ignored (full-width too), so
    "Smart  Manufacturing" and " 汽车 制造业" are the words a list uses."""
    return "".join(label.split()).casefold()
