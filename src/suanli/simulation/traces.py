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
from suanli.simulation import alibaba
from suanli.simulation.synthetic import synthetic_fleet, synthetic_workload
from suanli.simulation.workload import Fleet, Workload

ALIBABA_2023 = "alibaba-2023"
ALIBABA_2023_DIR = "alibaba-gpu-v2023"
ALIBABA_2023_NODES = "openb_node_list_all_node.csv"
ALIBABA_2023_PODS = "openb_pod_list_{variant}.csv"
ALIBABA_2023_DEFAULT_VARIANT = "default"
SYNTHETIC_PREFIX = "synthetic:"


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
        return synthetic_fleet(_size(name, "fleet"), seed)
    if name == ALIBABA_2023:
        return alibaba.load_fleet(_trace_file(traces_dir, ALIBABA_2023_NODES))
    return alibaba.load_fleet(_csv_path(name, "fleet"))


def load_workload_named(name: str, traces_dir: Path | None, seed: int) -> Workload:
    if name.startswith(SYNTHETIC_PREFIX):
        return synthetic_workload(_size(name, "workload"), seed)
    builtin, _, variant = name.partition(":")
    if builtin == ALIBABA_2023:
        filename = ALIBABA_2023_PODS.format(variant=variant or ALIBABA_2023_DEFAULT_VARIANT)
        return alibaba.load_workload(_trace_file(traces_dir, filename))
    return alibaba.load_workload(_csv_path(name, "workload"))


def _size(name: str, field: str) -> int:
    text = name.removeprefix(SYNTHETIC_PREFIX)
    try:
        return int(text.replace("_", ""))
    except ValueError:
        raise InvalidInput(
            msg(
                f"{name!r}：应为 synthetic:N，N 为整数",
                f"{name!r}: expected synthetic:N with N a whole number",
            ),
            field=field,
        ) from None


def _trace_file(traces_dir: Path | None, filename: str) -> Path:
    if traces_dir is None:
        raise InvalidInput(
            msg(
                "在工作目录及其上级中找不到 shared/traces/alibaba-gpu-v2023；"
                "请把 SUANLI_TRACES_DIR 设为轨迹目录",
                "cannot find shared/traces/alibaba-gpu-v2023 above the working directory; "
                "set SUANLI_TRACES_DIR to the traces folder",
            ),
            field="traces_dir",
        )
    path = traces_dir / ALIBABA_2023_DIR / filename
    if not path.is_file():
        raise InvalidInput(msg(f"没有轨迹文件 {path}", f"no trace file {path}"), field="workload")
    return path


def _csv_path(name: str, field: str) -> Path:
    path = Path(name)
    if not path.is_file():
        raise InvalidInput(
            msg(
                f"`{field}` {name!r} 既不是 {ALIBABA_2023!r}，也不是 synthetic:N 或 CSV 文件",
                f"{field} {name!r} is neither {ALIBABA_2023!r}, synthetic:N, nor a CSV file",
            ),
            field=field,
        )
    return path
