"""`suanli simulate packing`: the FGD packing protocol (Weng et al., USENIX ATC '23) on the
Alibaba 2023 node and pod lists, through the placement functions of
`suanli.domain.scheduling.packing`.

Protocol, as the artifact runs it (github.com/hkust-adsl/kubernetes-scheduler-simulator @
8f3d641, pkg/simulator/core.go and simulator.go; docs/scheduling.md cites the lines):
- nodes: `openb_node_list_gpu_node.csv` (1,213 nodes, 6,212 cards, CPU and memory per node);
- pods: the pod list shuffled with the seed, then, while the requested milli-card total stays
  within 130 % of capacity, pods drawn uniformly with replacement from the list are appended
  (tuneUpPods; a list already above 130 % loses random pods instead, tuneDownPods);
- nodes: named in a random order per seed (syncClusterResourceList), so the scheduler's tie
  rule (smallest name) picks a random node among equals, not the node list's first;
- every pod is placed once, in order; nothing departs; a pod no node can take stays unplaced;
- allocation ratio = allocated ÷ total milli-card, read against arrived (requested so far,
  placed or not) ÷ capacity, rounded to whole percent and averaged per percent (the
  artifact's merge_alloc_discrete.py); seeds 42..51.

`suanli` also gets a look-ahead for shares (`domain/scheduling/share_values.py`), measured
by `pilot_records`: one more run of this protocol with a seed of its own (PILOT_SEED),
before the measured seeds, under `suanli` without it. Of the look-ahead's two forms,
`choose_look_ahead` keeps the one that allocates more on the SELECTION_SEEDS' arrivals.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from suanli.domain.scheduling.packing import (
    MILLI,
    PACKING_POLICIES,
    PackingContext,
    PackingNodes,
    PodRequest,
    RecentRequests,
    choose,
    place,
    typical_pods,
)
from suanli.domain.scheduling.share_values import (
    ShareValues,
    estimate_card_values,
    estimate_share_values,
)
from suanli.errors import InvalidInput
from suanli.i18n import msg
from suanli.simulation.synthetic import SEED_MAX
from suanli.simulation.trace_csv import Row, column_error, int_cell, read_rows, shown

NODE_LIST = "openb_node_list_gpu_node.csv"
POD_LIST = "openb_pod_list_{name}.csv"
TRACE_DIR = "alibaba-gpu-v2023"
ARRIVED_MAX = 1.3  # the artifact's -tune 1.3
REPORT_POINTS = (50, 70, 80, 90, 95, 100, 110, 120, 130)  # arrived, % of capacity
CURVE_POINTS = tuple(range(1, 131))  # every percent, for the plot
DEFAULT_SEEDS = tuple(range(42, 52))
SEEDS_MAX = 100
ROWS_MAX = 1_000_000
PODS_MAX = 2_000_000  # resampled pods per run
NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")
POD_COLUMNS = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli")
CPU_MILLI_MAX = 10_000_000
MEMORY_MIB_MAX = 100_000_000

Progress = Callable[[int], None]


@dataclass(frozen=True)
class PodList:
    name: str
    pods: tuple[PodRequest, ...]


@dataclass(frozen=True)
class PolicyCurve:
    """Allocation ratio (0..1) at each arrived percent, per seed."""

    policy: str
    seeds: tuple[int, ...]
    alloc_at: dict[int, tuple[float, ...]]  # arrived percent -> one ratio per seed
    unallocated_cards_at_100: float  # mean over seeds, in whole cards
    look_ahead: LookAhead | None = None  # `suanli`'s, and how it was chosen

    def mean(self, percent: int) -> float:
        values = _finite(self.alloc_at[percent])
        return float(values.mean()) if values.size else math.nan

    def sd(self, percent: int) -> float:
        values = _finite(self.alloc_at[percent])
        return float(values.std(ddof=1)) if values.size > 1 else 0.0

    def as_dict(self) -> dict[str, object]:
        """The `--json` entry: percentages (2 decimals) at the report points."""
        return {
            "alloc_at": {str(p): _json_number(100 * self.mean(p)) for p in REPORT_POINTS},
            "unallocated_gpus_at_100": _json_number(self.unallocated_cards_at_100, 1),
            "sd_at_100": _json_number(100 * self.sd(100)),
        } | ({"look_ahead": self.look_ahead.as_dict()} if self.look_ahead is not None else {})


def _finite(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, np.float64)
    return array[~np.isnan(array)]


def _json_number(value: float, digits: int = 2) -> float | None:
    """NaN (no pod passed that percent) becomes null: JSON has no NaN."""
    return None if math.isnan(value) else round(value, digits)


# ---- loading ------------------------------------------------------------------------------


def load_nodes(path: Path) -> PackingNodes:
    models: dict[str, int] = {}
    model, cards, cpu, memory = [], [], [], []
    for line, row in _rows(path, NODE_COLUMNS):
        gpus = _int(row, "gpu", line, path, 0, 8)
        name = row["model"].strip()
        if gpus == 0:
            continue  # CPU-only nodes take no part in the protocol
        if not name:
            raise column_error(
                path,
                line,
                "model",
                msg(f"为空，而节点有 {gpus} 张 GPU", f"is empty for a node with {gpus} GPUs"),
            )
        model.append(models.setdefault(name, len(models)))
        cards.append(gpus)
        cpu.append(_int(row, "cpu_milli", line, path, 0, CPU_MILLI_MAX))
        memory.append(_int(row, "memory_mib", line, path, 0, MEMORY_MIB_MAX))
    if not cards:
        raise InvalidInput(
            msg(f"{path.name}：没有 GPU 节点", f"{path.name}: no GPU nodes"), field="nodes"
        )
    return PackingNodes.build(tuple(models), model, cards, cpu, memory)


def load_pods(path: Path, nodes: PackingNodes) -> PodList:
    """Every pod of the list (CPU-only ones too: they take CPU and memory on GPU nodes)."""
    ids = {name: index for index, name in enumerate(nodes.models)}
    pods = []
    for line, row in _rows(path, POD_COLUMNS):
        cards = _int(row, "num_gpu", line, path, 0, 8)
        milli = _int(row, "gpu_milli", line, path, 0, MILLI)
        if cards and milli == 0:
            raise column_error(
                path,
                line,
                "gpu_milli",
                msg("用 GPU 的作业至少为 1", "must be at least 1 for a pod with GPUs"),
            )
        if cards > 1 and milli != MILLI:
            raise column_error(
                path,
                line,
                "gpu_milli",
                msg("多 GPU 的作业须为 1000", "must be 1000 for a pod with several GPUs"),
            )
        wanted = [part.strip() for part in (row.get("gpu_spec") or "").split("|") if part.strip()]
        pods.append(
            PodRequest(
                cpu_milli=_int(row, "cpu_milli", line, path, 0, CPU_MILLI_MAX),
                memory_mib=_int(row, "memory_mib", line, path, 0, MEMORY_MIB_MAX),
                cards=cards,
                card_milli=milli if cards else 0,
                models=frozenset(ids.get(name, -1 - index) for index, name in enumerate(wanted)),
            )
        )
    if not pods:
        raise InvalidInput(msg(f"{path.name}：没有作业", f"{path.name}: no pods"), field="pod_list")
    if not any(pod.cards for pod in pods):
        # resampling counts GPU milli toward 130 %: with none it would draw PODS_MAX pods
        raise InvalidInput(
            msg(f"{path.name}：没有要 GPU 的作业", f"{path.name}: no pod asks for a GPU"),
            field="pod_list",
        )
    return PodList(name=path.stem.removeprefix("openb_pod_list_"), pods=tuple(pods))


def pod_list_path(name_or_path: str, traces_dir: Path | None) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".csv" or "/" in name_or_path:
        if not path.is_file():
            raise InvalidInput(msg(f"没有作业列表 {path}", f"no pod list {path}"), field="pod_list")
        return path
    if traces_dir is None:
        raise InvalidInput(
            msg(
                "找不到 shared/traces/alibaba-gpu-v2023；请设置 SUANLI_TRACES_DIR",
                "cannot find shared/traces/alibaba-gpu-v2023; set SUANLI_TRACES_DIR",
            ),
            field="pod_list",
        )
    path = traces_dir / TRACE_DIR / POD_LIST.format(name=name_or_path)
    if not path.is_file():
        known = sorted(
            p.stem.removeprefix("openb_pod_list_")
            for p in (traces_dir / TRACE_DIR).glob("openb_pod_list_*.csv")
        )
        raise InvalidInput(
            msg(
                f"没有作业列表 {name_or_path!r}；已知：{'、'.join(known)}",
                f"no pod list {name_or_path!r}; known: {', '.join(known)}",
            ),
            field="pod_list",
        )
    return path


def node_list_path(traces_dir: Path | None) -> Path:
    if traces_dir is None or not (traces_dir / TRACE_DIR / NODE_LIST).is_file():
        raise InvalidInput(
            msg(
                "找不到 shared/traces/alibaba-gpu-v2023/"
                + NODE_LIST
                + "；请设置 SUANLI_TRACES_DIR",
                "cannot find shared/traces/alibaba-gpu-v2023/"
                + NODE_LIST
                + "; set SUANLI_TRACES_DIR",
            ),
            field="nodes",
        )
    return traces_dir / TRACE_DIR / NODE_LIST


# ---- the protocol -------------------------------------------------------------------------


def arrival_order(pods: Sequence[PodRequest], capacity_milli: int, seed: int) -> list[int]:
    """Indices of the pods in arrival order: the list shuffled, then resampled with
    replacement up to ARRIVED_MAX of capacity (simulator.go tuneUpPods / tuneDownPods)."""
    rng = np.random.default_rng(seed)
    order = [int(index) for index in rng.permutation(len(pods))]
    target = ARRIVED_MAX * capacity_milli
    requested = sum(pods[index].total_milli for index in order)
    while requested > target and order:
        removed = order.pop(int(rng.integers(len(order))))
        requested -= pods[removed].total_milli
    while len(order) < PODS_MAX:
        index = int(rng.integers(len(pods)))
        # the artifact tests the per-card milli here, not the pod's total (kept as is)
        if requested + pods[index].card_milli > target:
            break
        requested += pods[index].total_milli
        order.append(index)
    return order


NODE_ORDER_STREAM = 1  # the seed's second random stream (the first draws the arrivals)


def seed_nodes(nodes: PackingNodes, seed: int) -> tuple[PackingNodes, np.ndarray]:
    """The fleet in the order the seed's run names it. The artifact prefixes every node's
    name with a random `%04d-` before creating it (simulator.go:476-485,
    syncClusterResourceList: `rand.Perm`), and the scheduler gives a tie to the smallest
    name, so ties fall on a random node of the fleet, not on the list's first (the node
    list is sorted by model: ties to the first row pile CPU-only pods onto the same few
    nodes). Returns the reordered copy and, per position, the node's row in the list."""
    order = np.random.default_rng((seed, NODE_ORDER_STREAM)).permutation(len(nodes.cards))
    return nodes.reordered(order), order


