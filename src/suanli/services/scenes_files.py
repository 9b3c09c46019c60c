"""The two lists as files: read and validate CSV/XLSX, write them back, and match or
evaluate straight from files, with no database.

Choices, so users and reviewers know what to expect:
- Headers in English (`id,title,description,industry,tags,region,org`) or Chinese
  (`编号,名称,描述,行业,标签,地区,单位`), per column; optional columns may follow.
- Problems name the spreadsheet row: the header is row 1, the first item row 2.
- Industry labels are kept as written (platform aliases become the platform name; an empty
  one is recorded as 其他). A label that neither the platform vocabulary nor GB/T 4754 knows
  is a warning, not an error: the item is matched on its text, with no industry signal.
- Free text (title, description, region, org) is kept exactly as written, surrounding
  whitespace included, so an export imports back unchanged; other cells are trimmed.
- Encoding: UTF-8 with or without BOM. A file that is not UTF-8 but decodes as GBK/GB18030
  with a recognisable header (what Excel on Chinese Windows saves) is decoded, with a
  warning; anything else is refused, saying so.
- Limits: FILE_BYTES_MAX and ROWS_MAX below. If any row is invalid, nothing is returned
  unless skip_invalid=True, in which case the valid rows are.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from suanli.adapters.matching import (
    Embedder,
    Match,
    MatchEngine,
    Ranker,
    RankingMetrics,
    VectorCache,
    evaluate_rankings,
    load_default_embedder,
)
from suanli.adapters.matching.embedding import ProgressCallback
from suanli.adapters.matching.industry import load_taxonomy
from suanli.domain.money import FEN_MAX, require_fen
from suanli.domain.scenes import (
    DEPLOYMENT_LABELS,
    MATURITY_LABELS,
    STATUS_LABELS,
    Capability,
    MatchDirection,
    Opportunity,
    SceneItem,
    parse_deployment_modes,
    parse_maturity,
    parse_status,
    resolve_industry,
    split_tags,
)
from suanli.errors import InvalidInput, LimitExceeded
from suanli.i18n import t
from suanli.services.spreadsheets import append_text_row, csv_safe, csv_unescaped

FILE_BYTES_MAX = 20 * 1024 * 1024  # 20 MiB: a few thousand items with long descriptions
ROWS_MAX = 20_000  # item rows per file; Chengdu's whole 城市机会清单 is about 3,000
# An XLSX is a zip: a few kilobytes can name cell XFD1048576, and the reader then walks every
# blank row up to it, each padded to the widest one (an hour of a worker inside the import's
# transaction), or unpack to gigabytes. These bound the work, blank rows and cells included.
LINES_MAX = 5 * ROWS_MAX  # spreadsheet rows read, blank ones too
COLUMNS_MAX = 100  # the lists have about 15; unknown columns are ignored, not read for ever
XLSX_UNPACKED_BYTES_MAX = 200 * 1024 * 1024  # ten times the largest file: XML packs ~5-10x
PROBLEMS_IN_MESSAGE_MAX = 5  # the error message lists the first few; the report lists all
SUFFIXES = (".csv", ".xlsx")

ItemKind = Literal["opportunities", "capabilities"]
Severity = Literal["error", "warning"]
HeaderLanguage = Literal["en", "zh"]
T = TypeVar("T", bound=SceneItem)
EmbedderLoader = Callable[[], tuple[Embedder | None, str | None]]

# canonical column -> (English header, Chinese header, other accepted spellings)
COLUMNS: Mapping[str, tuple[str, str, tuple[str, ...]]] = {
    "id": ("id", "编号", ("ID",)),
    "title": ("title", "名称", ("标题",)),
    "description": ("description", "描述", ("简介", "内容")),
    "industry": ("industry", "行业", ("所属行业",)),
    "tags": ("tags", "标签", ("关键词",)),
    "region": ("region", "地区", ("区域", "所在地")),
    "org": ("org", "单位", ("organisation", "organization", "发布单位", "供给单位")),
    "budget_fen": ("budget_fen", "预算（分）", ()),
    "budget_yuan": ("budget_yuan", "预算（元）", ("预算", "预算金额", "budget")),  # plain: yuan
    "budget_wan_yuan": ("budget_wan_yuan", "预算（万元）", ()),
    "deadline": ("deadline", "截止日期", ("截止时间",)),
    "batch": ("batch", "批次", ()),
    "status": ("status", "状态", ()),
    "maturity": ("maturity", "成熟度", ()),
    "deployment_modes": ("deployment_modes", "部署方式", ()),
    "accelerators": ("accelerators", "适配芯片", ("支持芯片",)),
    "contact": ("contact", "联系人", ("联系方式", "联系人及电话")),
}
IMPORT_ONLY_COLUMNS = ("contact",)  # read on import; never exported (only the owner sees it)
EXACT_COLUMNS = frozenset({"title", "description", "region", "org"})  # free text: not trimmed
REQUIRED_COLUMNS = ("id", "title", "description", "industry", "tags", "region", "org")
_OPPORTUNITY_EXTRA = ("budget_fen", "budget_yuan", "budget_wan_yuan", "deadline")
_CAPABILITY_EXTRA = ("maturity", "deployment_modes", "accelerators")
KIND_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "opportunities": (*REQUIRED_COLUMNS, *_OPPORTUNITY_EXTRA, "batch", "status"),
    "capabilities": (*REQUIRED_COLUMNS, *_CAPABILITY_EXTRA, "batch", "status"),
}
GOLD_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "opportunity_id": ("opportunity_id", "机会编号"),
    "capability_id": ("capability_id", "能力编号"),
    "grade": ("grade", "等级"),
}
FIELD_LABELS = {"id": "编号", "title": "名称", "industry": "行业", "tags": "标签", "org": "单位"}


def _normalise_header(name: str) -> str:
    cleaned = name.strip().lstrip("\ufeff").replace("(", "（").replace(")", "）")
    return re.sub(r"\s+", "", cleaned).casefold()


_HEADER_LOOKUP = {
    _normalise_header(spelling): column
    for column, (english, chinese, others) in COLUMNS.items()
    for spelling in (english, chinese, *others)
}


@dataclass(frozen=True)
class Problem:
    """One finding of validation: spreadsheet row (1 = header), field, what is wrong."""

    row: int
    field: str
    message: str
    severity: Severity = "error"

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "field": self.field,
            "severity": self.severity,
            "problem": self.message,
        }

    def line(self) -> str:
        return t(
            f"第{self.row}行 `{self.field}`：{self.message}",
            f"row {self.row}, `{self.field}`: {self.message}",
        )


@dataclass(frozen=True)
class ValidationReport:
    path: str
    kind: str
    rows: int  # item rows read (blank rows excluded)
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "rows": self.rows,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "problems": [problem.as_dict() for problem in self.problems],
        }


@dataclass(frozen=True)
class LoadResult(Generic[T]):
    items: tuple[T, ...]
    report: ValidationReport
    contacts: Mapping[str, str] = field(default_factory=dict)  # item id -> contact column


@dataclass(frozen=True)
class _Table:
    header: list[str]
    rows: list[tuple[int, list[str]]]  # (spreadsheet row number, cells as in the file)
    notes: tuple[Problem, ...]  # file-level warnings (encoding)
    # Only CSV carries the apostrophe guard (see spreadsheets.csv_safe); XLSX cells are typed.
    guarded: bool = False


# ---------------------------------------------------------------- reading raw tables


def _require_readable(path: Path) -> None:
    if path.suffix.lower() not in SUFFIXES:
        raise InvalidInput(
            t(
                f"不支持的文件类型 {path.suffix or '（无扩展名）'}：请用 .csv 或 .xlsx",
                f"unsupported file type {path.suffix or '(none)'}: use .csv or .xlsx",
            ),
            field="file",
        )
    if not path.is_file():
        raise InvalidInput(t(f"文件不存在：{path}", f"no such file: {path}"), field="file")
    size = path.stat().st_size
    if size > FILE_BYTES_MAX:
        raise LimitExceeded(
            t(
                f"文件 {path.name} 大小 {size} 字节，超过上限 {FILE_BYTES_MAX} 字节（20 MiB）",
                f"file {path.name} is {size} bytes, over the {FILE_BYTES_MAX}-byte (20 MiB) limit",
            ),
            field="file",
        )


def read_table(path: Path) -> _Table:
    """Header and non-blank rows of a CSV or XLSX file, bounded by the limits above."""
    _require_readable(path)
    if path.suffix.lower() == ".xlsx":
        header, rows = _bounded(_xlsx_rows(path))
        return _Table(header, rows, ())
    text, notes = _decode(path.read_bytes())
    lines = csv.reader(io.StringIO(text, newline=""))
    try:
        header, rows = _bounded(iter(lines))
    except csv.Error as error:  # a cell over csv's field limit, a stray quote in strict mode
        raise InvalidInput(
            t(f"CSV 格式无效: {error}", f"the CSV is not well formed: {error}"), field="content"
        ) from None
    return _Table(header, rows, notes, guarded=True)


def _cell_value(cell: str, guarded: bool, *, exact: bool) -> str:
    """A cell's value: trimmed unless `exact`; then the CSV guard is taken off, after the
    trim, so a guarded value keeps the tab or space it starts with."""
    text = cell if exact else cell.strip()
    return csv_unescaped(text) if guarded else text


def _bounded(source: Iterator[list[str]]) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header plus numbered non-blank rows; refuses more than ROWS_MAX item rows."""
    header = [cell.strip() for cell in next(source, [])]
    if not any(header):
        raise InvalidInput(
            t("文件为空：第1行应为表头", "empty file: row 1 must be the header"), field="header"
        )
    _require_columns(1, header)
    rows: list[tuple[int, list[str]]] = []
    for number, cells in enumerate(source, start=2):
        if number > LINES_MAX:
            raise LimitExceeded(
                t(
                    f"第{number}行：文件超过 {LINES_MAX} 行（空行也算）",
                    f"row {number}: the file has more than {LINES_MAX} rows, blank ones included",
                ),
                field="rows",
            )
        _require_columns(number, cells)
        if not any(cell.strip() for cell in cells):
            continue
        if len(rows) == ROWS_MAX:
            raise LimitExceeded(
                t(
                    f"第{number}行：超过 {ROWS_MAX} 行的上限",
                    f"row {number}: more than {ROWS_MAX} rows",
                ),
                field="rows",
            )
        rows.append((number, cells))
    return header, rows


