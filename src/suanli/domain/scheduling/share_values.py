"""Look-ahead for a share of a card: what each state of a node is expected to waste.

FGD scores a share by the fragmentation it leaves *now*: a card with 530 milli free counts as
fragmented for every request bigger than 530, although in a workload with many 470-milli
shares such a card is usually filled soon after. What a card at a free level really wastes
is where it ends: the free milli it still has when the cluster is full. Whether a tail is
ever filled also depends on its node's CPU: a 190-milli tail on a node with 2 cores left
waits for a share that asks for under 2 cores, a rare one. `ShareValues` holds, per free
level of a card (a 10-milli grid) and per bucket of its node's free CPU (4 cores wide), that
expected final free milli, learnt from a pilot run of the policy itself on the target
distribution (`simulation.packing.pilot_records`: the same fleet, arrivals drawn with a
seed of their own, never the measured runs' arrivals).

A share then pays for the change it causes in its node's expected waste
(`ShareValues.cost`): the card it lands on drops a level, and every card of the node moves
to the CPU bucket the share leaves. Putting a 320-milli share on a 530-milli tail turns a card
that would likely end at 60 milli free into one at 210 that only tiny shares can use; putting
a share with many cores on a node drains the CPU its other tails need. This is one step of
policy improvement (approximate dynamic programming): the values are those of the policy
without them, and the policy acting on them is better than the one they were measured under.

`estimate_card_values` gives round four's form: the card's level alone, from the cards shares
landed on. Neither form is better on every workload (seeing the CPU wins on most lists, the
level alone on some share-heavy ones), so the simulator tries both on seeds of its own and
keeps the better (`simulation.packing.choose_look_ahead`). docs/scheduling.md, "Round four",
"Round five" and "Round six", has the evidence. Pure: no I/O.
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
CPU_BUCKET_MILLI = 4_000  # the node's free CPU in buckets of 4 cores (a typical share's ask)
CPU_BUCKETS = 9  # 0-4, 4-8, ..., 28-32 and 32+ free cores: above that CPU never binds
MIN_VISITS = 5  # a (level, CPU) cell seen fewer times takes its level's value over all CPU


def level_of(left: IntArray) -> IntArray:
    return np.asarray(np.clip(left, 0, MILLI) // LEVEL_MILLI, np.int64)


def cpu_bucket_of(cpu_left: IntArray) -> IntArray:
    return np.asarray(np.clip(np.asarray(cpu_left) // CPU_BUCKET_MILLI, 0, CPU_BUCKETS - 1))


@dataclass(frozen=True)
class ShareValues:
    """Per free level of a card (index = free milli // LEVEL_MILLI) and CPU bucket of its node,
    the card's expected free milli at the end. A full card ends with nothing."""

    expected_idle: FloatArray  # (LEVELS, CPU_BUCKETS)

    def cost(self, card_left: IntArray, cpu_left: IntArray, milli: int, cpu: int) -> FloatArray:
        """(C, cards): the change in the node's expected final free milli if a share of
        `milli` and `cpu` lands on that card (only meaningful where the card has room)."""
        levels = level_of(card_left)
        before = self.expected_idle[levels, cpu_bucket_of(cpu_left)[:, None]].sum(axis=1)
        buckets_after = cpu_bucket_of(cpu_left - cpu)[:, None]
        cards_after = self.expected_idle[levels, buckets_after]  # every card: the CPU moved
        landed = self.expected_idle[level_of(card_left - milli), buckets_after]
        after = cards_after.sum(axis=1)[:, None] - cards_after + landed
        return np.asarray(after - before[:, None], np.float64)


def estimate_share_values(
    card_left: IntArray, cpu_left: IntArray, final_left: IntArray
) -> ShareValues:
    """The values from a pilot run's records: after each placement, every card of the node
    it touched (`card_left`, (R, cards), with `cpu_left`, (R,), its node's free CPU then) and
    that card's free milli at the end of the run (`final_left`, (R, cards)). Each cell is the
    mean of its records; a cell recorded fewer than MIN_VISITS times takes its level's mean
    over every CPU, and a level never recorded is assumed never filled (its value is its own
    free milli), the cautious guess."""
    levels = level_of(np.asarray(card_left, np.int64)).ravel()
    buckets = np.repeat(cpu_bucket_of(np.asarray(cpu_left, np.int64)), np.shape(card_left)[1])
    final = np.asarray(final_left, np.float64).ravel()
    never_filled = np.arange(LEVELS, dtype=np.float64) * LEVEL_MILLI
    by_level = _means(levels, final, LEVELS, never_filled, 1)
    cells = levels * CPU_BUCKETS + buckets
    fallback = np.repeat(by_level, CPU_BUCKETS)
    by_cell = _means(cells, final, LEVELS * CPU_BUCKETS, fallback, MIN_VISITS)
    expected = by_cell.reshape(LEVELS, CPU_BUCKETS)
    expected[0, :] = 0.0  # a full card (or a slot past the node's cards) wastes nothing
    return ShareValues(expected)


def estimate_card_values(share_left: IntArray, final_left: IntArray) -> ShareValues:
    """Round four's look-ahead, blind to the CPU: for each share the pilot placed, the free
    milli of its card right after (`share_left`, (S,)) and at the end (`final_left`, (S,));
    a level's value is the mean end of the cards shares left there (never recorded: never
    filled), the same at every CPU bucket. A wholly free card is worth 0: it still takes whole
    cards, so a share that opens one pays for the tail it starts, not for the card. Its cost
    is then the chosen card's change alone, as in round four (the node's other cards keep
    their value when the CPU moves)."""
    levels = level_of(np.asarray(share_left, np.int64))
    never_filled = np.arange(LEVELS, dtype=np.float64) * LEVEL_MILLI
    by_level = _means(levels, np.asarray(final_left, np.float64), LEVELS, never_filled, 1)
    by_level[0] = by_level[LEVELS - 1] = 0.0
    return ShareValues(np.repeat(by_level[:, None], CPU_BUCKETS, axis=1))


def _means(
    index: IntArray, values: FloatArray, size: int, fallback: FloatArray, min_visits: int
) -> FloatArray:
    total = np.bincount(index, weights=values, minlength=size)[:size]
    visits = np.bincount(index, minlength=size)[:size]
    return np.where(visits >= min_visits, total / np.maximum(visits, 1), fallback)
