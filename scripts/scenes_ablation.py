"""Feature and learner changes tried against the learned fusion (issue 20), reproducible.

Each row: the fused ranker's held-out nDCG@10, 5 folds, averaged over five fold seeds, on the
demo gold set (where choices are made) and on the second set (printed, never used to choose).
Extra features are computed here on top of the engine's own signals; nothing in the package
changes. Rows that need other embeddings of the texts are not here (see README).

    PYTHONPATH=src .venv/bin/python scripts/scenes_ablation.py [--cache PATH]

About a minute once the vector cache is warm (it embeds both sets the first time).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import bm25s
import numpy as np

from suanli.adapters.matching import learned
from suanli.adapters.matching.engine import lexical_text
from suanli.adapters.matching.lexical import Bm25Index
from suanli.adapters.matching.tokenizer import tokenize
from suanli.domain.scenes import MatchDirection
from suanli.services import scenes_files
from suanli.services.scenes_eval import SEED_DEFAULT, assign_folds

DATA = Path("src/suanli/data/scenes")
SETS = {"demo": DATA, "second": DATA / "heldout"}
FOLD_SEEDS = (SEED_DEFAULT, 1, 2, 3, 4)
BASE = learned.ALL_FEATURES
UNCONSTRAINED_STEPS = 1_000


class Scorer(Protocol):
    def raw(self, matrix: np.ndarray) -> np.ndarray: ...


Trainer = Callable[[list[learned.TrainingQuery], tuple[str, ...], int], Scorer]
Pairs = Callable[
    [learned.TrainingQuery, np.random.Generator], tuple[list[int], list[int], list[float]]
]


def ndcg10(scores: np.ndarray, grades: np.ndarray) -> float:
    order = np.argsort(-scores, kind="stable")[:10]
    dcg = ((2.0 ** grades[order] - 1) / np.log2(np.arange(2, len(order) + 2))).sum()
    ideal = np.sort(grades)[::-1][:10]
    best = ((2.0**ideal - 1) / np.log2(np.arange(2, len(ideal) + 2))).sum()
    return float(dcg / best) if best > 0 else 0.0


def bigrams(text: str) -> list[str]:
    text = re.sub(r"\s+", "", text)
    return [text[i : i + 2] for i in range(len(text) - 1)]


@dataclass
class Query:
    grades: np.ndarray
    columns: dict[str, np.ndarray]


def load(folder: Path, cache: Path) -> dict[str, Query]:
    """Every relevant query's engine features plus the extra columns tried here."""
    opportunities = scenes_files.load_opportunities(folder / "opportunities.csv").items
    capabilities = scenes_files.load_capabilities(folder / "capabilities.csv").items
    gold = scenes_files.load_gold(
        folder / "gold.csv", {o.id for o in opportunities}, {c.id for c in capabilities}
    )
    engine = scenes_files.indexed_engine(
        opportunities, capabilities, cache_path=cache, lexical_only=False, progress=None
    )
    needs, caps = engine._sides_for(MatchDirection.O2C)
    assert needs.vectors is not None and caps.vectors is not None
    similarity = caps.vectors.astype(np.float64) @ needs.vectors.astype(np.float64).T
    char_index = bm25s.BM25()
    char_index.index(
        [bigrams(c.title + c.description + "".join(c.tags)) for c in capabilities],
        show_progress=False,
    )
    title_index = Bm25Index([tokenize(c.title) for c in capabilities])
    neighbours = {k: np.sort(similarity, axis=1)[:, -k:].mean(axis=1) for k in (3, 5, 20)}
    found = {}
    for need_id in sorted(q for q, g in gold.items() if any(v > 0 for v in g.values())):
        position = needs.position[need_id]
        signals = engine.signals(needs, caps, position)
        columns = dict(zip(BASE, learned.feature_matrix(signals, BASE).T, strict=True))
        need = needs.items[position]
        for name in ("bm25", "title_title", "need_technique", "text_tags"):
            value = getattr(signals, name)
            columns[f"{name}_log"] = np.log1p(value)
            columns[f"{name}_rr"] = learned.reciprocal_rank(value, positive_only=True)
        chars = np.asarray(
            char_index.get_scores(bigrams(need.title + need.description + "".join(need.tags))),
            dtype=np.float64,
        )
        columns["char_log"] = np.log1p(chars)
        columns["char_z"] = learned.zscore(chars)
        columns["char_rr"] = learned.reciprocal_rank(chars, positive_only=True)
        columns["text_title"] = learned.relative(
            title_index.scores(tokenize(lexical_text(need))).astype(np.float64)
        )
        # dual softmax: how much this need stands out among all needs for each candidate
        logits = (similarity - similarity.max(axis=1, keepdims=True)) / 0.01
        columns["dual_softmax"] = np.log(
            np.exp(logits[:, position]) / np.exp(logits).sum(axis=1) + 1e-12
        )
        assert signals.semantic is not None
        for k, hub in neighbours.items():
            csls = signals.semantic - 0.5 * hub
            columns[f"csls{k}"] = csls
            columns[f"csls{k}_z"] = learned.zscore(csls)
            columns[f"csls{k}_gap"] = csls - csls.max()
            columns[f"csls{k}_rr"] = learned.reciprocal_rank(csls, positive_only=False)
        grades = np.array([gold[need_id].get(i, 0) for i in caps.ids], dtype=np.int64)
        found[need_id] = Query(grades, columns)
    return found