def _require_dimensions(rows: int, columns: int) -> None:
    """The sheet's own claim of its size, refused before reading a row (the reading is
    bounded anyway: a sheet may claim less than it holds)."""
    if rows > LINES_MAX:
        raise LimitExceeded(
            t(
                f"工作表有 {rows} 行，超过 {LINES_MAX} 行的上限（空行也算）",
                f"the sheet has {rows} rows, more than {LINES_MAX}, blank ones included",
            ),
            field="rows",
        )
    if columns > COLUMNS_MAX:
        raise LimitExceeded(
            t(
                f"工作表有 {columns} 列，超过 {COLUMNS_MAX} 列的上限",
                f"the sheet has {columns} columns, more than {COLUMNS_MAX}",
            ),
            field="columns",
        )


def _require_columns(number: int, cells: list[str]) -> None:
    if any(cell.strip() for cell in cells[COLUMNS_MAX:]):
        raise LimitExceeded(
            t(
                f"第{number}行：超过 {COLUMNS_MAX} 列的上限",
                f"row {number}: more than {COLUMNS_MAX} columns",
            ),
            field="columns",
        )


def _decode(data: bytes) -> tuple[str, tuple[Problem, ...]]:
    """UTF-8 (BOM optional); GBK/GB18030 with a known header is accepted with a warning."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InvalidInput(_encoding_message("UTF-16"), field="encoding")
    try:
        return data.decode("utf-8-sig"), ()
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        raise InvalidInput(_encoding_message(t("未知", "unknown")), field="encoding") from None
    first_line = next(csv.reader(io.StringIO(text.split("\n", 1)[0])), [])
    if not any(_normalise_header(cell) in _HEADER_LOOKUP for cell in first_line):
        raise InvalidInput(_encoding_message(t("未知", "unknown")), field="encoding")
    warning = t(
        "文件为 GBK/GB18030 编码，已按 GBK 解码；建议另存为 UTF-8",
        "file is GBK/GB18030-encoded and was decoded as such; save it as UTF-8",
    )
    return text, (Problem(1, "encoding", warning, "warning"),)


def _encoding_message(found: str) -> str:
    return t(
        f"文件编码不是 UTF-8（检测为 {found}）：请在 Excel 中另存为“CSV UTF-8”",
        f'file is not UTF-8 (detected: {found}): save it as "CSV UTF-8"',
    )


def _xlsx_rows(path: Path) -> Iterator[list[str]]:
    from openpyxl import load_workbook  # imported here: only XLSX users pay for it

    try:
        _require_unpacked_size(path)
        workbook = load_workbook(path, read_only=True, data_only=True)
    except LimitExceeded:
        raise
    except Exception as error:  # openpyxl raises many types for a damaged or fake file
        raise InvalidInput(
            t(f"无法读取 XLSX：{error}", f"cannot read XLSX: {error}"), field="file"
        ) from None
    try:
        sheet = workbook.worksheets[0]
        _require_dimensions(sheet.max_row or 0, sheet.max_column or 0)
        for values in sheet.iter_rows(max_col=COLUMNS_MAX + 1, values_only=True):
            yield [_cell_text(value) for value in values]
    finally:
        workbook.close()


def _require_unpacked_size(path: Path) -> None:
    """Sizes from the zip's directory; a member that lies about its size fails its CRC."""
    with zipfile.ZipFile(path) as archive:
        unpacked = sum(info.file_size for info in archive.infolist())
    if unpacked > XLSX_UNPACKED_BYTES_MAX:
        raise LimitExceeded(
            t(
                f"文件 {path.name} 解压后 {unpacked} 字节，超过上限 {XLSX_UNPACKED_BYTES_MAX} 字节",
                f"file {path.name} unpacks to {unpacked} bytes, over the "
                f"{XLSX_UNPACKED_BYTES_MAX}-byte limit",
            ),
            field="file",
        )


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)  # trimmed later, except free text (EXACT_COLUMNS)


