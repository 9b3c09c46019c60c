"""Reading Gavel's simulation_throughputs.json: one reader for the performance model's
overrides (scale factor 1) and the contended Gavel workload (every scale factor)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from suanli.errors import InvalidInput
from suanli.simulation.gavel import load_isolated_throughputs, load_throughputs

THROUGHPUTS = {
    "v100": {
        "('ResNet-50 (batch size 64)', 1)": {"null": 20.0, "('A3C', 1)": [1.0, 2.0]},
        "('ResNet-50 (batch size 64)', 2)": {"null": 36.0},
        "('LM (batch size 5)', 4)": {"null": 9.0},
    },
    "k80": {"('ResNet-50 (batch size 64)', 1)": {"null": 4.0}},
}


def _write(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "simulation_throughputs.json"
    path.write_bytes(content)
    return path


def test_every_scale_factor_is_read_and_factor_one_is_the_models_table(tmp_path: Path) -> None:
    path = _write(tmp_path, json.dumps(THROUGHPUTS).encode())
    assert load_isolated_throughputs(path) == {
        "ResNet-50 (batch size 64)": {1: {"K80": 4.0, "V100": 20.0}, 2: {"V100": 36.0}},
        "LM (batch size 5)": {4: {"V100": 9.0}},
    }
    assert load_throughputs(path) == {"ResNet-50 (batch size 64)": {"K80": 4.0, "V100": 20.0}}


def test_no_isolated_run_at_scale_factor_one_is_refused_naming_the_path(tmp_path: Path) -> None:
    path = _write(
        tmp_path, json.dumps({"v100": {"('LM (batch size 5)', 4)": {"null": 9.0}}}).encode()
    )
    assert load_isolated_throughputs(path)
    with pytest.raises(InvalidInput, match="holds no isolated throughputs") as raised:
        load_throughputs(path)
    assert raised.value.field == "path"


def test_a_file_that_is_not_utf8_is_refused_naming_the_path(tmp_path: Path) -> None:
    path = _write(tmp_path, b'{"v100": "\xff\xfe"}')
    for load in (load_throughputs, load_isolated_throughputs):
        with pytest.raises(InvalidInput, match="cannot read Gavel throughputs") as raised:
            load(path)
        assert raised.value.field == "path"
