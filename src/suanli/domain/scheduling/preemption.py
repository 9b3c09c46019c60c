"""Preemption: a job that cannot start may stop lower-priority preemptible jobs to make room.

Victims are taken lowest priority first, newest first (least work lost), on the pools the
policy likes best; on a pool, the job takes the nodes that need the fewest victims, and only
victims on those nodes are stopped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from suanli.domain.jobs import JobSpec
from suanli.domain.scheduling.model import RunningJob
from suanli.domain.scheduling.placement import NodeCards, Scratch

PREEMPTION_POOLS_MAX = 8  # pools examined per attempt
VICTIMS_SCAN_MAX = 512  # victims considered per pool
UNUSABLE_NODE = -(2**40)  # free cards of a node the job may not use: no eviction fills it

Plan = tuple[int, int, tuple[RunningJob, ...]]  # (victims needed, node, victims)


@dataclass(frozen=True)
class Eviction:
    pool: int
    node_cards: NodeCards
    victims: tuple[RunningJob, ...]


def victims_in(scratch: Scratch, index: int, priority: int) -> list[RunningJob]:
    """Running preemptible jobs below `priority` on the pool, in the order they would go."""
    jobs = scratch.state.running_jobs()
    found: list[RunningJob] = []
    for victim_priority, _, job_id in scratch.state.victims_in(index):
        if victim_priority >= priority or len(found) >= VICTIMS_SCAN_MAX:
            break
        if job_id not in scratch.preempted:
            found.append(jobs[job_id])
    return found


def evict_for(scratch: Scratch, spec: JobSpec, index: int) -> Eviction | None:
    """The nodes that need the fewest victims to fit the job; all of them or none (gang).
    Only nodes with room for the job's host CPU and memory now are considered."""
    fits = scratch.host_ok(index, spec)
    nodes = scratch.nodes(index)
    if fits is not None:  # a node without host room can never fit, whatever is evicted
        nodes = np.where(fits, nodes, UNUSABLE_NODE)
    need = spec.cards_per_node
    plans: list[Plan] = [(0, int(node), ()) for node in np.flatnonzero(nodes >= need)[: spec.nodes]]
    plans += _node_plans(nodes, need, victims_in(scratch, index, spec.priority))
    if len(plans) < spec.nodes:
        return None
    plans.sort(key=lambda plan: (plan[0], plan[1]))
    chosen = plans[: spec.nodes]
    victims = tuple({job.id: job for _, _, listed in chosen for job in listed}.values())
    taken = tuple(sorted((node, need) for _, node, _ in chosen))
    return Eviction(pool=index, node_cards=taken, victims=victims)


def _node_plans(nodes: np.ndarray, need: int, victims: list[RunningJob]) -> list[Plan]:
    """Per node that does not fit yet: the victims (in victim order) that would make it fit."""
    free_now: list[int] = nodes.tolist()  # scalar reads: lists beat NumPy here
    on_node: dict[int, list[tuple[RunningJob, int]]] = {}
    for victim in victims:
        for node, cards in victim.node_cards:
            if free_now[node] < need:
                on_node.setdefault(node, []).append((victim, cards))
    plans: list[Plan] = []
    for node, listed in on_node.items():
        free, chosen = free_now[node], list[RunningJob]()
        for victim, cards in listed:
            if free >= need:
                break
            free += cards
            chosen.append(victim)
        if free >= need:
            plans.append((len(chosen), node, tuple(chosen)))
    return plans


def find_eviction(scratch: Scratch, spec: JobSpec, preferred: Sequence[int]) -> Eviction | None:
    """Tries the policy's preferred feasible pools in order; the first that works wins."""
    lowest = scratch.state.lowest_preemptible_priority()
    if lowest is None or lowest >= spec.priority:
        return None
    for index in list(preferred)[:PREEMPTION_POOLS_MAX]:
        if scratch.state.matrix.available[index]:
            eviction = evict_for(scratch, spec, int(index))
            if eviction is not None:
                return eviction
    return None