def run_seed(
    nodes: PackingNodes,
    pods: Sequence[PodRequest],
    policy: str,
    seed: int,
    progress: Progress | None = None,
    share_values: ShareValues | None = None,
    until_arrived: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Places the seed's arrivals once each (with `until_arrived`, only up to the first pod
    past that fraction of capacity); returns arrived and allocated milli after each."""
    state, _ = seed_nodes(nodes, seed)
    order = arrival_order(pods, state.milli_capacity, seed)
    if until_arrived is not None:
        order = order[: _arrivals_until(pods, order, until_arrived * state.milli_capacity)]
    context = _context(pods, state, seed, share_values)
    arrived = np.empty(len(order), np.int64)
    allocated = np.empty(len(order), np.int64)
    requested = used = 0
    for step, index in enumerate(order):
        pod = pods[index]
        choice = choose(policy, state, pod, context)
        if choice is not None:
            place(state, choice, pod)
            used += pod.total_milli
        requested += pod.total_milli
        arrived[step], allocated[step] = requested, used
        if progress is not None and step % 256 == 0:
            progress(step)
    return arrived, allocated


def _arrivals_until(pods: Sequence[PodRequest], order: Sequence[int], limit: float) -> int:
    """How many of `order`'s pods arrive up to the first one past `limit` milli."""
    requested = np.cumsum([pods[index].total_milli for index in order])
    return min(int(np.searchsorted(requested, limit, side="right")) + 1, len(order))


