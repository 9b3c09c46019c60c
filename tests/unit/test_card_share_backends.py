"""How each backend asks its engine for a share of a card (the engines themselves are in
tests/integration/test_ray_backend.py and test_slurm_backend.py)."""

from __future__ import annotations

from suanli.adapters.backends.base import LaunchRequest, cards_env
from suanli.adapters.backends.ray import held_amount
from suanli.adapters.backends.slurm import batch_script, gres_options, shards_for

WHOLE = LaunchRequest("j", "true", 2, "H100-SXM", 60)
SHARE = LaunchRequest("j", "true", 1, "H100-SXM", 60, card_milli=470, card_index=3)


def test_every_job_sees_its_cards_and_its_milli_of_each() -> None:
    assert cards_env(WHOLE) == {"SUANLI_CARDS": "0,1", "SUANLI_CARD_MILLI": "1000"}
    assert cards_env(SHARE) == {"SUANLI_CARDS": "3", "SUANLI_CARD_MILLI": "470"}
    assert "export SUANLI_CARD_MILLI=470" in batch_script(SHARE)


def test_ray_reserves_the_fraction_of_one_card() -> None:
    assert held_amount(WHOLE) == 2.0 and held_amount(SHARE) == 0.47


def test_slurm_asks_for_the_shards_that_cover_the_share() -> None:
    assert gres_options(SHARE, "gpu", "h100") == ["--gres=shard:470"]
    assert gres_options(SHARE, "gpu", "h100", shards_per_card=8) == ["--gres=shard:4"]
    assert gres_options(WHOLE, "gpu", "h100") == ["--gres=gpu:h100:2"]
    assert [shards_for(m, 8) for m in (1, 125, 126, 999)] == [1, 1, 2, 8]
