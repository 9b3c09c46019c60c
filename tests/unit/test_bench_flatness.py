"""`suanli bench dashboard`'s heap verdict: the slope and the spread of post-GC samples."""

from __future__ import annotations

from suanli.cli.bench_dashboard import FLAT_SLOPE_MB_PER_MIN, FLAT_SPREAD_MB, flatness


def test_noise_around_a_level_is_flat() -> None:
    minutes = [2 + i / 4 for i in range(33)]
    heap = [7.2 + (0.2 if i % 3 == 0 else -0.1) for i in range(33)]
    verdict = flatness(minutes, heap)
    assert verdict.flat and verdict.samples == 33
    assert abs(verdict.slope_mb_per_min) < FLAT_SLOPE_MB_PER_MIN
    assert verdict.spread_mb == 0.3


def test_a_steady_rise_is_not_flat_even_within_the_spread() -> None:
    minutes = [i / 4 for i in range(40)]
    heap = [7.0 + 0.08 * m for m in minutes]  # 0.8 MB in 10 minutes
    verdict = flatness(minutes, heap)
    assert verdict.spread_mb < FLAT_SPREAD_MB and verdict.slope_mb_per_min == 0.08
    assert not verdict.flat


def test_a_jump_beyond_the_spread_is_not_flat_and_two_samples_prove_nothing() -> None:
    assert not flatness([0, 1, 2, 3], [7.0, 7.0, 8.5, 7.0]).flat
    assert not flatness([0, 1], [7.0, 7.0]).flat