def _context(
    pods: Sequence[PodRequest], state: PackingNodes, seed: int, values: ShareValues | None
) -> PackingContext:
    return PackingContext(
        typical=typical_pods(pods, len(state.models)),
        rng=np.random.default_rng(seed),
        recent=RecentRequests(len(state.models)),
        share_values=values,
    )


PILOT_SEED = 1001  # the pilot's arrivals: a seed of its own, outside every measured one
PILOT_POLICY = "suanli"  # the policy the pilot's values are measured under (without them)
SELECTION_SEEDS = (1002, 1003, 1004)  # arrivals the look-ahead's form is chosen on
NODE_CPU, CARD_LEVEL = "node-cpu", "card-level"  # the look-ahead's forms (round five, four)
LOOK_AHEAD_FORMS = (NODE_CPU, CARD_LEVEL)  # the candidates, preferred first on a tie
SELECTION_ARRIVED = 1.01  # a selection run stops here: past every pod read at 100 %


@dataclass(frozen=True)
class PilotRecords:
    """What the pilot saw. After each placement: the touched node's cards, its free CPU, and
    those cards' free milli at the pilot's end (`estimate_share_values`, form "node-cpu").
    After each share: its card's free milli then and at the end (`estimate_card_values`,
    form "card-level", round four's)."""

    card_left: np.ndarray  # (R, cards)
    cpu_left: np.ndarray  # (R,)
    final_left: np.ndarray  # (R, cards)
    share_left: np.ndarray  # (S,)
    share_final: np.ndarray  # (S,)

    def values(self, form: str) -> ShareValues:
        if form == CARD_LEVEL:
            return estimate_card_values(self.share_left, self.share_final)
        return estimate_share_values(self.card_left, self.cpu_left, self.final_left)


