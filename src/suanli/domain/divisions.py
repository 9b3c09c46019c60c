"""China's administrative divisions (province / city / district), for the regions people type.

A region is written `province[/city[/district]]` in short names (`浙江/杭州/余杭`); the full
official names (`浙江省/杭州市/余杭区`) and unambiguous beginnings (`延边` for 延边朝鲜族自治州)
are accepted and stored in the short form, so that a filter for `浙江/杭州` finds every pool
listed in Hangzhou whatever its provider typed. A municipality's districts may follow it
directly (`北京/海淀`), and are stored as `北京/北京/海淀`. A name that is no division
(`hangzhou`) is refused, naming the level and giving an example.

The table is the National Bureau of Statistics' list shipped in `suanli/data/divisions/` (see
its SOURCE.md); it is read once, like a constant, the first time a region is checked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from suanli.errors import InvalidInput
from suanli.i18n import msg

# Longest first: the standard endings of division names, dropped for the short form.
SUFFIXES = (
    "维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区", "自治区", "自治州", "自治县",
    "自治旗", "地区", "林区", "新区", "省", "市", "区", "县", "旗", "盟",
)  # fmt: skip
AUTONOMOUS = ("自治州", "自治县", "自治旗")
# Peoples named in autonomous prefectures' and counties' names, dropped with the ending
# (延边朝鲜族自治州 → 延边), as people say them.
PEOPLES = (
    "朝鲜", "土家", "苗", "侗", "藏", "羌", "彝", "白", "哈尼", "傣", "景颇", "傈僳", "蒙古",
    "哈萨克", "柯尔克孜", "回", "壮", "瑶", "布依", "满", "畲", "黎", "仡佬", "水", "纳西",
    "拉祜", "佤", "布朗", "怒", "独龙", "普米", "撒拉", "保安", "东乡", "土", "裕固", "达斡尔",
    "鄂温克", "鄂伦春", "锡伯", "塔吉克", "各", "仫佬", "毛南", "京", "门巴", "珞巴", "阿昌",
    "德昂", "基诺", "俄罗斯", "乌孜别克", "塔塔尔", "赫哲", "高山",
)  # fmt: skip
MUNICIPALITY_CITY_GROUPS = ("市辖区", "县")  # the table's stand-ins for a municipality's city
DIRECT_COUNTY_GROUPS = ("省直辖县级行政区划", "自治区直辖县级行政区划")
EXAMPLE = "浙江/杭州/余杭"
PARTS_MAX = 3


@dataclass(frozen=True)
class Division:
    short: str
    children: dict[str, Division]


def short_name(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            stem = name[: -len(suffix)]
            return _without_peoples(stem) if suffix in AUTONOMOUS else stem
    return name


def _without_peoples(stem: str) -> str:
    """延边朝鲜族 → 延边; 黔东南苗族侗族 → 黔东南 (never shorter than two characters)."""
    changed = True
    while changed:
        changed = False
        for people in sorted(PEOPLES, key=len, reverse=True):
            ending = people + "族"
            if stem.endswith(ending) and len(stem) - len(ending) >= 2:
                stem, changed = stem[: -len(ending)], True
                break
    return stem


@cache
def table() -> dict[str, Division]:
    """Provinces by full name, each with its cities and their districts (read once)."""
    raw = json.loads(
        resources.files("suanli.data").joinpath("divisions/divisions.json").read_text("utf-8")
    )
    return {name: _province(name, cities) for name, cities in raw.items()}


def _province(name: str, cities: dict[str, list[str]]) -> Division:
    short = short_name(name)
    merged: dict[str, list[str]] = {}
    for city, districts in cities.items():
        if city in MUNICIPALITY_CITY_GROUPS:
            merged.setdefault(name, []).extend(districts)  # the municipality is its own city
        elif city in DIRECT_COUNTY_GROUPS:
            for county in districts:  # county-level cities under the province: cities here
                merged.setdefault(county, [])
        else:
            merged.setdefault(city, []).extend(districts)
    shorts = _unique_shorts(list(merged))
    children = {
        city: Division(short if city == name else shorts[city], _leaves(districts))
        for city, districts in merged.items()
    }
    return Division(short, children)


def _leaves(names: list[str]) -> dict[str, Division]:
    shorts = _unique_shorts(names)
    return {name: Division(shorts[name], {}) for name in names}


def _unique_shorts(names: list[str]) -> dict[str, str]:
    """Short names, except where two siblings would share one: those keep their full names."""
    shorts = {name: short_name(name) for name in names}
    taken = [short for short in shorts.values()]
    return {name: short if taken.count(short) == 1 else name for name, short in shorts.items()}


def canonical_region(text: str, field: str = "region") -> str:
    """The region in canonical short names, or InvalidInput naming what is not a division."""
    parts = [part.strip() for part in text.split("/")] if text else []
    if not parts or not parts[0] or len(parts) > PARTS_MAX or not all(parts):
        raise InvalidInput(
            msg(
                f"地区应写成「省/市/区县」，后两级可省略，例如 {EXAMPLE}",
                f"a region is written province[/city[/district]], e.g. {EXAMPLE}",
            ),
            field=field,
        )
    province = _find(table(), parts[0], field, ("省份", "province"), None)
    names = [province.short]
    rest = _with_municipality(province, parts[1:])
    level: Division = province
    for part, what in zip(rest, (("城市", "city"), ("区县", "district")), strict=False):
        level = _find(level.children, part, field, what, names)
        names.append(level.short)
    return "/".join(names)


def _with_municipality(province: Division, rest: list[str]) -> list[str]:
    """`北京/海淀`: a municipality's district may follow it directly."""
    own_city = province.children.get(next(iter(province.children), ""))
    if own_city is None or len(province.children) != 1 or not rest or rest[0] == own_city.short:
        return rest
    district_first = _matches(own_city.children, rest[0]) and not _matches(
        province.children, rest[0]
    )
    return [own_city.short, *rest] if district_first else rest


def _find(
    options: dict[str, Division],
    typed: str,
    field: str,
    what: tuple[str, str],
    parents: list[str] | None,
) -> Division:
    found = _matches(options, typed)
    if len(found) == 1:
        return found[0]
    where_zh = f"{'/'.join(parents)} 下" if parents else ""
    where_en = f" in {'/'.join(parents)}" if parents else ""
    if found:
        names = "、".join(sorted(d.short for d in found)[:5])
        raise InvalidInput(
            msg(
                f"{where_zh}「{typed}」可指多个{what[0]}（{names}），请写全称",
                f"{typed!s} could be several {what[1]}s{where_en}; write the full name",
            ),
            field=field,
        )
    raise InvalidInput(
        msg(
            f"{where_zh}没有名为「{typed}」的{what[0]}；地区用中文行政区划名，例如 {EXAMPLE}",
            f"there is no {what[1]} named {typed!s}{where_en}; regions use the Chinese names "
            f"of administrative divisions, e.g. {EXAMPLE}",
        ),
        field=field,
    )


def _matches(options: dict[str, Division], typed: str) -> list[Division]:
    """Exact full or short name first; else a unique beginning of at least two characters."""
    exact = [d for name, d in options.items() if typed in (name, d.short)]
    if exact:
        return exact[:1] if len({d.short for d in exact}) == 1 else exact
    if len(typed) < 2:
        return []
    return [d for name, d in options.items() if name.startswith(typed)]
