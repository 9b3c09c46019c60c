"""Building backends from provider connection records: validation, no I/O, no leaked secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from suanli.adapters.backends.connections import ConnectionRecord, build_backend
from suanli.adapters.backends.ray import RayBackend
from suanli.adapters.backends.slurm import SlurmBackend
from suanli.errors import InvalidInput

SLURM_OPTIONS = {
    "partition": "gpu",
    "gres_type": "h100",
    "log_dir": "/shared/suanli/jobs",
    "run_as": "suanli-jobs",
    "accelerator_model": "H100-SXM",
}


def ray_record(**changes: Any) -> ConnectionRecord:
    fields: dict[str, Any] = {
        "id": "c1",
        "kind": "ray",
        "address": "http://10.0.0.5:8265",
        "options": {"accelerator_names": {"H100-SXM": "H100"}, "timeout_s": 5},
        "credentials": {"token": "s3cret"},
    }
    return ConnectionRecord(**{**fields, **changes})


def slurm_record(**changes: Any) -> ConnectionRecord:
    fields: dict[str, Any] = {
        "id": "c2",
        "kind": "slurm",
        "address": "/etc/slurm/slurm.conf",
        "options": SLURM_OPTIONS,
    }
    return ConnectionRecord(**{**fields, **changes})


def test_a_ray_connection_builds_a_ray_backend_with_its_token() -> None:
    backend = build_backend(ray_record())
    assert isinstance(backend, RayBackend)
    assert backend.address == "http://10.0.0.5:8265" and backend.timeout_s == 5
    assert backend.resource_name("H100-SXM") == "accelerator_type:H100"


def test_a_slurm_connection_builds_a_slurm_backend_for_its_partition() -> None:
    backend = build_backend(slurm_record())
    assert isinstance(backend, SlurmBackend)
    assert (backend.partition, backend.gres_type, backend.run_as) == ("gpu", "h100", "suanli-jobs")
    assert backend.slurm_conf == Path("/etc/slurm/slurm.conf")
    assert backend.log_dir == Path("/shared/suanli/jobs")


def test_secrets_never_appear_in_the_public_view_or_repr() -> None:
    record = ray_record()
    assert "s3cret" not in repr(record) and "s3cret" not in str(record.public_view())
    assert record.public_view()["has_credentials"] is True


def test_kubernetes_is_refused_with_the_reason() -> None:
    with pytest.raises(InvalidInput, match="Ray or Slurm") as raised:
        ray_record(kind="kubernetes")
    assert raised.value.field == "kind"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "pbs"}, "kind"),
        ({"address": "127.0.0.1:8265"}, "address"),
        ({"address": "http://" + "x" * 600}, "address"),
        ({"options": {"colour": "blue"}}, "options.colour"),
        ({"options": {"timeout_s": 0}}, "options.timeout_s"),
        ({"options": {"request_gpus": "yes"}}, "options.request_gpus"),
        ({"options": {"accelerator_names": ["H100"]}}, "options.accelerator_names"),
        ({"credentials": {"password": "x"}}, "credentials.password"),
    ],
)
def test_bad_ray_connections_name_the_field_to_fix(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        build_backend(ray_record(**changes))
    assert raised.value.field == field


def test_a_slurm_connection_needs_partition_gres_log_dir_and_user() -> None:
    options = {key: value for key, value in SLURM_OPTIONS.items() if key != "run_as"}
    with pytest.raises(InvalidInput, match="run_as") as raised:
        slurm_record(options=options)
    assert raised.value.field == "options.run_as"


def test_a_slurm_connection_takes_no_secret_and_never_root() -> None:
    with pytest.raises(InvalidInput, match="credentials"):
        slurm_record(credentials={"munge_key": "x"})
    with pytest.raises(InvalidInput, match="root"):
        build_backend(slurm_record(options={**SLURM_OPTIONS, "run_as": "root"}))


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(InvalidInput) as raised:
        build_backend(slurm_record(options={**SLURM_OPTIONS, "timezone": "Mars/Olympus"}))
    assert raised.value.field == "timezone"