def fixed(
    l2: float = learned.L2, hard: int = 40, extra: int = 20, by: str | None = None
) -> Trainer:
    """The shipped learner with other constants (pairs re-mined by `by` when given)."""

    def train(queries: list[learned.TrainingQuery], names: tuple[str, ...], seed: int) -> Scorer:
        saved = (learned.L2, learned.HARD_NEGATIVES, learned.RANDOM_NEGATIVES, learned._pairs)
        learned.L2, learned.HARD_NEGATIVES, learned.RANDOM_NEGATIVES = l2, hard, extra
        if by is not None:
            column = names.index(by)
            learned._pairs = _pairs_by(column, hard, extra)  # type: ignore[assignment]
        try:
            return learned.train_ranker(queries, names, seed)
        finally:
            (learned.L2, learned.HARD_NEGATIVES, learned.RANDOM_NEGATIVES, learned._pairs) = saved

    return train


def _pairs_by(column: int, hard: int, extra: int) -> Pairs:
    def pairs(
        query: learned.TrainingQuery, rng: np.random.Generator
    ) -> tuple[list[int], list[int], list[float]]:
        grades = query.grades
        relevant, negatives = np.flatnonzero(grades > 0), np.flatnonzero(grades == 0)
        order = np.argsort(-query.matrix[negatives, column], kind="stable")
        chosen = negatives[order[:hard]]
        rest = np.setdiff1d(negatives, chosen)
        pool = np.concatenate([chosen, rng.choice(rest, min(extra, len(rest)), replace=False)])
        return learned.graded_pairs(grades, relevant, pool)

    return pairs


class Averaged:
    def __init__(self, models: list[learned.LinearRanker]) -> None:
        self.models = models

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        return np.mean([m.raw(matrix) for m in self.models], axis=0)


def bagged(count: int = 10) -> Trainer:
    def train(queries: list[learned.TrainingQuery], names: tuple[str, ...], seed: int) -> Scorer:
        rng = np.random.default_rng(seed)
        picks = [rng.integers(0, len(queries), len(queries)) for _ in range(count)]
        return Averaged([learned.train_ranker([queries[i] for i in p], names, seed) for p in picks])

    return train


def unconstrained(
    queries: list[learned.TrainingQuery], names: tuple[str, ...], seed: int
) -> Scorer:
    """Pairwise logistic like the shipped learner, but weights may go below 0."""
    rng = np.random.default_rng(seed)
    stacked = np.vstack([q.matrix for q in queries])
    mean, spread = stacked.mean(axis=0), stacked.std(axis=0)
    scale = np.where(spread > 1e-9, spread, 1.0)
    differences, weights = [], []
    for query in queries:
        better, worse, weight = learned._pairs(query, rng)
        if better:
            standardised = (query.matrix - mean) / scale
            differences.append(standardised[better] - standardised[worse])
            weights.append(np.asarray(weight))
    x, pair_weight = np.vstack(differences), np.concatenate(weights)
    pair_weight = pair_weight / pair_weight.sum()
    w = np.zeros(x.shape[1])
    for _ in range(UNCONSTRAINED_STEPS):
        margin = x @ w
        w -= learned.LEARNING_RATE * (
            -(x.T @ (pair_weight * learned._sigmoid(-margin))) + 2 * learned.L2 * w
        )
    return learned.LinearRanker(names, tuple(mean), tuple(scale), tuple(float(v) for v in w))