# ---------------------------------------------------------------- header and rows


def _map_header(header: list[str], kind: ItemKind) -> tuple[dict[str, int], list[Problem]]:
    """Column index per canonical field; unknown columns are reported and ignored."""
    mapping: dict[str, int] = {}
    problems: list[Problem] = []
    for index, name in enumerate(header):
        column = _HEADER_LOOKUP.get(_normalise_header(name))
        if column is None or column not in (*KIND_COLUMNS[kind], *IMPORT_ONLY_COLUMNS):
            if name:
                problems.append(
                    Problem(1, name, t("未识别的列，已忽略", "unknown column, ignored"), "warning")
                )
        elif column in mapping:
            raise InvalidInput(
                t(f"第1行：列 {name} 重复", f"row 1: column {name} appears twice"), field=name
            )
        else:
            mapping[column] = index
    missing = [column for column in REQUIRED_COLUMNS if column not in mapping]
    if missing:
        wanted = ", ".join(f"{COLUMNS[c][0]}/{COLUMNS[c][1]}" for c in missing)
        raise InvalidInput(
            t(f"第1行：缺少列 {wanted}", f"row 1: missing columns {wanted}"), field=missing[0]
        )
    return mapping, problems


def _cells(mapping: dict[str, int], cells: list[str], guarded: bool) -> dict[str, str]:
    return {
        column: _cell_value(cells[i], guarded, exact=column in EXACT_COLUMNS)
        if i < len(cells)
        else ""
        for column, i in mapping.items()
    }


