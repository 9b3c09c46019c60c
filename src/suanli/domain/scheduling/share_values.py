"""Look-ahead for a share of a card: what each free level of a card is expected to waste.

FGD scores a share by the fragmentation it leaves *now*: a card with 530 milli free counts as
fragmented for every request bigger than 530, although in a workload with many 470-milli
shares such a card is usually filled soon after. What a card at a free level really wastes
is where it ends: the free milli it still has when the cluster is full. `ShareValues` holds,
per free level (a 10-milli grid), that expected final free milli, learnt from a pilot run of
the policy itself on the target distribution (`simulation.packing.pilot_share_values`: the
same fleet, arrivals drawn with a seed of their own, never the measured runs' arrivals).

A share then pays for the change it causes in its card's expected waste
(`ShareValues.cost`): putting a 320-milli share on a 530-milli tail turns a card that would
likely end at 60 milli free into one at 210 that only tiny shares can use, while a fresh card
or a 350-milli tail costs little. This is one step of policy improvement (approximate
dynamic programming): the values are those of the policy without them, and the policy
acting on them is better than the one they were measured under. docs/scheduling.md,
"Round four", has the evidence. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from suanli.domain.scheduling.packing import MILLI

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

LEVEL_MILLI = 10  # the grid of free levels (every share in the Alibaba 2023 lists is on it)
LEVELS = MILLI // LEVEL_MILLI + 1  # 0, 10, ..., 1000 milli free


@dataclass(frozen=True)
class ShareValues:
    """Per free level (index = free milli // LEVEL_MILLI), the card's expected free milli at
    the end. A wholly free card's level is 0: a whole-card request takes it entirely."""

    expected_idle: FloatArray  # (LEVELS,)

    def cost(self, left: IntArray, milli: int) -> FloatArray:
        """Per card with `left` milli free, the change in its expected final free milli if a
        share of `milli` lands on it (only meaningful where left >= milli)."""
        after = np.clip(left - milli, 0, MILLI) // LEVEL_MILLI
        before = np.clip(left, 0, MILLI) // LEVEL_MILLI
        return np.asarray(self.expected_idle[after] - self.expected_idle[before], np.float64)


def estimate_share_values(levels_after: IntArray, final_left: IntArray) -> ShareValues:
    """The values from a pilot run: for each share placed, its card's free milli right after
    (`levels_after`) and at the end of the run (`final_left`). A level no share left a card at
    is assumed never filled (its value is its own free milli), the cautious guess."""
    index = np.clip(np.asarray(levels_after, np.int64), 0, MILLI) // LEVEL_MILLI
    final = np.asarray(final_left, np.float64)
    total = np.bincount(index, weights=final, minlength=LEVELS)[:LEVELS]
    visits = np.bincount(index, minlength=LEVELS)[:LEVELS]
    never_filled = np.arange(LEVELS, dtype=np.float64) * LEVEL_MILLI
    expected = np.where(visits > 0, total / np.maximum(visits, 1), never_filled)
    expected[LEVELS - 1] = 0.0
    return ShareValues(expected)