@dataclass(frozen=True)
class LookAhead:
    """The look-ahead `suanli` runs with, and the selection runs it was chosen by."""

    form: str
    values: ShareValues
    alloc_at_100: dict[str, float]  # form -> mean allocation at 100 % over SELECTION_SEEDS
    steps: int  # pods the selection runs placed (for the progress bar)

    def as_dict(self) -> dict[str, object]:
        return {
            "form": self.form,
            "selection_seeds": list(SELECTION_SEEDS),
            "alloc_at_100": {f: _json_number(100 * a) for f, a in self.alloc_at_100.items()},
        }


def pilot_records(
    nodes: PackingNodes, pods: Sequence[PodRequest], seed: int = PILOT_SEED
) -> PilotRecords:
    """The protocol run once on the same fleet and pod list with arrivals of its own seed,
    placed by `suanli` without the look-ahead, up to 100 % arrived."""
    state, _ = seed_nodes(nodes, seed)
    order = arrival_order(pods, state.milli_capacity, seed)
    context = _context(pods, state, seed, None)
    touched: list[int] = []
    card_left: list[np.ndarray] = []
    cpu_left: list[int] = []
    shared: list[tuple[int, int, int]] = []  # node, card, free milli right after
    requested = 0
    for index in order:
        pod = pods[index]
        requested += pod.total_milli
        if requested > state.milli_capacity:
            break
        choice = choose(PILOT_POLICY, state, pod, context)
        if choice is None:
            continue
        place(state, choice, pod)
        node = choice.node
        touched.append(node)
        card_left.append(state.card_left[node].copy())
        cpu_left.append(int(state.cpu_left[node]))
        if pod.shares_a_card:
            card = choice.slots[0]
            shared.append((node, card, int(state.card_left[node, card])))
    cards, where = state.card_left.shape[1], np.array(shared, np.int64).reshape(-1, 3)
    return PilotRecords(
        np.array(card_left, np.int64).reshape(-1, cards),
        np.array(cpu_left, np.int64),
        state.card_left[touched].reshape(-1, cards),
        where[:, 2],
        state.card_left[where[:, 0], where[:, 1]],
    )


def choose_look_ahead(
    nodes: PackingNodes, pods: Sequence[PodRequest], progress: Progress | None = None
) -> LookAhead:
    """Which form of the look-ahead serves this pod list better, judged the protocol's way:
    each form runs on the SELECTION_SEEDS' arrivals (never a measured seed's) and the one with
    the higher mean allocation at 100 % arrived wins, the first form on a tie. Seeing the
    node's CPU wins on most lists; on some share-heavy ones (gpushare60) the card's level
    alone does better, and the pilot alone cannot tell which (docs/scheduling.md, "Round
    six")."""
    records = pilot_records(nodes, pods)
    values = {form: records.values(form) for form in LOOK_AHEAD_FORMS}
    scores: dict[str, float] = {}
    done = 0
    for form in LOOK_AHEAD_FORMS:
        ratios = []
        for seed in SELECTION_SEEDS:
            arrived, allocated = run_seed(
                nodes,
                pods,
                PILOT_POLICY,
                seed,
                _offset(progress, done),
                values[form],
                SELECTION_ARRIVED,
            )
            done += len(arrived)
            ratios.append(alloc_at_points(arrived, allocated, nodes.milli_capacity, (100,))[100])
        scores[form] = float(np.mean(ratios))
    best = max(LOOK_AHEAD_FORMS, key=lambda form: scores[form])
    return LookAhead(best, values[best], scores, done)