def _common_fields(values: dict[str, str], row: int, problems: list[Problem]) -> dict[str, Any]:
    """The SceneItem fields; an industry label nothing knows is kept as written, with a
    warning that it gives no industry signal."""
    industry, known = resolve_industry(values["industry"])
    if not known and load_taxonomy().code_of(industry) is None:
        problems.append(Problem(row, "industry", _unknown_industry(values["industry"]), "warning"))
    fields: dict[str, Any] = {
        "id": values["id"],
        "title": values["title"],
        "description": values["description"],
        "industry": industry,
        "tags": split_tags(values["tags"]),
        "region": values["region"],
        "org": values["org"],
    }
    if values.get("batch"):
        fields["batch"] = _parse_batch(values["batch"])
    if values.get("status"):
        fields["status"] = parse_status(values["status"])
    return fields


def _unknown_industry(label: str) -> str:
    if not label.strip():
        return t("行业为空，已记为 其他", "industry is empty, recorded as '其他' (other)")
    return t(
        f"行业“{label}”不在行业分类（GB/T 4754）中，按原文保留，不参与行业匹配",
        f"industry {label!r} is not in the taxonomy (GB/T 4754): kept as written, "
        "no industry signal",
    )


_CHINESE_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九十")}


def _parse_batch(text: str) -> int:
    """'3', '第3批' or '第三批' (up to 十)."""
    core = text.strip().removeprefix("第").removesuffix("批")
    if core.isdigit():
        return int(core)
    if len(core) == 1 and core in _CHINESE_DIGITS:
        return _CHINESE_DIGITS[core]
    raise InvalidInput(t(f"批次无法识别：{text}", f"unrecognised batch: {text}"), field="batch")


