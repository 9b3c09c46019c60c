"""Host CPU cores and memory per node, for pools that declare them (issue 18).

A pool may declare `cpus_per_node` and `host_memory_gib_per_node`; a job may ask for `cpus`
and `host_memory_gib` on each of its nodes. `HostFree` keeps what is left per node; a pool
that declares neither has none and limits nothing (an undeclared figure is infinite).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from suanli.domain.pools import Pool
from suanli.errors import InvalidInput
from suanli.i18n import msg

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
HostAsk = tuple[int, float]  # (CPU cores, host memory GiB) on each node of a placement
NO_ASK: HostAsk = (0, 0.0)
SLACK = 1e-9  # memory figures are floats: sums may miss by this much


@dataclass
class HostFree:
    cpus: FloatArray  # free cores per node (inf: not declared)
    memory_gib: FloatArray  # free host memory per node (inf: not declared)

    def copy(self) -> HostFree:
        return HostFree(self.cpus.copy(), self.memory_gib.copy())


def host_capacity(pool: Pool) -> HostFree | None:
    """Every node's declared figures, or None when the pool declares neither."""
    if pool.cpus_per_node is None and pool.host_memory_gib_per_node is None:
        return None
    cpus = np.inf if pool.cpus_per_node is None else float(pool.cpus_per_node)
    memory = np.inf if pool.host_memory_gib_per_node is None else pool.host_memory_gib_per_node
    return HostFree(np.full(pool.nodes, cpus), np.full(pool.nodes, float(memory)))


def host_fits(host: HostFree | None, ask: HostAsk) -> BoolArray | None:
    """Per node: room for the ask; None when nothing is limited (no figures or no ask)."""
    cpus, memory = ask
    if host is None or (cpus <= 0 and memory <= 0):
        return None
    return (host.cpus >= cpus) & (host.memory_gib + SLACK >= memory)


def take_host(host: HostFree, nodes: Iterable[int], ask: HostAsk, pool_id: str) -> None:
    """Takes the ask on every node, or raises without taking anything (invariant 9)."""
    listed = list(nodes)
    fits = host_fits(host, ask)
    if fits is None:
        return
    if not all(0 <= node < fits.size and fits[node] for node in listed):
        raise InvalidInput(
            msg(
                f"放置方案超额分配了资源池 {pool_id} 的主机 CPU 或内存",
                f"placement over-allocates host CPU or memory of pool {pool_id}",
            ),
            field="placement",
        )
    for node in listed:
        host.cpus[node] -= ask[0]
        host.memory_gib[node] -= ask[1]


def give_host(host: HostFree, nodes: Iterable[int], ask: HostAsk, pool: Pool) -> None:
    """Returns the ask on every node (never above the declared figures)."""
    if ask[0] <= 0 and ask[1] <= 0:
        return
    full = host_capacity(pool)
    if full is None:
        return
    for node in nodes:
        host.cpus[node] = min(full.cpus[node], host.cpus[node] + ask[0])
        host.memory_gib[node] = min(full.memory_gib[node], host.memory_gib[node] + ask[1])
