"""Lost capacity: card-seconds free while a job waited in the queue, over fleet × makespan."""

from __future__ import annotations

import pytest

from suanli.domain.scheduling.policies import get_policy
from suanli.simulation.engine import simulate
from suanli.simulation.metrics import summarize
from suanli.simulation.workload import Fleet, Workload
from tests.unit.scheduling.builders import chip, job, view

SLOW = chip("Slow-B", fp32=10.0, bandwidth_gbs=2000.0)


def _one_node_of_four() -> Fleet:
    return Fleet((view("only", SLOW, nodes=1, cards_per_node=4),), "test")


def test_lost_capacity_counts_cards_left_idle_while_a_gang_waits() -> None:
    # "a" (2 cards, 1 h) starts at 0; "b" needs all 4 cards, so it waits an hour while 2 of
    # them sit idle: 7,200 card-seconds of the 4 × 7,200 the makespan offers
    first = job("a", cards=2, runtime_s=3600.0, reference="Slow-B")
    gang = job("b", cards=4, runtime_s=3600.0, reference="Slow-B", submitted_at_s=0.0)
    result = simulate(
        _one_node_of_four(), Workload((first, gang), "test"), get_policy("fifo-first-fit")
    )
    assert result.idle_while_queued_card_s == pytest.approx(7200.0)
    metrics = summarize(result)
    assert metrics.makespan_s == pytest.approx(7200.0)
    assert metrics.lost_capacity == pytest.approx(0.25)


def test_no_capacity_is_lost_when_nothing_waits() -> None:
    # the same two jobs an hour apart: the cards idle while the queue is empty do not count
    first = job("a", cards=2, runtime_s=3600.0, reference="Slow-B")
    later = job("b", cards=4, runtime_s=3600.0, reference="Slow-B", submitted_at_s=3600.0)
    metrics = summarize(
        simulate(
            _one_node_of_four(), Workload((first, later), "test"), get_policy("fifo-first-fit")
        )
    )
    assert metrics.lost_capacity == 0.0 and metrics.utilization == pytest.approx(0.75)
