"""Card-sharing placement: which node, and which card on it, takes a request for CPU, memory
and either a fraction of one card (`gpu_milli` < 1000) or whole cards.

The state is a `PackingNodes` table (one row per node: model, CPU and memory left, and the free
milli of each card, at most `CARD_SLOTS` cards). A policy scores every node that can take the
request (`feasible_nodes`) with NumPy and picks the highest score, ties to the lowest node
index; for a fraction it also picks the card. The live placement of fractional jobs and
`suanli simulate packing` call the same functions.

The artifact policies follow the FGD simulator (Weng et al., USENIX ATC '23,
github.com/hkust-adsl/kubernetes-scheduler-simulator @ 8f3d641); docs/scheduling.md cites the
file and line of each. Scores are the artifact's integers (Kubernetes scores 0..100, truncated),
because its truncation creates ties that decide where pods land.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from suanli.errors import InvalidInput
from suanli.i18n import msg

if TYPE_CHECKING:  # share_values imports this module's constants
    from suanli.domain.scheduling.share_values import ShareValues

MILLI = 1000  # one whole card
CARD_SLOTS = 8  # cards per node the table holds (the artifact's MaxNumGpuPerNode)
MAX_SPEC_CPU_MILLI = 128_000  # the artifact's normaliser for CPU (gpushareutils.MaxSpecCpu)
MAX_SPEC_GPU_MILLI = 8_000  # and for cards (gpushareutils.MaxSpecGpu)
MAX_SCORE = 100  # Kubernetes framework.MaxNodeScore
TYPICAL_SHARE = 0.95  # typical pods: the most frequent specs covering 95 % of pods
TYPICAL_SPECS_MAX = 1_000

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# GPU-clustering tags: what a node's pods asked for (gpushareutils.GetGpuAffinityFromPodAnnotation)
SHARE_TAG = 0  # a fraction of one card; tag k (1..8) = k whole cards


@dataclass(frozen=True)
class PodRequest:
    """One placement request. `models`: allowed model ids (empty = any)."""

    cpu_milli: int
    memory_mib: int
    cards: int  # 0 = CPU only
    card_milli: int  # per card; < MILLI only with cards == 1
    models: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if self.cards < 0 or self.cards > CARD_SLOTS:
            raise InvalidInput(
                msg(f"`cards` 须在 0 至 {CARD_SLOTS} 之间", f"cards must be in [0, {CARD_SLOTS}]"),
                field="cards",
            )
        if self.cards and not 0 < self.card_milli <= MILLI:
            raise InvalidInput(
                msg(f"`card_milli` 须在 1 至 {MILLI} 之间", f"card_milli must be in [1, {MILLI}]"),
                field="card_milli",
            )
        if self.cards > 1 and self.card_milli != MILLI:
            raise InvalidInput(
                msg("多张卡的作业只能用整卡", "several cards are always whole cards"),
                field="card_milli",
            )

    @property
    def total_milli(self) -> int:
        return self.cards * self.card_milli

    @property
    def shares_a_card(self) -> bool:
        return self.cards == 1 and self.card_milli < MILLI

    @property
    def tag(self) -> int:
        return SHARE_TAG if self.shares_a_card else self.cards


@dataclass
class PackingNodes:
    """Per-node free capacity. Mutated only through `place`."""

    models: tuple[str, ...]  # model id -> name
    model: IntArray  # (N,) model id of each node
    cards: IntArray  # (N,) cards per node
    cpu_capacity: IntArray  # (N,) milli-CPU
    cpu_left: IntArray  # (N,)
    memory_left: IntArray  # (N,) MiB
    card_left: IntArray  # (N, CARD_SLOTS) free milli per card; 0 past the node's cards
    tags: IntArray = field(default_factory=lambda: np.zeros((0, CARD_SLOTS + 1), np.int64))

    @classmethod
    def build(
        cls,
        models: Sequence[str],
        model: Sequence[int],
        cards: Sequence[int],
        cpu_milli: Sequence[int],
        memory_mib: Sequence[int],
    ) -> PackingNodes:
        card_counts = np.asarray(cards, np.int64)
        if card_counts.size and (card_counts.min() < 0 or card_counts.max() > CARD_SLOTS):
            raise InvalidInput(
                msg(f"一个节点有 0..{CARD_SLOTS} 张卡", f"a node has 0..{CARD_SLOTS} cards"),
                field="cards",
            )
        slots = np.arange(CARD_SLOTS)
        card_left = np.where(slots[None, :] < card_counts[:, None], MILLI, 0).astype(np.int64)
        cpu = np.asarray(cpu_milli, np.int64)
        return cls(
            models=tuple(models),
            model=np.asarray(model, np.int64),
            cards=card_counts,
            cpu_capacity=cpu.copy(),
            cpu_left=cpu.copy(),
            memory_left=np.asarray(memory_mib, np.int64).copy(),
            card_left=card_left,
            tags=np.zeros((len(card_counts), CARD_SLOTS + 1), np.int64),
        )

    def copy(self) -> PackingNodes:
        return PackingNodes(
            models=self.models,
            model=self.model,
            cards=self.cards,
            cpu_capacity=self.cpu_capacity,
            cpu_left=self.cpu_left.copy(),
            memory_left=self.memory_left.copy(),
            card_left=self.card_left.copy(),
            tags=self.tags.copy(),
        )

    def reordered(self, order: IntArray) -> PackingNodes:
        """A copy whose node i is this table's node `order[i]` (the tie rule, lowest index,
        then follows the new order)."""
        return PackingNodes(
            models=self.models,
            model=self.model[order],
            cards=self.cards[order],
            cpu_capacity=self.cpu_capacity[order],
            cpu_left=self.cpu_left[order],
            memory_left=self.memory_left[order],
            card_left=self.card_left[order],
            tags=self.tags[order],
        )

    @property
    def milli_capacity(self) -> int:
        return int(self.cards.sum()) * MILLI

    @property
    def milli_allocated(self) -> int:
        return self.milli_capacity - int(self.card_left.sum())


@dataclass(frozen=True)
class Choice:
    node: int
    slots: tuple[int, ...]  # card indices on the node, one per card asked for


def model_mask(nodes: PackingNodes, pod: PodRequest) -> BoolArray:
    if not pod.models:
        return np.ones(len(nodes.model), bool)
    return np.isin(nodes.model, np.fromiter(pod.models, np.int64))


def feasible_nodes(nodes: PackingNodes, pod: PodRequest) -> IntArray:
    """Indices of the nodes that can take the pod now (CPU, memory, model, cards)."""
    ok = (nodes.cpu_left >= pod.cpu_milli) & (nodes.memory_left >= pod.memory_mib)
    if pod.cards:
        if pod.models:  # none named: any model (a mask of ones would cost a call or two)
            ok &= model_mask(nodes, pod)
        if pod.shares_a_card:  # some card fits: the roomiest does (one reduction, no temporary)
            ok &= nodes.card_left.max(axis=1) >= pod.card_milli
        else:
            ok &= (nodes.card_left == MILLI).sum(axis=1) >= pod.cards
    return ok.nonzero()[0]


def place(nodes: PackingNodes, choice: Choice, pod: PodRequest) -> None:
    """Takes the pod's resources on the chosen node and cards; refuses an over-allocation."""
    node, slots = choice.node, list(choice.slots)
    if len(slots) != pod.cards or len(set(slots)) != len(slots):
        raise InvalidInput(
            msg(
                "每要一张卡，选择中须给出一张不同的卡",
                "a choice names one distinct card per card asked for",
            ),
            field="slots",
        )
    if nodes.cpu_left[node] < pod.cpu_milli or nodes.memory_left[node] < pod.memory_mib:
        raise InvalidInput(
            msg(f"节点 {node} 的 CPU 或内存不足", f"node {node} lacks CPU or memory"), field="node"
        )
    if slots and (nodes.card_left[node, slots] < pod.card_milli).any():
        raise InvalidInput(
            msg(f"节点 {node} 的卡容量不足", f"node {node} lacks card capacity"), field="slots"
        )
    nodes.cpu_left[node] -= pod.cpu_milli
    nodes.memory_left[node] -= pod.memory_mib
    nodes.card_left[node, slots] -= pod.card_milli
    if pod.cards:
        nodes.tags[node, pod.tag] += 1