# budget column -> (fen per unit, decimals a whole number of fen allows)
BUDGET_COLUMNS: Mapping[str, tuple[int, int]] = {
    "budget_fen": (1, 0),
    "budget_yuan": (100, 2),
    "budget_wan_yuan": (1_000_000, 6),
}


def _parse_budget_fen(values: dict[str, str]) -> int | None:
    """budget_fen, budget_yuan or budget_wan_yuan, converted exactly to integer fen."""
    for column in BUDGET_COLUMNS:
        text = values.get(column, "").replace(",", "")
        if text:
            return _budget_cell_fen(text, column)
    return None


def _budget_cell_fen(text: str, column: str) -> int:
    fen_per_unit, decimals = BUDGET_COLUMNS[column]
    try:
        number = Decimal(text)
    except ArithmeticError:  # Decimal's InvalidOperation: not a number at all
        raise InvalidInput(
            t(f"预算不是数字：{text}", f"budget is not a number: {text}"), field=column
        ) from None
    if not number.is_finite():  # inf, -Infinity, nan: numbers to Decimal, never an amount
        raise InvalidInput(
            t(f"预算须为有限的数字：{text}", f"budget must be a finite number: {text}"),
            field=column,
        )
    # Clamped first: require_fen refuses past FEN_MAX or below zero in its own words, and a
    # bounded number keeps what follows exact (1e999999999 would overflow, 1e-999999999
    # round to 0, 1e999999 make a million-digit integer).
    number = max(min(number, Decimal(FEN_MAX + 1)), Decimal(-1))
    if number != number.quantize(Decimal(1).scaleb(-decimals)):
        rule_zh = f"最多 {decimals} 位小数" if decimals else "须为整数"
        rule_en = f"at most {decimals} decimals" if decimals else "no decimals"
        raise InvalidInput(
            t(
                f"预算须精确到分：{column} {rule_zh}（{text}）",
                f"budget must be whole fen: {column} takes {rule_en} ({text})",
            ),
            field=column,
        )
    return require_fen(int(number * fen_per_unit), field=column, allow_zero=True)


_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")


def _parse_date(text: str) -> date | None:
    """2026-03-01, 2026/3/1 (what Excel shows) or 2026年3月1日."""
    if not text:
        return None
    found = _DATE.match(text.strip())
    try:
        if found is None:
            raise ValueError(text)
        return date(int(found.group(1)), int(found.group(2)), int(found.group(3)))
    except ValueError:
        message = t(f"日期应为 YYYY-MM-DD：{text}", f"date must be YYYY-MM-DD: {text}")
        raise InvalidInput(message, field="deadline") from None


def _opportunity(values: dict[str, str], row: int, problems: list[Problem]) -> Opportunity:
    return Opportunity(
        **_common_fields(values, row, problems),
        budget_fen=_parse_budget_fen(values),
        deadline=_parse_date(values.get("deadline", "")),
    )


def _capability(values: dict[str, str], row: int, problems: list[Problem]) -> Capability:
    maturity = values.get("maturity", "")
    return Capability(
        **_common_fields(values, row, problems),
        maturity=parse_maturity(maturity) if maturity else None,
        deployment_modes=parse_deployment_modes(values.get("deployment_modes", "")),
        accelerators=split_tags(values.get("accelerators", "")),
    )


def _precheck(values: dict[str, str], row: int, first_row: dict[str, int]) -> Problem | None:
    """The common mistakes, in the user's language, before the domain's own checks."""
    if not values["id"]:
        return Problem(row, "id", t("编号不能为空", "id must not be empty"))
    if values["id"] in first_row:
        earlier = first_row[values["id"]]
        return Problem(
            row,
            "id",
            t(
                f"编号 {values['id']} 与第{earlier}行重复",
                f"duplicate id {values['id']} (first on row {earlier})",
            ),
        )
    if not values["title"]:
        return Problem(row, "title", t("名称不能为空", "title must not be empty"))
    return None


def _parse_rows(
    table: _Table, kind: ItemKind
) -> tuple[list[SceneItem], list[Problem], dict[str, str]]:
    mapping, problems = _map_header(table.header, kind)
    problems = [*table.notes, *problems]
    build = _opportunity if kind == "opportunities" else _capability
    items: list[SceneItem] = []
    contacts: dict[str, str] = {}
    first_row: dict[str, int] = {}
    for row, cells in table.rows:
        values = _cells(mapping, cells, table.guarded)
        precheck = _precheck(values, row, first_row)
        if values["id"]:
            first_row.setdefault(values["id"], row)  # even a bad row claims its id
        if precheck is not None:
            problems.append(precheck)
            continue
        try:
            items.append(build(values, row, problems))
        except InvalidInput as error:
            problems.append(Problem(row, error.field or "row", error.message))
            continue
        if values.get("contact"):
            contacts[values["id"]] = values["contact"]
    return items, problems, contacts


