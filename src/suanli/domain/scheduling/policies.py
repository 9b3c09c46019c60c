"""The policy registry: the live scheduler and the simulator both look policies up here."""

from __future__ import annotations

from suanli.domain.scheduling.model import Policy
from suanli.domain.scheduling.placement import CheapestPolicy
from suanli.errors import InvalidInput


def policy_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def get_policy(name: str) -> Policy:
    factory = _REGISTRY.get(name)
    if factory is None:
        raise InvalidInput(
            f"unknown policy {name!r}; choose one of {', '.join(_REGISTRY)}", field="policy"
        )
    return factory()


_REGISTRY: dict[str, type[CheapestPolicy]] = {"cheapest": CheapestPolicy}
