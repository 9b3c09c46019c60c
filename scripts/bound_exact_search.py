"""The avg-JCT bound against exact slot optima on more random instances than the test runs
(tests/unit/scheduling/test_bound_exact.py; docs/scheduling.md, "A lower bound on average JCT").

    PYTHONPATH=src:. .venv/bin/python scripts/bound_exact_search.py small 150 2150
    PYTHONPATH=src:. .venv/bin/python scripts/bound_exact_search.py small 5000 5300 --slot 0.5
    PYTHONPATH=src:. .venv/bin/python scripts/bound_exact_search.py big 0 500
    PYTHONPATH=src:. .venv/bin/python scripts/bound_exact_search.py fleet 40 1040

Prints every seed where the bound exceeds the optimum, then the worst ratio bound ÷ optimum.
The seeds above start past the test's own (small 0-149, fleet 0-39).
"""

from __future__ import annotations

import argparse
import time

from tests.unit.scheduling.test_bound_exact import (
    HOUR,
    Instance,
    _as_slots,
    _bound_of_instance,
    _bound_total,
    _fleet_instance,
    _random_instance,
    slot_optimum,
)

from suanli.domain.scheduling.performance import PerformanceModel
from suanli.simulation.bound import jct_bound


def big_instance(seed: int) -> Instance:
    """3-5 jobs of ½-3 cards arriving at 0-2 on 1-3 pools of 1-3 cards; 1-3 slots per pool
    where allowed (probability 0.7)."""
    widths = (0.5, 1.0, 1.0, 2.0, 3.0)
    return _random_instance(seed, (1, 4), (3, 6), widths, (1, 4), (0, 3), 0.7)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["small", "big", "fleet"])
    parser.add_argument("first", type=int)
    parser.add_argument("stop", type=int)
    parser.add_argument("--slot", type=float, default=1.0)
    args = parser.parse_args()
    started, checked, contended, worst = time.time(), 0, 0, (0.0, -1)
    performance = PerformanceModel()
    for seed in range(args.first, args.stop):
        if args.kind == "fleet":
            fleet, workload = _fleet_instance(seed)
            bound = jct_bound(fleet, workload, performance)
            if not bound.jobs:
                continue
            optimum = slot_optimum(*_as_slots(fleet, workload, performance), args.slot) * HOUR
        else:
            instance = big_instance(seed) if args.kind == "big" else _random_instance(seed)
            bound = _bound_of_instance(*instance)
            optimum = slot_optimum(*instance, slot=args.slot)
        ratio = _bound_total(bound) / optimum
        checked += 1
        contended += bound.avg_jct_s > 1.01 * bound.runtime_avg_s
        worst = max(worst, (ratio, seed))
        if ratio > 1 + 1e-7:
            print(f"VIOLATION seed {seed}: bound {_bound_total(bound)} > optimum {optimum}")
    print(
        f"{args.kind} seeds {args.first}-{args.stop - 1}, slot {args.slot}: {checked} checked, "
        f"{contended} above the floor, worst bound ÷ optimum {worst[0]:.10f} (seed {worst[1]}), "
        f"{time.time() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