def nested_l2(grid: tuple[float, ...] = (1e-4, 1e-3, 1e-2)) -> Trainer:
    """L2 chosen by a 4-fold CV inside the training queries only."""

    def train(queries: list[learned.TrainingQuery], names: tuple[str, ...], seed: int) -> Scorer:
        ids = [str(i) for i in range(len(queries))]
        best: tuple[float, float] | None = None
        for l2 in grid:
            values = []
            for held in assign_folds(ids, 4, seed):
                rest = [queries[int(i)] for i in ids if i not in set(held)]
                model = fixed(l2)(rest, names, seed)
                values += [
                    ndcg10(model.raw(queries[int(i)].matrix), queries[int(i)].grades) for i in held
                ]
            if best is None or float(np.mean(values)) > best[0] + 1e-9:
                best = (float(np.mean(values)), l2)
        assert best is not None
        return fixed(best[1])(queries, names, seed)

    return train


def cross_validated(queries: dict[str, Query], names: tuple[str, ...], train: Trainer) -> float:
    matrices = {
        q: learned.TrainingQuery(np.column_stack([v.columns[n] for n in names]), v.grades)
        for q, v in queries.items()
    }
    per_seed = []
    for seed in FOLD_SEEDS:
        folds = []
        for held in assign_folds(list(queries), 5, seed):
            training = [matrices[q] for q in sorted(queries) if q not in set(held)]
            model = train(training, names, SEED_DEFAULT)
            folds.append(
                np.mean([ndcg10(model.raw(matrices[q].matrix), queries[q].grades) for q in held])
            )
        per_seed.append(float(np.mean(folds)))
    return float(np.mean(per_seed))


def plus(*names: str) -> tuple[str, ...]:
    return BASE + names


ROWS: list[tuple[str, tuple[str, ...], Trainer]] = [
    ("current engine", BASE, fixed()),
    ("+ character-bigram BM25 (log, z, rank)", plus("char_log", "char_z", "char_rr"), fixed()),
    (
        "+ field-wise BM25 as log",
        plus("bm25_log", "title_title_log", "need_technique_log", "text_tags_log"),
        fixed(),
    ),
    (
        "+ field-wise BM25 as reciprocal rank",
        plus("title_title_rr", "need_technique_rr", "text_tags_rr"),
        fixed(),
    ),
    ("+ need text <-> capability title BM25", plus("text_title"), fixed()),
    ("+ dual softmax over the needs (T 0.01)", plus("dual_softmax"), fixed()),
    *[
        (
            f"+ CSLS with {k} neighbours",
            plus(f"csls{k}", f"csls{k}_z", f"csls{k}_gap", f"csls{k}_rr"),
            fixed(),
        )
        for k in (3, 5, 20)
    ],
    ("L2 by inner 4-fold CV (1e-4, 1e-3, 1e-2)", BASE, nested_l2()),
    ("weights allowed below 0", BASE, unconstrained),
    ("bagging (10 bootstrap fits)", BASE, bagged()),
    ("10 hard + 20 random negatives", BASE, fixed(hard=10, extra=20)),
    ("hard negatives by CSLS", BASE, fixed(by="csls")),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(".suanli/ablation-vectors.npz"))
    cache = parser.parse_args().cache
    cache.parent.mkdir(parents=True, exist_ok=True)
    sets = {name: load(folder, cache) for name, folder in SETS.items()}
    print(f"{'change':<48} {'demo':>7} {'second':>7}")
    for label, names, train in ROWS:
        demo, second = (cross_validated(sets[s], names, train) for s in ("demo", "second"))
        print(f"{label:<48} {demo:7.4f} {second:7.4f}", flush=True)


if __name__ == "__main__":
    main()