def whole_card_slots(left: IntArray, cards: int) -> tuple[int, ...]:
    """The first `cards` wholly free cards (simontype.AllocateExclusiveGpuId)."""
    return tuple(int(slot) for slot in np.flatnonzero(left == MILLI)[:cards])


def tightest_card(left: IntArray, milli: int) -> int:
    """The fitting card with the least free milli, lowest index on ties (best-fit card)."""
    fitting = np.where(left >= milli, left, MILLI + 1)
    return int(np.argmin(fitting))


def default_slots(nodes: PackingNodes, node: int, pod: PodRequest) -> tuple[int, ...]:
    if not pod.cards:
        return ()
    left = nodes.card_left[node]
    if pod.shares_a_card:
        return (tightest_card(left, pod.card_milli),)
    return whole_card_slots(left, pod.cards)


def first_best(scores: npt.NDArray[np.floating] | IntArray, candidates: IntArray) -> int:
    """The candidate with the highest score; ties to the lowest node index (the artifact sorts
    node names, which are zero-padded indices)."""
    return int(candidates[int(np.argmax(scores))])


# ---- the artifact's scores, vectorised over candidate nodes -------------------------------


def best_fit_scores(nodes: PackingNodes, pod: PodRequest, candidates: IntArray) -> IntArray:
    """best_fit_score.go: less CPU and card milli left after placing = higher; then the
    plugin's min-max NormalizeScore over the candidates."""
    cpu_after = (nodes.cpu_left[candidates] - pod.cpu_milli) / MAX_SPEC_CPU_MILLI
    gpu_after = (nodes.card_left[candidates].sum(axis=1) - pod.total_milli) / MAX_SPEC_GPU_MILLI
    raw = np.trunc((1.0 - (0.5 * cpu_after + 0.5 * gpu_after)) * MAX_SCORE).astype(np.int64)
    low, high = int(raw.min()), int(raw.max())
    if high == low:
        return np.zeros_like(raw)
    return (raw - low) * MAX_SCORE // (high - low)


