"""Resolving `--fleet` / `--workload` arguments: built-in trace names, synthetic sizes, CSV paths.

The built-in traces are read in place from `shared/traces/` (never copied into the project):
`SUANLI_TRACES_DIR` if set, else the first `shared/traces` holding the trace found in the
ancestors of the working directory or of this package.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from suanli.errors import InvalidInput
from suanli.i18n import msg
from suanli.simulation import alibaba, contended
from suanli.simulation.synthetic import synthetic_fleet, synthetic_workload
from suanli.simulation.trace_csv import shown
from suanli.simulation.workload import Fleet, Workload

ALIBABA_2023 = "alibaba-2023"
ALIBABA_2023_DIR = "alibaba-gpu-v2023"
ALIBABA_2023_NODES = "openb_node_list_all_node.csv"
ALIBABA_2023_PODS = "openb_pod_list_{variant}.csv"
ALIBABA_2023_DEFAULT_VARIANT = "default"
SYNTHETIC_PREFIX = "synthetic:"
PHILLY = "philly-sia"
GAVEL_WORKLOAD = "gavel-msr"
GAVEL_FLEET_PREFIX = "gavel:"


def find_traces_dir(explicit: str | None, starts: Iterable[Path]) -> Path | None:
    """The folder holding the trace folders, or None if there is none to be found."""
    if explicit:
        return Path(explicit)
    for start in starts:
        for folder in (start, *start.parents):
            candidate = folder / "shared" / "traces"
            if (candidate / ALIBABA_2023_DIR).is_dir():
                return candidate
    return None


def default_starts() -> list[Path]:
    return [Path.cwd().resolve(), Path(__file__).resolve().parent]


def load_fleet_named(name: str, traces_dir: Path | None, seed: int) -> Fleet:
    if name.startswith(SYNTHETIC_PREFIX):
        return synthetic_fleet(_size(name, SYNTHETIC_PREFIX, "fleet"), seed)
    if name == ALIBABA_2023:
        return alibaba.load_fleet(_trace_file(traces_dir, ALIBABA_2023_NODES))
    if name == PHILLY:
        return contended.philly_fleet()
    if name.startswith(GAVEL_FLEET_PREFIX):
        return contended.gavel_fleet(_size(name, GAVEL_FLEET_PREFIX, "fleet"))
    return alibaba.load_fleet(_csv_path(name, "fleet"))


def load_workload_named(name: str, traces_dir: Path | None, seed: int) -> Workload:
    if name.startswith(SYNTHETIC_PREFIX):
        return synthetic_workload(_size(name, SYNTHETIC_PREFIX, "workload"), seed)
    builtin, _, variant = name.partition(":")
    if builtin == PHILLY:
        return contended.load_philly(_trace_file(traces_dir, contended.PHILLY_FILE, PHILLY))
    if builtin == GAVEL_WORKLOAD:
        return _gavel_workload(variant, traces_dir)
    if builtin == ALIBABA_2023:
        filename = ALIBABA_2023_PODS.format(variant=variant or ALIBABA_2023_DEFAULT_VARIANT)
        return alibaba.load_workload(_trace_file(traces_dir, filename))
    return alibaba.load_workload(_csv_path(name, "workload"))


def _gavel_workload(folder: str, traces_dir: Path | None) -> Workload:
    """gavel-msr[:DIR]: DIR a path, or a folder under shared/traces/gavel (msr-seed0)."""
    gavel = traces_dir / contended.GAVEL_DIR if traces_dir is not None else None
    path = Path(folder) if folder else None
    if path is None or not path.is_dir():
        if gavel is None:
            raise InvalidInput(_NO_TRACES, field="workload")
        path = gavel / (folder or contended.GAVEL_DEFAULT_TRACES)
    throughputs = (gavel or path.parent) / contended.GAVEL_THROUGHPUTS
    if not throughputs.is_file():
        throughputs = path.parent / contended.GAVEL_THROUGHPUTS
    return contended.load_gavel_traces(path, throughputs)


def _size(name: str, prefix: str, field: str) -> int:
    """N of `<prefix>N` (synthetic:N, gavel:N), said back in the form the user typed."""
    text = name.removeprefix(prefix)
    try:
        return int(text.replace("_", ""))
    except ValueError:
        raise InvalidInput(
            msg(
                f"{shown(name)}：应为 {prefix}N，N 为整数",
                f"{shown(name)}: expected {prefix}N with N a whole number",
            ),
            field=field,
        ) from None


_NO_TRACES = msg(
    "在工作目录及其上级中找不到 shared/traces；请把 SUANLI_TRACES_DIR 设为轨迹目录",
    "cannot find shared/traces above the working directory; "
    "set SUANLI_TRACES_DIR to the traces folder",
)


def _trace_file(traces_dir: Path | None, filename: str, folder: str = ALIBABA_2023_DIR) -> Path:
    if traces_dir is None:
        raise InvalidInput(_NO_TRACES, field="traces_dir")
    path = traces_dir / folder / filename
    if not path.is_file():
        raise InvalidInput(msg(f"没有轨迹文件 {path}", f"no trace file {path}"), field="workload")
    return path


# What --fleet and --workload take besides a CSV file, as their errors list it.
NAMED_FORMS = {
    "fleet": f"{ALIBABA_2023}, {PHILLY}, {GAVEL_FLEET_PREFIX}N, {GAVEL_FLEET_PREFIX}auto[@LOAD], "
    f"{SYNTHETIC_PREFIX}N",
    "workload": f"{ALIBABA_2023}[:variant], {PHILLY}, {GAVEL_WORKLOAD}[:DIR], {SYNTHETIC_PREFIX}N",
}


def _csv_path(name: str, field: str) -> Path:
    """A CSV file given by its path: a regular file (not a folder, not a pipe)."""
    path = Path(name)
    if not path.is_file():
        forms = NAMED_FORMS[field]
        raise InvalidInput(
            msg(
                f"`{field}` {shown(name)} 既不是 {forms.replace(', ', '、')} 之一，也不是 CSV 文件",
                f"{field} {shown(name)} is none of {forms}, nor a CSV file",
            ),
            field=field,
        )
    return path