def _failure(report: ValidationReport) -> InvalidInput:
    """One error naming the first rows and fields, with the whole report in `details`."""
    errors = report.errors
    lines = "；".join(problem.line() for problem in errors[:PROBLEMS_IN_MESSAGE_MAX])
    more = len(errors) - PROBLEMS_IN_MESSAGE_MAX
    suffix = t(f"（另有 {more} 个问题）", f" (and {more} more)") if more > 0 else ""
    summary = t(
        f"{report.path} 有 {len(errors)} 行无效，未导入：",
        f"{report.path}: {len(errors)} invalid row(s), nothing imported: ",
    )
    return InvalidInput(
        summary + lines + suffix, field=errors[0].field, row=errors[0].row, report=report.as_dict()
    )


def load_items(
    path: Path, kind: ItemKind, *, skip_invalid: bool = False, shown_as: str | None = None
) -> LoadResult[SceneItem]:
    """The valid items and the report; raises if any row is invalid unless skip_invalid.
    `shown_as` names the file in the report and messages (an upload's own name, never the
    server's temporary path)."""
    table = read_table(path)
    items, problems, contacts = _parse_rows(table, kind)
    report = ValidationReport(shown_as or str(path), kind, len(table.rows), tuple(problems))
    if report.errors and not skip_invalid:
        raise _failure(report)
    return LoadResult(tuple(items), report, contacts)


def load_opportunities(path: Path, *, skip_invalid: bool = False) -> LoadResult[Opportunity]:
    result = load_items(path, "opportunities", skip_invalid=skip_invalid)
    return LoadResult(tuple(i for i in result.items if isinstance(i, Opportunity)), result.report)


def load_capabilities(path: Path, *, skip_invalid: bool = False) -> LoadResult[Capability]:
    result = load_items(path, "capabilities", skip_invalid=skip_invalid)
    return LoadResult(tuple(i for i in result.items if isinstance(i, Capability)), result.report)


def validate_file(path: Path, kind: ItemKind) -> ValidationReport:
    """The full report; file-level problems (size, encoding, header) still raise."""
    return load_items(path, kind, skip_invalid=True).report


# ---------------------------------------------------------------- writing


def _item_row(item: SceneItem, columns: Sequence[str], zh: bool) -> list[str]:
    separator = "；" if zh else ";"
    values: dict[str, str] = {
        "id": item.id,
        "title": item.title,
        "description": item.description,
        "industry": item.industry,
        "tags": separator.join(item.tags),
        "region": item.region,
        "org": item.org,
        "batch": "" if item.batch is None else str(item.batch),
        "status": STATUS_LABELS[item.status] if zh else item.status.value,
    }
    if isinstance(item, Opportunity):
        values["budget_fen"] = "" if item.budget_fen is None else str(item.budget_fen)
        values["deadline"] = item.deadline.isoformat() if item.deadline else ""
    if isinstance(item, Capability):
        values["maturity"] = (
            ""
            if item.maturity is None
            else (MATURITY_LABELS[item.maturity] if zh else item.maturity.value)
        )
        values["deployment_modes"] = separator.join(
            DEPLOYMENT_LABELS[m] if zh else m.value for m in item.deployment_modes
        )
        values["accelerators"] = separator.join(item.accelerators)
    return [values.get(column, "") for column in columns]


def write_items(
    path: Path, items: Sequence[SceneItem], *, header_language: HeaderLanguage = "en"
) -> None:
    """CSV (UTF-8 with BOM, so Excel shows Chinese) or XLSX, by the path's suffix."""
    if path.suffix.lower() not in SUFFIXES:
        raise InvalidInput(t("导出文件须为 .csv 或 .xlsx", "export to .csv or .xlsx"), field="file")
    kind = "capabilities" if items and isinstance(items[0], Capability) else "opportunities"
    columns = [c for c in KIND_COLUMNS[kind] if c not in ("budget_yuan", "budget_wan_yuan")]
    zh = header_language == "zh"
    header = [COLUMNS[c][1] if zh else COLUMNS[c][0] for c in columns]
    rows = [_item_row(item, columns, zh) for item in items]
    if path.suffix.lower() == ".csv":
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            safe_rows = [[csv_safe(cell) for cell in row] for row in rows]
            csv.writer(handle, lineterminator="\n").writerows([header, *safe_rows])
        return
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    for line in (header, *rows):
        append_text_row(sheet, line)
    workbook.save(path)