def dot_product_scores(nodes: PackingNodes, pod: PodRequest, candidates: IntArray) -> IntArray:
    """dot_product_score.go with dimext=merge, norm=max: 1 - <free, request> / 2, both
    normalised by the largest node spec; the smaller the dot product, the higher the score."""
    free_cpu = nodes.cpu_left[candidates] / MAX_SPEC_CPU_MILLI
    free_gpu = nodes.card_left[candidates].sum(axis=1) / MAX_SPEC_GPU_MILLI
    dot = free_cpu * (pod.cpu_milli / MAX_SPEC_CPU_MILLI) + free_gpu * (
        pod.total_milli / MAX_SPEC_GPU_MILLI
    )
    return np.trunc(MAX_SCORE * (1.0 - dot / 2.0)).astype(np.int64)


def gpu_packing_scores(nodes: PackingNodes, pod: PodRequest, candidates: IntArray) -> IntArray:
    """gpu_packing_score.go: prefer cards already in use (the fuller the better), then nodes
    already in use, then idle nodes."""
    if not pod.cards:
        return np.zeros(len(candidates), np.int64)
    left = nodes.card_left[candidates]
    free = (left == MILLI).sum(axis=1)
    idle = free == nodes.cards[candidates]
    # the cards the artifact would use: ascending free milli, the first `cards` that fit
    order = np.argsort(np.where(left > 0, left, MILLI + 1), axis=1, kind="stable")
    ordered = np.take_along_axis(left, order, axis=1)
    fits = ordered >= pod.card_milli
    used = fits & (np.cumsum(fits, axis=1) <= pod.cards)
    whole_used = (used & (ordered == MILLI)).sum(axis=1)
    partial = MAX_SCORE - ((ordered * 100 // MILLI) * used).sum(axis=1) // 10
    scores = np.where(
        whole_used > 0,
        np.maximum(MAX_SCORE // 2 - whole_used, MAX_SCORE // 3),
        np.maximum(partial, MAX_SCORE // 2),
    )
    return np.where(idle, np.maximum(MAX_SCORE // 3 - free, free), scores).astype(np.int64)


def gpu_clustering_scores(nodes: PackingNodes, pod: PodRequest, candidates: IntArray) -> IntArray:
    """gpu_clustering_score.go: prefer nodes whose pods asked for the same kind of request
    (fraction, 1, 2, 4, 8 cards), then idle nodes; within a band, fuller nodes."""
    if not pod.cards:
        return np.zeros(len(candidates), np.int64)
    tags = nodes.tags[candidates]
    kinds = (tags > 0).sum(axis=1)
    same = tags[:, pod.tag] > 0
    quarter = MAX_SCORE // 4
    fill = quarter * (MAX_SPEC_GPU_MILLI - nodes.card_left[candidates].sum(axis=1))
    fill = fill // MAX_SPEC_GPU_MILLI
    band = np.where(
        same, np.where(kinds == 1, 3 * quarter, 2 * quarter), np.where(kinds == 0, quarter, 0)
    )
    return (fill + band).astype(np.int64)


# ---- fragmentation (FGD) ------------------------------------------------------------------


@dataclass(frozen=True)
class TypicalPods:
    """A distribution of requests: FGD's "target workload". Arrays are aligned per spec."""

    cpu_milli: IntArray
    cards: IntArray
    card_milli: IntArray
    weight: FloatArray  # sums to 1
    accessible: BoolArray  # (models, specs): may the spec run on a node of this model?
    thresholds: IntArray  # the distinct card_milli of the specs that ask for cards
    threshold_index: IntArray  # per spec, its card_milli's index in thresholds
    pinned: bool = False  # does a spec that takes cards run on some models only?


def typical_pods(
    pods: Sequence[PodRequest], model_count: int, share: float = TYPICAL_SHARE
) -> TypicalPods:
    """The most frequent request specs covering `share` of the pods (frag.go GetTypicalPods:
    count identical specs, most frequent first, keep them until `share` is covered, weights
    renormalised)."""
    if not pods:
        raise InvalidInput(
            msg("典型作业至少需要一个作业", "typical pods need at least one pod"), field="pods"
        )
    counts: dict[SpecKey, int] = {}
    for pod in pods:
        key = spec_key(pod)
        counts[key] = counts.get(key, 0) + 1
    return typical_from_counts(counts, model_count, share)


SpecKey = tuple[int, int, int, tuple[int, ...]]  # (CPU milli, card milli or 0, cards, models)


def spec_key(pod: PodRequest) -> SpecKey:
    return (pod.cpu_milli, pod.card_milli if pod.cards else 0, pod.cards, tuple(sorted(pod.models)))


def typical_from_counts(
    counts: dict[SpecKey, int], model_count: int, share: float = TYPICAL_SHARE
) -> TypicalPods:
    """`typical_pods` from the count of each spec (a window that keeps counts as it slides
    needs no pass over its pods)."""
    total = sum(counts.values())
    if total <= 0:
        raise InvalidInput(
            msg("典型作业至少需要一个作业", "typical pods need at least one pod"), field="pods"
        )
    ranked = sorted(counts.items(), key=lambda item: (item[1], item[0]), reverse=True)
    kept: list[tuple[SpecKey, int]] = []
    covered = 0
    for key, count in ranked[:TYPICAL_SPECS_MAX]:
        if covered >= share * total:
            break
        kept.append((key, count))
        covered += count
    return _typical(kept, model_count)


def _typical(
    kept: Sequence[tuple[tuple[int, int, int, tuple[int, ...]], float]], model_count: int
) -> TypicalPods:
    total = float(sum(count for _, count in kept))
    accessible = np.ones((model_count, len(kept)), bool)
    for column, ((_, _, _, models), _) in enumerate(kept):
        if models:
            accessible[:, column] = np.isin(np.arange(model_count), models)
    card_milli = np.array([key[1] for key, _ in kept], np.int64)
    thresholds = np.unique(card_milli[card_milli > 0])
    if not thresholds.size:
        thresholds = np.array([MILLI], np.int64)
    index = np.minimum(np.searchsorted(thresholds, np.maximum(card_milli, 1)), len(thresholds) - 1)
    cards = np.array([key[2] for key, _ in kept], np.int64)
    return TypicalPods(
        cpu_milli=np.array([key[0] for key, _ in kept], np.int64),
        card_milli=card_milli,
        cards=cards,
        weight=np.array([count / total for _, count in kept], np.float64),
        accessible=accessible,
        thresholds=thresholds,
        threshold_index=index,
        pinned=bool((~accessible.all(axis=0) & (cards > 0)).any()),
    )


@dataclass(frozen=True)
class CardFeatures:
    """What fragmentation needs of a node's cards, per threshold m of `TypicalPods.thresholds`:
    how many cards have ≥ m free, and the free milli on cards with < m free."""

    count_at_least: IntArray  # (..., M)
    milli_below: IntArray  # (..., M)
    total: IntArray  # (...)


def card_features(left: IntArray, thresholds: IntArray) -> CardFeatures:
    at_least = left[..., None] >= thresholds
    return CardFeatures(
        count_at_least=at_least.sum(axis=-2),
        milli_below=np.where(at_least, 0, left[..., None]).sum(axis=-2),
        total=left.sum(axis=-1),
    )


def fragmentation(
    typical: TypicalPods, model: IntArray, cpu_left: IntArray, features: CardFeatures
) -> FloatArray:
    """Expected free milli no typical pod can use (frag.go NodeGpuShareFragAmountScore): per
    spec, all free milli if the node cannot host it (CPU, model or cards), else only the milli
    on cards too small for it; CPU-only specs count all free milli. Weighted by frequency.
    All arrays are per candidate state (C,)."""
    amount = fragmented_milli(typical, model, cpu_left, features)
    return np.asarray(amount @ typical.weight, np.float64)


def fragmented_milli(
    typical: TypicalPods, model: IntArray, cpu_left: IntArray, features: CardFeatures
) -> IntArray:
    """`fragmentation` before its weighting: (C, specs) free milli each spec cannot use."""
    index = typical.threshold_index
    counts = features.count_at_least[..., index]  # (..., T)
    below = features.milli_below[..., index]
    accessible = typical.accessible[model]  # (C, T)
    satisfied = (
        accessible
        & (cpu_left[..., None] >= typical.cpu_milli)
        & (counts >= typical.cards)
        & (typical.card_milli > 0)
    )
    return np.where(satisfied, below, features.total[..., None])


def sigmoid_score(delta: FloatArray) -> IntArray:
    """fgd_score.go: int64(sigmoid(Δfrag / 1000) × 100)."""
    return np.trunc(MAX_SCORE / (1.0 + np.exp(-delta / MILLI))).astype(np.int64)


@dataclass(frozen=True)
class FragmentationDeltas:
    """Fragmentation before and after placing the pod on each candidate (per card for a
    fraction: (C, CARD_SLOTS), NaN where the card cannot take it; else (C, 1))."""

    before: FloatArray
    after: FloatArray

    @property
    def reduction(self) -> FloatArray:
        return self.before[:, None] - self.after


def fragmentation_deltas(
    nodes: PackingNodes, pod: PodRequest, candidates: IntArray, typical: TypicalPods
) -> FragmentationDeltas:
    thresholds = typical.thresholds
    left = nodes.card_left[candidates]
    model = nodes.model[candidates]
    cpu = nodes.cpu_left[candidates]
    if pod.shares_a_card:
        return _share_deltas(pod, left, model, cpu, typical)
    before_features = card_features(left, thresholds)
    before = fragmentation(typical, model, cpu, before_features)
    cpu_after = cpu - pod.cpu_milli
    # whole cards: wholly free cards leave; each counted at every threshold (all are at most
    # a card) and never below one, so the features shift without a second pass over the cards
    after_features = CardFeatures(
        count_at_least=before_features.count_at_least - pod.cards,
        milli_below=before_features.milli_below,
        total=before_features.total - pod.cards * MILLI,
    )
    after = fragmentation(typical, model, cpu_after, after_features)
    return FragmentationDeltas(before, after[:, None])


def _share_deltas(
    pod: PodRequest, left: IntArray, model: IntArray, cpu: IntArray, typical: TypicalPods
) -> FragmentationDeltas:
    """Fragmentation before, per candidate, and after the fraction lands on card s of
    candidate c, (C, CARD_SLOTS): NaN where the card cannot take it, and on a card whose free
    milli equals an earlier card's on the same node (same outcome: the earlier card is the
    one chosen). The rows after are the candidates' rows with that card lowered; one pass
    over the stacked rows counts both (integers: the same counts as a pass each, in half the
    NumPy calls), and each block keeps its own matrix product, so every float is as before."""
    earlier_same = (left[:, :, None] == left[:, None, :]) & _EARLIER
    rows, cols = np.nonzero((left >= pod.card_milli) & ~earlier_same.any(axis=2))
    lowered = left[rows]
    lowered[np.arange(rows.size), cols] -= pod.card_milli
    amounts = fragmented_milli(
        typical,
        np.concatenate((model, model[rows])),
        np.concatenate((cpu, cpu[rows] - pod.cpu_milli)),
        card_features(np.concatenate((left, lowered)), typical.thresholds),
    )
    count = left.shape[0]
    after = np.full(left.shape, np.nan)
    after[rows, cols] = np.asarray(amounts[count:] @ typical.weight, np.float64)
    return FragmentationDeltas(np.asarray(amounts[:count] @ typical.weight, np.float64), after)


DISTINCT_BY_DICT_MAX = 64
_EARLIER = np.tri(CARD_SLOTS, CARD_SLOTS, -1, dtype=bool)  # [s, t]: card t comes before card s


def distinct_states(nodes: PackingNodes, candidates: IntArray) -> IntArray:
    """The lowest-index candidate of each distinct node state (model, CPU left, multiset of free
    card milli). Scores that depend only on the state tie within a group, and ties go to the
    lowest index, so the others can never be chosen: dropping them changes no decision and
    saves most of the work while many nodes are alike (idle nodes of one shape, early on)."""
    if candidates.size < 2:
        return candidates
    if candidates.size <= DISTINCT_BY_DICT_MAX:  # a live pool's few nodes: a dict is faster
        sorted_cards = nodes.card_left[candidates]  # a copy (fancy index): sorted in place
        sorted_cards.sort(axis=1)
        cards = sorted_cards.tolist()
        models, cpus = nodes.model[candidates].tolist(), nodes.cpu_left[candidates].tolist()
        first_at: dict[tuple[int, int, tuple[int, ...]], int] = {}
        for position, (model, cpu, left) in enumerate(zip(models, cpus, cards, strict=True)):
            first_at.setdefault((model, cpu, tuple(left)), position)
        if len(first_at) == candidates.size:  # all distinct (always so on a second call)
            return candidates
        return candidates[list(first_at.values())]  # in order: positions only grow
    keys = np.column_stack(
        (
            nodes.model[candidates],
            nodes.cpu_left[candidates],
            np.sort(nodes.card_left[candidates], axis=1),
        )
    )
    _, first = np.unique(keys, axis=0, return_index=True)
    return candidates[np.sort(first)]


def fgd_choice(
    nodes: PackingNodes, pod: PodRequest, candidates: IntArray, typical: TypicalPods
) -> Choice:
    """fgd_score.go: the node (and card) whose placement reduces fragmentation the most, on
    the artifact's integer score; ties to the lowest node, then the lowest card."""
    candidates = distinct_states(nodes, candidates)
    deltas = fragmentation_deltas(nodes, pod, candidates, typical)
    reduction = deltas.reduction
    unusable = np.isnan(reduction)
    scores = np.where(unusable, -1, sigmoid_score(np.where(unusable, 0.0, reduction)))
    slot_of = np.argmax(scores, axis=1)
    node_scores = scores[np.arange(len(candidates)), slot_of]
    position = int(np.argmax(node_scores))
    node = int(candidates[position])
    if pod.shares_a_card:
        return Choice(node, (int(slot_of[position]),))
    return Choice(node, default_slots(nodes, node, pod))


# ---- policies -----------------------------------------------------------------------------


@dataclass
class PackingContext:
    """What a packing policy may consult besides the nodes: the target distribution (FGD),
    the recent requests (suanli's own), a random generator (random) and, for suanli's own,
    the expected waste of each free level of a card (`share_values`, from a pilot run)."""

    typical: TypicalPods | None = None
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    recent: RecentRequests | None = None
    share_values: ShareValues | None = None


class PackingPolicy(Protocol):
    def __call__(
        self, nodes: PackingNodes, pod: PodRequest, candidates: IntArray, context: PackingContext
    ) -> Choice: ...


ScoreFn = Callable[[PackingNodes, PodRequest, IntArray], IntArray]


def by_score(score: ScoreFn) -> PackingPolicy:
    """A node-scoring policy with the artifact's default card choice (best-fit card)."""

    def choose(
        nodes: PackingNodes, pod: PodRequest, candidates: IntArray, context: PackingContext
    ) -> Choice:
        node = first_best(score(nodes, pod, candidates), candidates)
        return Choice(node, default_slots(nodes, node, pod))

    return choose


def random_choice(
    nodes: PackingNodes, pod: PodRequest, candidates: IntArray, context: PackingContext
) -> Choice:
    """random_score.go: a uniformly random feasible node; a random fitting card
    (open_gpu_share.go allocateGpuIdBasedOnRandomFit)."""
    node = int(context.rng.choice(candidates))
    if not pod.shares_a_card:
        return Choice(node, default_slots(nodes, node, pod))
    fitting = np.flatnonzero(nodes.card_left[node] >= pod.card_milli)
    return Choice(node, (int(context.rng.choice(fitting)),))


def fgd(
    nodes: PackingNodes, pod: PodRequest, candidates: IntArray, context: PackingContext
) -> Choice:
    if context.typical is None:
        raise InvalidInput(
            msg("FGD 策略需要目标负载的典型作业", "fgd needs the target workload's typical pods"),
            field="typical",
        )
    return fgd_choice(nodes, pod, candidates, context.typical)


class RecentRequests:
    """The last `window` requests seen, as a distribution: what the live service knows of its
    workload (it has no target list). Recomputed after 1, 2, 4, ... requests up to `refresh`,
    then every `refresh` requests, so that the first decisions already have a distribution."""

    def __init__(self, model_count: int, window: int = 8_192, refresh: int = 256) -> None:
        self.model_count = model_count
        self.window = window
        self.refresh = refresh
        self._pods: list[PodRequest] = []
        self._seen = 0
        self._next_refresh = 1
        self._typical: TypicalPods | None = None

    def observe(self, pod: PodRequest) -> None:
        self._pods.append(pod)
        if len(self._pods) > 2 * self.window:
            del self._pods[: -self.window]
        self._seen += 1

    def typical(self) -> TypicalPods | None:
        if self._pods and (self._typical is None or self._seen >= self._next_refresh):
            self._typical = typical_pods(self._pods[-self.window :], self.model_count)
            step = min(self._next_refresh, self.refresh)
            self._next_refresh = self._seen + step
        return self._typical


def suanli_choice(
    nodes: PackingNodes, pod: PodRequest, candidates: IntArray, context: PackingContext
) -> Choice:
    """suanli's own (docs/scheduling.md): FGD's fragmentation gradient on FGD's integer score,
    measured against the target distribution when the caller has one (as FGD) and else against
    the requests seen so far (the live service). A request for whole cards or for CPU only
    trades it against best fit: each node loses `FIT_WEIGHT` points per unit of what it keeps
    free after placing (free cards ÷ 8 + free cores ÷ 128), so a node left much fuller may win
    by a point of FGD score, not only on a tie. A fraction of a card does not: it takes FGD's
    node and card (ties to the lowest node, then the lowest card), because packing shares onto
    the fullest of the tied nodes strands the cards that whole-card requests need later. A
    request for cards also loses `PRESSURE_WEIGHT` points per unit of `model_pressure` of the
    node's model, so it leaves the models that pinned requests need to them. With
    `share_values` (a pilot run's look-ahead, `share_values.py`), a fraction also loses
    `VALUE_WEIGHT` points per 100 milli its card is expected to waste more at the end. Neither
    distribution yet: best fit alone."""
    typical = context.typical
    if typical is None and context.recent is not None:
        typical = context.recent.typical()
    if typical is None:
        return by_score(best_fit_scores)(nodes, pod, candidates, context)
    candidates = distinct_states(nodes, candidates)
    score = suanli_scores(nodes, pod, candidates, typical, context.share_values)
    slot_of = np.argmax(score, axis=1)
    position = int(np.argmax(score[np.arange(len(candidates)), slot_of]))
    node = int(candidates[position])
    if pod.shares_a_card:
        return Choice(node, (int(slot_of[position]),))
    return Choice(node, default_slots(nodes, node, pod))


def suanli_scores(
    nodes: PackingNodes,
    pod: PodRequest,
    candidates: IntArray,
    typical: TypicalPods,
    share_values: ShareValues | None = None,
) -> FloatArray:
    """(C, CARD_SLOTS) for a fraction (-inf where the card cannot take it), else (C, 1)."""
    reduction = fragmentation_deltas(nodes, pod, candidates, typical).reduction
    unusable = np.isnan(reduction)
    score = sigmoid_score(np.where(unusable, 0.0, reduction)).astype(np.float64)
    if not pod.shares_a_card:  # a fraction: FGD's score, and the look-ahead if given
        free_after = (
            nodes.card_left[candidates].sum(axis=1) - pod.total_milli
        ) / MAX_SPEC_GPU_MILLI + (nodes.cpu_left[candidates] - pod.cpu_milli) / MAX_SPEC_CPU_MILLI
        score -= FIT_WEIGHT * free_after[:, None]
    elif share_values is not None:
        waste = share_values.cost(
            nodes.card_left[candidates], nodes.cpu_left[candidates], pod.card_milli, pod.cpu_milli
        )
        score -= VALUE_WEIGHT * waste / VALUE_MILLI
    models = nodes.model[candidates]
    # no pinned spec: every model's pressure is 0; one model (a live pool): a constant shift
    if pod.cards and typical.pinned and models.min() != models.max():
        # with the look-ahead a share's score moves by tens of points between nodes, so its
        # pressure is weighed in the same units (docs/scheduling.md, round five)
        looking_ahead = pod.shares_a_card and share_values is not None
        weight = SHARE_PRESSURE_WEIGHT if looking_ahead else PRESSURE_WEIGHT
        score -= weight * model_pressure(nodes, typical)[models][:, None]
    return np.where(unusable, -np.inf, score)


def model_pressure(nodes: PackingNodes, typical: TypicalPods) -> FloatArray:
    """Per model: the milli-card that the distribution's model-constrained requests expect of
    it (each spread over its allowed models by capacity) per milli-card of its capacity,
    relative to the whole distribution's milli per milli-card of the fleet. 0 for a model no
    request is pinned to (every model, when none is); 1 for a model whose capacity the pinned
    requests alone claim at the fleet's average load. Depends only on the distribution and
    the fleet's shape, not on what is placed."""
    model_count = len(nodes.models)
    capacity = np.bincount(nodes.model, weights=nodes.cards * MILLI, minlength=model_count)
    accessible = typical.accessible[:model_count]  # (models, specs)
    pinned = ~accessible.all(axis=0) & (typical.cards > 0)
    milli = typical.weight * typical.cards * typical.card_milli
    if not pinned.any() or capacity.sum() <= 0 or milli.sum() <= 0:
        return np.zeros(model_count)
    allowed_capacity = (accessible * capacity[:, None]).sum(axis=0)  # (specs,)
    share = np.where(
        accessible & pinned & (allowed_capacity > 0),
        capacity[:, None] / np.maximum(allowed_capacity, 1.0),
        0.0,
    )
    pinned_load = (share @ milli) / np.maximum(capacity, 1.0)
    return np.asarray(pinned_load / (milli.sum() / capacity.sum()), np.float64)


FIT_WEIGHT = 1.0  # FGD score points per unit of free cards ÷ 8 + free cores ÷ 128 left (not
# for a fraction of a card)
PRESSURE_WEIGHT = 6.0  # points per unit of model pressure, for requests that take cards
SHARE_PRESSURE_WEIGHT = 120.0  # the same, for a share that looks ahead (`share_values`)
VALUE_WEIGHT = 10.0  # points per VALUE_MILLI of expected final waste a share adds to its card
VALUE_MILLI = 100

BY_NODE_STATE = frozenset({"fgd", "suanli"})  # the policies that call `distinct_states`

PACKING_POLICIES: dict[str, PackingPolicy] = {
    "random": random_choice,
    "dot-product": by_score(dot_product_scores),
    "gpu-clustering": by_score(gpu_clustering_scores),
    "gpu-packing": by_score(gpu_packing_scores),
    "best-fit": by_score(best_fit_scores),
    "fgd": fgd,
    "suanli": suanli_choice,
}


def choose(
    policy: str,
    nodes: PackingNodes,
    pod: PodRequest,
    context: PackingContext,
    allowed: BoolArray | None = None,
) -> Choice | None:
    """The policy's node and cards for the pod, or None when no node can take it now.
    `allowed` (per node, optional) excludes nodes for reasons the table does not hold (the
    live loop: host memory). `suanli simulate packing` and the live loop
    (`card_choice.choose_on_pool`) both decide here."""
    check_policy(policy)
    if context.recent is not None:
        context.recent.observe(pod)  # placed or not, the request is part of the workload
    candidates = feasible_nodes(nodes, pod)
    if allowed is not None:
        candidates = candidates[allowed[candidates]]
    if not candidates.size:
        return None
    if policy in BY_NODE_STATE:
        # these policies score a node by its state alone and break ties to the lowest node,
        # then the lowest card: with one distinct state left, and for a fraction one distinct
        # free milli among the cards that fit, their choice needs no scoring
        candidates = distinct_states(nodes, candidates)
        if candidates.size == 1:
            node = int(candidates[0])
            if not pod.shares_a_card:
                return Choice(node, default_slots(nodes, node, pod))
            left = nodes.card_left[node].tolist()  # eight numbers: plain Python is quicker
            fitting = [milli for milli in left if milli >= pod.card_milli]
            if min(fitting) == max(fitting):
                return Choice(node, (left.index(fitting[0]),))
    return PACKING_POLICIES[policy](nodes, pod, candidates, context)


def check_policy(policy: str) -> str:
    """The name, if it is a packing policy; else InvalidInput naming the known ones."""
    if policy not in PACKING_POLICIES:
        known = ", ".join(PACKING_POLICIES)
        raise InvalidInput(
            msg(
                f"未知装箱策略 {policy!r}；可选：{known}",
                f"unknown packing policy {policy!r}; choose one of {known}",
            ),
            field="policy",
        )
    return policy
