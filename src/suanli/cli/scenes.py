"""`suanli scenes ...`: match and evaluate the two lists straight from CSV/XLSX files,
validate a file before importing it, and import or export lists on a running server.
Thin: parse options, call one service, render. The services (NumPy, the matching engine) are
imported inside the commands that call them, so `--help` starts without them."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from suanli.cli.common import (
    ApiClient,
    ApiUrlOption,
    JsonOption,
    TokenOption,
    console,
    err_console,
    fail,
    handle_errors,
    print_json,
    settings_from_env,
)
from suanli.cli.scenes_deals import challenges_app, matches_command, pairs_app
from suanli.domain.scenes import FOLDS_MAX, FOLDS_MIN, SEED_DEFAULT, TOP_K_MAX, MatchDirection
from suanli.i18n import t

if TYPE_CHECKING:
    from suanli.services import scenes_eval
    from suanli.services.scenes_eval import FoldedReport
    from suanli.services.scenes_files import EvaluationReport, ItemKind, MatchRun, ValidationReport

app = typer.Typer(
    help="Scenario exchange: match and evaluate the two lists",
    no_args_is_help=True,
)
app.command("matches")(matches_command)
app.add_typer(pairs_app, name="pairs")
app.add_typer(challenges_app, name="challenges")
WARNINGS_SHOWN_MAX = 20
CACHE_FILE = Path("cache") / "scene-vectors.npz"

OpportunitiesOption = typer.Option(..., "--opportunities", "-o", help="opportunities CSV/XLSX")
CapabilitiesOption = typer.Option(..., "--capabilities", "-c", help="capabilities CSV/XLSX")
SkipInvalidOption = typer.Option(False, "--skip-invalid", help="drop invalid rows, keep the rest")
CacheOption = typer.Option(None, "--cache", help="vector cache (.npz); default: <data_dir>/cache")
NoCacheOption = typer.Option(False, "--no-cache", help="do not read or write the vector cache")
LexicalOnlyOption = typer.Option(False, "--lexical-only", help="skip the embedding model")


def _cache_path(cache: Path | None, no_cache: bool) -> Path | None:
    """Vectors are kept between runs so unchanged texts are never embedded twice."""
    if no_cache:
        return None
    return cache if cache is not None else settings_from_env().data_dir / CACHE_FILE


@contextmanager
def _embedding_progress() -> Iterator[Callable[[int, int], None]]:
    """A Rich bar on stderr (stdout stays clean for --json), shown only once there is
    something to embed (a warm cache embeds nothing), gone when done."""
    columns = (
        TextColumn(t("向量化", "embedding")),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    bar = Progress(*columns, console=err_console, transient=True)
    task = bar.add_task("embed", total=None)

    def update(done: int, total: int) -> None:
        if total > 0 and not bar.live.is_started:
            bar.start()
        bar.update(task, completed=done, total=total)

    try:
        yield update
    finally:
        if bar.live.is_started:
            bar.stop()


def _print_warnings(warnings: Sequence[str]) -> None:
    for warning in warnings[:WARNINGS_SHOWN_MAX]:
        err_console.print(f"[yellow]{t('警告', 'warning')}:[/yellow] {escape(warning)}")
    hidden = len(warnings) - WARNINGS_SHOWN_MAX
    if hidden > 0:
        err_console.print(t(f"（另有 {hidden} 条警告）", f"({hidden} more warnings)"))


@app.command("match")
@handle_errors
def match_command(
    opportunities: Path = OpportunitiesOption,
    capabilities: Path = CapabilitiesOption,
    direction: MatchDirection = typer.Option(MatchDirection.O2C, "--direction", help="o2c|c2o"),
    top: int = typer.Option(10, "--top", min=1, max=TOP_K_MAX, help="candidates per item"),
    json_output: bool = JsonOption,
    skip_invalid: bool = SkipInvalidOption,
    cache: Path | None = CacheOption,
    no_cache: bool = NoCacheOption,
    lexical_only: bool = LexicalOnlyOption,
) -> None:
    """For each item, the best candidates from the other list, with score and reasons."""
    from suanli.services import scenes_files

    with _embedding_progress() as progress:
        run = scenes_files.match_files(
            opportunities,
            capabilities,
            direction=direction,
            top_k=top,
            skip_invalid=skip_invalid,
            cache_path=_cache_path(cache, no_cache),
            lexical_only=lexical_only,
            progress=progress,
        )
    _print_warnings(run.warnings)
    if json_output:
        print_json(run.as_json())
        return
    console.print(_match_table(run))


def _match_table(run: MatchRun) -> Table:
    query_label = (
        t("需求", "opportunity") if run.direction is MatchDirection.O2C else t("能力", "capability")
    )
    title = t(f"匹配结果（模式：{run.mode}）", f"Matches (mode: {run.mode})")
    table = Table(title=title, show_lines=False)
    for header in (query_label, t("候选", "candidate"), t("得分", "score")):
        table.add_column(header, no_wrap=True)
    table.add_column(t("理由", "why"), overflow="fold")
    for match in run.matches:
        for position, candidate in enumerate(match.candidates):
            first = escape(match.id) if position == 0 else ""
            table.add_row(
                first, escape(candidate.id), f"{candidate.score:.3f}", escape(candidate.why)
            )
        table.add_section()
    return table


@app.command("eval")
@handle_errors
def eval_command(
    opportunities: Path = OpportunitiesOption,
    capabilities: Path = CapabilitiesOption,
    gold: Path = typer.Option(
        ..., "--gold", "-g", help="gold CSV: opportunity_id,capability_id,grade"
    ),
    json_output: bool = JsonOption,
    skip_invalid: bool = SkipInvalidOption,
    cache: Path | None = CacheOption,
    no_cache: bool = NoCacheOption,
    lexical_only: bool = LexicalOnlyOption,
    folds: int | None = typer.Option(
        None,
        "--folds",
        min=FOLDS_MIN,
        max=FOLDS_MAX,
        help="K-fold: fit on K-1 folds of the queries, report the held-out fold (mean, sd)",
    ),
    seed: int = typer.Option(SEED_DEFAULT, "--seed", help="fold assignment seed"),
) -> None:
    """nDCG@10, Recall@5/10 and MRR of the engine, BM25-only and embedding-only, in one run."""
    from suanli.services import scenes_files

    if folds is not None:
        _eval_folds(
            opportunities,
            capabilities,
            gold,
            folds,
            seed,
            json_output,
            skip_invalid,
            _cache_path(cache, no_cache),
            lexical_only,
        )
        return
    with _embedding_progress() as progress:
        report = scenes_files.evaluate(
            opportunities,
            capabilities,
            gold,
            skip_invalid=skip_invalid,
            cache_path=_cache_path(cache, no_cache),
            lexical_only=lexical_only,
            progress=progress,
        )
    _print_warnings(report.warnings)
    if json_output:
        print_json(report.as_json())
        return
    console.print(_eval_table(report))


def _eval_folds(
    opportunities: Path,
    capabilities: Path,
    gold: Path,
    folds: int,
    seed: int,
    json_output: bool,
    skip_invalid: bool,
    cache_path: Path | None,
    lexical_only: bool,
) -> None:
    from suanli.services import scenes_eval

    with _embedding_progress() as progress:
        report = scenes_eval.evaluate_folds(
            opportunities,
            capabilities,
            gold,
            folds=folds,
            seed=seed,
            skip_invalid=skip_invalid,
            cache_path=cache_path,
            lexical_only=lexical_only,
            progress=progress,
        )
    _print_warnings(report.warnings)
    if json_output:
        print_json(report.as_json())
        return
    console.print(_folds_table(report))
    for band in report.calibration or []:
        console.print(
            t(
                f"校准（随包权重，每项前 10）：得分 {band['from']:.1f}–{band['to']:.1f}："
                f"{band['candidates']:.0f} 个，平均得分 {band['mean_score']:.3f}，"
                f"实际相关比例 {band['relevant_share']:.3f}",
                f"calibration (shipped weights, top 10 each): score {band['from']:.1f}-"
                f"{band['to']:.1f}: {band['candidates']:.0f} candidates, mean score "
                f"{band['mean_score']:.3f}, relevant share {band['relevant_share']:.3f}",
            )
        )


def _folds_table(report: FoldedReport) -> Table:
    from suanli.services.scenes_eval import METRIC_NAMES

    table = Table(
        title=t(
            f"{report.folds} 折交叉验证，留出折上的均值 ± 标准差（模式：{report.mode}）",
            f"{report.folds}-fold cross-validation, held-out mean ± sd (mode: {report.mode})",
        )
    )
    table.add_column(t("方法", "ranker"))
    for header in METRIC_NAMES:
        table.add_column(header, justify="right")
    for name, folded in report.rankers.items():
        summary = folded.summary()
        cells = [f"{summary[m]['mean']:.4f} ± {summary[m]['sd']:.4f}" for m in summary]
        table.add_row(_ranker_label(name), *cells)
    caption = t(
        f"查询数：{report.queries}；随机种子：{report.seed}",
        f"queries: {report.queries}; seed: {report.seed}",
    )
    versus = report.versus
    if versus is not None:
        caption += "\n" + _versus_line(versus)
    table.caption = caption
    return table


def _versus_line(versus: scenes_eval.Versus) -> str:
    """Margin over the best single signal, per fold, and the queries won, tied and lost."""
    folds = " ".join(f"{value:+.3f}" for value in versus.fold_margins)
    worst = "、".join(q for q, *_ in versus.worst[:5])
    worst_en = ", ".join(q for q, *_ in versus.worst[:5])
    signal = _ranker_label(versus.signal)
    return t(
        f"融合引擎 − 最佳单一信号（{signal}）：nDCG@10 {versus.margin:+.4f}（各折 {folds}）；"
        f"逐查询胜 {versus.wins}、平 {versus.ties}、负 {versus.losses}；输得最多：{worst or '无'}",
        f"fused engine − best single signal ({signal}): nDCG@10 {versus.margin:+.4f} (per fold "
        f"{folds}); queries won {versus.wins}, tied {versus.ties}, lost {versus.losses}; "
        f"largest losses: {worst_en or 'none'}",
    )


def _ranker_label(name: str) -> str:
    labels = {
        "engine": t("融合引擎（学习排序，折内训练）", "fused engine (learned, fitted in-fold)"),
        "rrf": t("倒数排名融合（旧）", "reciprocal-rank fusion (before)"),
        "bm25": t("仅 BM25", "BM25 only"),
        "embedding": t("仅语义向量", "embedding only"),
        "shipped": t("随包权重（仅用演示集训练）", "shipped weights (trained on demo set only)"),
    }
    return labels.get(name, name)


def _eval_table(report: EvaluationReport) -> Table:
    table = Table(title=t(f"评测（模式：{report.mode}）", f"Evaluation (mode: {report.mode})"))
    table.add_column(t("方法", "ranker"))
    for header in ("nDCG@10", "Recall@5", "Recall@10", "MRR"):
        table.add_column(header, justify="right")
    rows = (
        (t("融合引擎", "fused engine"), report.engine),
        (t("仅 BM25", "BM25 only"), report.bm25),
        (t("仅语义向量", "embedding only"), report.embedding),
    )
    for name, metrics in rows:
        if metrics is None:
            table.add_row(name, *([t("不可用", "n/a")] * 4))
            continue
        table.add_row(name, *(f"{value:.4f}" for value in metrics.as_dict().values()))
    difference = report.engine.ndcg_at_10 - report.bm25.ndcg_at_10
    table.caption = t(
        f"融合引擎 − BM25 的 nDCG@10 差值：{difference:+.4f}；查询数：{report.engine.queries}",
        f"fused − BM25 nDCG@10: {difference:+.4f}; queries: {report.engine.queries}",
    )
    return table


@app.command("train")
@handle_errors
def train_command(
    opportunities: Path = OpportunitiesOption,
    capabilities: Path = CapabilitiesOption,
    gold: Path = typer.Option(
        ..., "--gold", "-g", help="the FIRST gold set only; never the held-out one"
    ),
    out: Path = typer.Option(..., "--out", help="weights file to write (JSON)"),
    folds: int = typer.Option(5, "--folds", min=FOLDS_MIN, max=FOLDS_MAX),
    seed: int = typer.Option(SEED_DEFAULT, "--seed"),
    cache: Path | None = CacheOption,
    no_cache: bool = NoCacheOption,
) -> None:
    """Fit the learned fusion (both modes), calibrate it on held-out folds, write the weights."""
    from suanli.services import scenes_train

    command = (
        f"suanli scenes train -o {opportunities} -c {capabilities} -g {gold}"
        f" --folds {folds} --seed {seed} --out {out}"
    )
    with err_console.status(t("训练中…", "training…")):
        models = scenes_train.train_files(
            opportunities,
            capabilities,
            gold,
            folds=folds,
            seed=seed,
            cache_path=_cache_path(cache, no_cache),
            command=command,
        )
    scenes_train.write_models(models, out)
    print_json(
        {
            "out": str(out),
            "info": models.info,
            "fused": models.fused.info,
            "lexical_only": models.lexical_only.info,
        }
    )


@app.command("validate")
@handle_errors
def validate_command(
    path: Path = typer.Argument(..., help="CSV or XLSX file"),
    kind: str = typer.Option("opportunities", "--kind", help="opportunities|capabilities"),
    json_output: bool = JsonOption,
) -> None:
    """The validation report of one list file; exit code 2 if any row is invalid."""
    from suanli.services import scenes_files

    report = scenes_files.validate_file(path, _kind(kind))
    if json_output:
        print_json(report.as_dict())
    else:
        _print_report(report)
    if report.errors:
        # the report went to stdout; the verdict, naming rows and fields, goes to stderr
        for problem in report.errors[:WARNINGS_SHOWN_MAX]:
            err_console.print(f"[red]{t('错误', 'error')}:[/red] {escape(problem.line())}")
        raise typer.Exit(2)


KIND_NAMES_ZH = {"opportunities": "需求", "capabilities": "能力"}


def _kind(kind: str) -> ItemKind:
    if kind in ("opportunities", "opportunity", "o"):
        return "opportunities"
    if kind in ("capabilities", "capability", "c"):
        return "capabilities"
    raise typer.BadParameter(
        t("应为 `opportunities` 或 `capabilities`", "opportunities or capabilities")
    )


def _print_report(report: ValidationReport) -> None:
    errors, warnings = len(report.errors), len(report.warnings)
    summary = t(
        f"{report.path}：{report.rows} 行，{errors} 个错误，{warnings} 个警告",
        f"{report.path}: {report.rows} rows, {errors} errors, {warnings} warnings",
    )
    console.print(escape(summary))
    if not report.problems:
        return
    table = Table()
    for header in (t("行", "row"), t("字段", "field"), t("级别", "severity"), t("问题", "problem")):
        table.add_column(header)
    for problem in report.problems:
        severity = t("错误", "error") if problem.severity == "error" else t("警告", "warning")
        table.add_row(str(problem.row), escape(problem.field), severity, escape(problem.message))
    console.print(table)


# ---------------------------------------------------------------- against a running server

IMPORT_FILE_BYTES_MAX = 5 * 1024 * 1024  # the API's upload limit; refused here before sending


@app.command("import")
@handle_errors
def import_command(
    kind: str = typer.Argument(..., help="opportunities | capabilities"),
    path: Path = typer.Argument(..., help="CSV or XLSX file"),
    skip_invalid: bool = SkipInvalidOption,
    batch: int | None = typer.Option(
        None, "--batch", help="batch number N, for rows without a batch"
    ),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Import a list into the platform (all or nothing unless --skip-invalid)."""
    data = path.read_bytes()
    if len(data) > IMPORT_FILE_BYTES_MAX:
        fail(t("文件超过 5 MiB 上限", f"{path.name} is over the 5 MiB upload limit"), 2)
    body = {
        "kind": _kind(kind),
        "filename": path.name,
        "content_base64": base64.b64encode(data).decode(),
        "skip_invalid": skip_invalid,
        "batch": batch,
    }
    result = ApiClient(api_url, token).request("POST", "/v1/scenes/import", json=body)
    if json_output:
        print_json(result)
        return
    noun = KIND_NAMES_ZH.get(kind, kind)
    console.print(
        t(
            f"已导入 {result['created']} 条新{noun}，更新 {result['updated']} 条",
            f"imported {result['created']} new and updated {result['updated']} {kind}",
        )
    )
    problems = result["report"]["problems"]
    _print_warnings(
        [
            t(
                f"第{p['row']}行 `{p['field']}`：{p['problem']}",
                f"row {p['row']}, `{p['field']}`: {p['problem']}",
            )
            for p in problems
        ]
    )


@app.command("export")
@handle_errors
def export_command(
    kind: str = typer.Argument(..., help="opportunities | capabilities"),
    path: Path = typer.Argument(..., help="output .csv or .xlsx"),
    industry: str | None = typer.Option(
        None,
        "--industry",
        help="any name of one industry: GB/T code (C36), Chinese or English name, platform "
        "alias; case and spaces ignored",
    ),
    status: str | None = typer.Option(None, "--status", help="open | matched | closed"),
    batch: int | None = typer.Option(None, "--batch"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
) -> None:
    """Export a stored list to CSV (UTF-8 with BOM) or XLSX, ready to re-import."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("csv", "xlsx"):
        fail(t("导出文件须为 .csv 或 .xlsx", "export to .csv or .xlsx"), 2)
    client = ApiClient(api_url, token)
    params = {"format": fmt, "industry": industry, "status": status, "batch": batch}
    content = client.download(
        f"/v1/scenes/export/{_kind(kind)}",
        params={key: value for key, value in params.items() if value is not None},
    )  # a refusal is reported, typed, by send
    path.write_bytes(content)
    console.print(t(f"已导出到 {path}", f"exported to {path}"))