# ---------------------------------------------------------------- matching from files


@dataclass(frozen=True)
class MatchRun:
    direction: MatchDirection
    matches: tuple[Match, ...]
    mode: str
    warnings: tuple[str, ...]  # model fallback, encoding, industries nothing knows

    def as_json(self) -> dict[str, Any]:
        """Exactly {"matches": [{"id", "candidates": [{"id", "score", "why"}]}]}."""
        return {
            "matches": [
                {
                    "id": m.id,
                    "candidates": [
                        {"id": c.id, "score": c.score, "why": c.why} for c in m.candidates
                    ],
                }
                for m in self.matches
            ]
        }


def _build_engine(
    loader: EmbedderLoader, cache_path: Path | None, lexical_only: bool
) -> MatchEngine:
    if lexical_only:
        return MatchEngine(
            None, warning=t("按要求仅使用词法匹配", "lexical matching only, as requested")
        )
    embedder, warning = loader()
    cache = VectorCache.load(cache_path, embedder.name) if embedder and cache_path else None
    if embedder and cache is None:
        cache = VectorCache(embedder.name)
    return MatchEngine(embedder, cache=cache, warning=warning or (cache.warning if cache else None))


def _indexed_engine(
    opportunities: Sequence[Opportunity],
    capabilities: Sequence[Capability],
    *,
    cache_path: Path | None,
    lexical_only: bool,
    embedder_loader: EmbedderLoader,
    progress: ProgressCallback | None,
) -> MatchEngine:
    engine = _build_engine(embedder_loader, cache_path, lexical_only)
    engine.index(opportunities, capabilities, progress)
    if cache_path is not None and engine.cache is not None and engine.mode == "fused":
        engine.cache.save(cache_path)
    return engine


def _warnings(engine: MatchEngine, *reports: ValidationReport) -> tuple[str, ...]:
    found = [engine.warning] if engine.warning else []
    found += [
        problem.line()
        for report in reports
        for problem in report.problems
        if problem.severity == "warning"
    ]
    return tuple(found)


def indexed_engine(
    opportunities: Sequence[Opportunity],
    capabilities: Sequence[Capability],
    *,
    cache_path: Path | None,
    lexical_only: bool,
    progress: ProgressCallback | None,
    embedder_loader: EmbedderLoader = load_default_embedder,
) -> MatchEngine:
    """Both lists indexed with the default (or given) embedder, the vector cache saved."""
    return _indexed_engine(
        opportunities,
        capabilities,
        cache_path=cache_path,
        lexical_only=lexical_only,
        embedder_loader=embedder_loader,
        progress=progress,
    )


def engine_warnings(engine: MatchEngine, *reports: ValidationReport) -> tuple[str, ...]:
    """The engine's fallback warning, then every row warning of the reports."""
    return _warnings(engine, *reports)


def match_files(
    opportunities_path: Path,
    capabilities_path: Path,
    *,
    direction: MatchDirection = MatchDirection.O2C,
    top_k: int = 10,
    skip_invalid: bool = False,
    cache_path: Path | None = None,
    lexical_only: bool = False,
    embedder_loader: EmbedderLoader = load_default_embedder,
    progress: ProgressCallback | None = None,
) -> MatchRun:
    """Loads both files, indexes them and returns the top_k matches for every item."""
    opportunities = load_opportunities(opportunities_path, skip_invalid=skip_invalid)
    capabilities = load_capabilities(capabilities_path, skip_invalid=skip_invalid)
    engine = _indexed_engine(
        opportunities.items,
        capabilities.items,
        cache_path=cache_path,
        lexical_only=lexical_only,
        embedder_loader=embedder_loader,
        progress=progress,
    )
    matches = tuple(engine.match(direction, top_k=top_k))
    return MatchRun(
        direction,
        matches,
        engine.mode,
        _warnings(engine, opportunities.report, capabilities.report),
    )


# ---------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class EvaluationReport:
    engine: RankingMetrics
    bm25: RankingMetrics
    embedding: RankingMetrics | None  # None when no model could be loaded
    mode: str
    warnings: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        """{"engine": {...}, "bm25": {...}, "embedding": {...} or null}."""
        return {
            "engine": self.engine.as_dict(),
            "bm25": self.bm25.as_dict(),
            "embedding": None if self.embedding is None else self.embedding.as_dict(),
        }


