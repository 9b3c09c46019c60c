"""Ranking quality against graded gold labels: nDCG@k, Recall@k and MRR.

Grades: 2 fulfils the need, 1 partly relevant, absent 0. nDCG uses the graded gain 2^g - 1;
recall and MRR count any grade >= 1 as relevant (a partial fit is still worth showing).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RankingMetrics:
    ndcg_at_10: float
    recall_at_5: float
    recall_at_10: float
    mrr: float
    queries: int

    def as_dict(self) -> dict[str, float]:
        return {
            "ndcg@10": round(self.ndcg_at_10, 4),
            "recall@5": round(self.recall_at_5, 4),
            "recall@10": round(self.recall_at_10, 4),
            "mrr": round(self.mrr, 4),
        }


def _gain(grade: int) -> float:
    return float(2**grade - 1)


def ndcg_at(ranked: Sequence[str], grades: Mapping[str, int], k: int) -> float:
    """DCG of the first k over the best possible DCG; 0 when nothing is relevant."""
    dcg = sum(_gain(grades.get(item, 0)) / math.log2(i + 2) for i, item in enumerate(ranked[:k]))
    ideal = sorted(grades.values(), reverse=True)[:k]
    best = sum(_gain(grade) / math.log2(i + 2) for i, grade in enumerate(ideal))
    return dcg / best if best > 0 else 0.0


def recall_at(ranked: Sequence[str], grades: Mapping[str, int], k: int) -> float:
    relevant = {item for item, grade in grades.items() if grade >= 1}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def reciprocal_rank(ranked: Sequence[str], grades: Mapping[str, int]) -> float:
    for position, item in enumerate(ranked, start=1):
        if grades.get(item, 0) >= 1:
            return 1.0 / position
    return 0.0


def evaluate_rankings(
    rankings: Mapping[str, Sequence[str]], gold: Mapping[str, Mapping[str, int]]
) -> RankingMetrics:
    """Means over the queries that have at least one relevant item in `gold`."""
    queries = [query for query, grades in gold.items() if any(g >= 1 for g in grades.values())]
    if not queries:
        return RankingMetrics(0.0, 0.0, 0.0, 0.0, 0)
    totals = [0.0, 0.0, 0.0, 0.0]
    for query in queries:
        ranked, grades = rankings.get(query, ()), gold[query]
        totals[0] += ndcg_at(ranked, grades, 10)
        totals[1] += recall_at(ranked, grades, 5)
        totals[2] += recall_at(ranked, grades, 10)
        totals[3] += reciprocal_rank(ranked, grades)
    n = len(queries)
    return RankingMetrics(totals[0] / n, totals[1] / n, totals[2] / n, totals[3] / n, n)