def alloc_at_points(
    arrived: np.ndarray,
    allocated: np.ndarray,
    capacity_milli: int,
    points: Sequence[int] = CURVE_POINTS,
) -> dict[int, float]:
    """Allocation ratio at each report point: the mean over the pods whose arrived percent
    rounds to it (± 1 percent when none does), as merge_alloc_discrete.py reads the log."""
    arrived_pct = np.round(arrived / capacity_milli * 100)
    ratio = allocated / capacity_milli
    out: dict[int, float] = {}
    for point in points:
        hit = arrived_pct == point
        if not hit.any():
            hit = np.abs(arrived_pct - point) <= 1
        out[point] = float(ratio[hit].mean()) if hit.any() else math.nan
    return out


def run_policy(
    nodes: PackingNodes,
    pods: Sequence[PodRequest],
    policy: str,
    seeds: Sequence[int],
    progress: Progress | None = None,
) -> PolicyCurve:
    per_seed: dict[int, list[float]] = {point: [] for point in CURVE_POINTS}
    look_ahead = choose_look_ahead(nodes, pods, progress) if policy == PILOT_POLICY else None
    values = look_ahead.values if look_ahead is not None else None
    done = look_ahead.steps if look_ahead is not None else 0
    for seed in seeds:
        arrived, allocated = run_seed(nodes, pods, policy, seed, _offset(progress, done), values)
        done += len(arrived)
        for point, value in alloc_at_points(arrived, allocated, nodes.milli_capacity).items():
            per_seed[point].append(value)
    return PolicyCurve(
        policy=policy,
        seeds=tuple(seeds),
        alloc_at={point: tuple(values) for point, values in per_seed.items()},
        unallocated_cards_at_100=(1.0 - float(_finite(per_seed[100]).mean()))
        * nodes.milli_capacity
        / MILLI
        if _finite(per_seed[100]).size
        else math.nan,
        look_ahead=look_ahead,
    )


def parse_policies(text: str | None) -> tuple[str, ...]:
    """p1,p2 (None: every policy; given but empty, as `--policies ""`, is refused)."""
    if text is None:
        return tuple(PACKING_POLICIES)
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not names:
        raise InvalidInput(
            msg("--policies 没有给出策略", "--policies: no policy given"), field="policies"
        )
    unknown = [name for name in names if name not in PACKING_POLICIES]
    if unknown:
        raise InvalidInput(
            msg(
                f"未知装箱策略 {', '.join(map(repr, unknown))}；"
                f"已知：{'、'.join(PACKING_POLICIES)}",
                f"unknown packing policy {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(PACKING_POLICIES)}",
            ),
            field="policies",
        )
    return names


def parse_seeds(text: str | None) -> tuple[int, ...]:
    """`42..51` or `42,43` (None: DEFAULT_SEEDS). The count is checked before a range is
    built: `0..1000000000` must not build a billion seeds to refuse them."""
    if text is None:
        return DEFAULT_SEEDS
    try:
        if ".." in text:
            low, high = (int(part) for part in text.split("..", 1))
            if not 1 <= high - low + 1 <= SEEDS_MAX:
                raise _seeds_refused()
            seeds: Sequence[int] = range(low, high + 1)
        else:
            parts = text.split(",")
            if len(parts) > SEEDS_MAX:
                raise _seeds_refused()
            seeds = [int(part) for part in parts if part.strip()]
    except ValueError:
        raise InvalidInput(
            msg(
                f"--seeds {shown(text)}：应为 A..B 或 A,B,C",
                f"--seeds {shown(text)}: expected A..B or A,B,C",
            ),
            field="seeds",
        ) from None
    if not 1 <= len(seeds) <= SEEDS_MAX or min(seeds) < 0 or max(seeds) > SEED_MAX:
        raise _seeds_refused()
    return tuple(seeds)


def _seeds_refused() -> InvalidInput:
    return InvalidInput(
        msg(
            f"--seeds：须为 1 至 {SEEDS_MAX} 个 0 至 2^63 − 1 之间的种子",
            f"--seeds: 1 to {SEEDS_MAX} seeds, each in [0, 2^63 − 1]",
        ),
        field="seeds",
    )


def _offset(progress: Progress | None, done: int) -> Progress | None:
    if progress is None:
        return None
    return lambda step: progress(done + step)


# ---- CSV ----------------------------------------------------------------------------------


def _rows(path: Path, required: tuple[str, ...]) -> list[Row]:
    return read_rows(path, required, rows_max=ROWS_MAX, bad=column_error)


def _int(row: dict[str, str], column: str, line: int, path: Path, low: int, high: int) -> int:
    return int_cell(row, column, line, path, (low, high), column_error)