def load_gold(
    path: Path, opportunity_ids: set[str], capability_ids: set[str]
) -> dict[str, dict[str, int]]:
    """opportunity id -> {capability id: grade}; every row must name known ids and a grade 0-2."""
    table = read_table(path)
    lookup = {_normalise_header(s): c for c, spellings in GOLD_COLUMNS.items() for s in spellings}
    mapping = {
        lookup[_normalise_header(h)]: i
        for i, h in enumerate(table.header)
        if _normalise_header(h) in lookup
    }
    missing = [column for column in GOLD_COLUMNS if column not in mapping]
    if missing:
        raise InvalidInput(
            t(
                f"第1行：缺少列 {', '.join(missing)}",
                f"row 1: missing columns {', '.join(missing)}",
            ),
            field=missing[0],
        )
    gold: dict[str, dict[str, int]] = {}
    for row, cells in table.rows:
        values = _cells(mapping, cells, table.guarded)
        _check_gold_row(values, row, opportunity_ids, capability_ids, gold)
        gold.setdefault(values["opportunity_id"], {})[values["capability_id"]] = int(
            values["grade"]
        )
    return gold


def _check_gold_row(
    values: dict[str, str],
    row: int,
    opportunity_ids: set[str],
    capability_ids: set[str],
    gold: dict[str, dict[str, int]],
) -> None:
    for column, known in (("opportunity_id", opportunity_ids), ("capability_id", capability_ids)):
        if values[column] not in known:
            raise InvalidInput(
                t(
                    f"第{row}行：未知编号 {values[column]!r}",
                    f"row {row}: unknown id {values[column]!r}",
                ),
                field=column,
            )
    if values["grade"] not in {"0", "1", "2"}:
        raise InvalidInput(
            t(f"第{row}行：等级应为 0、1 或 2", f"row {row}: grade must be 0, 1 or 2"),
            field="grade",
        )
    if values["capability_id"] in gold.get(values["opportunity_id"], {}):
        raise InvalidInput(
            t(f"第{row}行：重复的标注", f"row {row}: duplicate pair"), field="capability_id"
        )


def evaluate_engine(
    engine: MatchEngine, gold: Mapping[str, Mapping[str, int]]
) -> dict[str, RankingMetrics | None]:
    """Metrics of the fused engine and both single-signal baselines, from one index."""
    results: dict[str, RankingMetrics | None] = {}
    rankers: tuple[tuple[str, Ranker], ...] = (
        ("engine", "fused"),
        ("bm25", "lexical"),
        ("embedding", "semantic"),
    )
    for name, ranker in rankers:
        if ranker == "semantic" and engine.mode != "fused":
            results[name] = None
            continue
        matches = engine.match(
            MatchDirection.O2C, top_k=None, query_ids=sorted(gold), ranker=ranker
        )
        results[name] = evaluate_rankings(
            {m.id: [c.id for c in m.candidates] for m in matches}, gold
        )
    return results


def evaluate(
    opportunities_path: Path,
    capabilities_path: Path,
    gold_path: Path,
    *,
    skip_invalid: bool = False,
    cache_path: Path | None = None,
    lexical_only: bool = False,
    embedder_loader: EmbedderLoader = load_default_embedder,
    progress: ProgressCallback | None = None,
) -> EvaluationReport:
    """nDCG@10, Recall@5/10 and MRR (o2c) for the engine, BM25-only and embedding-only."""
    opportunities = load_opportunities(opportunities_path, skip_invalid=skip_invalid)
    capabilities = load_capabilities(capabilities_path, skip_invalid=skip_invalid)
    gold = load_gold(
        gold_path, {o.id for o in opportunities.items}, {c.id for c in capabilities.items}
    )
    engine = _indexed_engine(
        opportunities.items,
        capabilities.items,
        cache_path=cache_path,
        lexical_only=lexical_only,
        embedder_loader=embedder_loader,
        progress=progress,
    )
    metrics = evaluate_engine(engine, gold)
    engine_metrics, bm25_metrics = metrics["engine"], metrics["bm25"]
    if engine_metrics is None or bm25_metrics is None:  # both are always computed
        raise RuntimeError("engine and bm25 metrics are always computed")
    return EvaluationReport(
        engine_metrics,
        bm25_metrics,
        metrics["embedding"],
        engine.mode,
        _warnings(engine, opportunities.report, capabilities.report),
    )
