"""Builds a Backend from a provider's cluster connection record (kind, address, options, secret).

Pure apart from the backend objects it returns: nothing connects here. Storage (credentials
encrypted at rest, never returned by the API) and health/capacity polling live elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suanli.adapters.backends.base import Backend
from suanli.adapters.backends.cluster_identity import shown
from suanli.errors import InvalidInput
from suanli.i18n import msg

CONNECTION_KINDS = ("ray", "slurm")
ADDRESS_CHARS_MAX = 500
LATER_KINDS = {
    "kubernetes": msg(
        "暂不支持接入 Kubernetes 集群，请接入 Ray 或 Slurm 集群",
        "Kubernetes clusters cannot be connected yet; connect a Ray or Slurm cluster",
    ),
}
RAY_OPTIONS = frozenset({"accelerator_names", "timeout_s", "request_gpus", "verify_tls"})
RAY_CREDENTIALS = frozenset({"token"})
SLURM_OPTIONS = frozenset(
    {
        "partition",
        "gres_type",
        "log_dir",
        "run_as",
        "accelerator_model",
        "gres_name",
        "timeout_s",
        "timezone",
        "bin_dir",
        "allow_root",
        "shards_per_card",
    }
)
SLURM_REQUIRED = ("partition", "gres_type", "log_dir", "run_as")
SLURM_CREDENTIALS: frozenset[str] = frozenset()  # munge on the host authenticates; no secret


@dataclass(frozen=True)
class ConnectionRecord:
    """A provider's cluster connection as stored.

    `address`: Ray's dashboard URL (http://host:8265); for Slurm, the path of the cluster's
    slurm.conf on the suanli host ("" for the system default). `credentials` arrive decrypted
    and are never part of repr() or public_view().
    """

    id: str
    kind: str
    address: str
    options: Mapping[str, Any] = field(default_factory=dict)
    credentials: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        validate(self)

    def public_view(self) -> dict[str, Any]:
        """What the API may show: everything but the secrets (only whether there are any)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "address": self.address,
            "options": dict(self.options),
            "has_credentials": bool(self.credentials),
        }


def validate(record: ConnectionRecord) -> None:
    """Refuses unknown kinds, options and credential names, naming the field to fix."""
    if record.kind in LATER_KINDS:
        raise InvalidInput(LATER_KINDS[record.kind], field="kind")
    if record.kind not in CONNECTION_KINDS:
        raise InvalidInput(
            msg(
                f"类型须为以下之一：{'、'.join(CONNECTION_KINDS)}",
                f"kind must be one of {', '.join(CONNECTION_KINDS)}",
            ),
            field="kind",
        )
    if len(record.address) > ADDRESS_CHARS_MAX:
        raise InvalidInput(
            msg(
                f"地址超过 {ADDRESS_CHARS_MAX} 个字符",
                f"address is longer than {ADDRESS_CHARS_MAX} characters",
            ),
            field="address",
        )
    allowed, secrets, required = _rules(record.kind)
    _require_known(record.options, allowed, "options")
    _require_known(record.credentials, secrets, "credentials")
    missing = [name for name in required if record.options.get(name) in (None, "")]
    if missing:
        raise InvalidInput(
            msg(f"缺少选项：{'、'.join(missing)}", f"missing option(s): {', '.join(missing)}"),
            field=f"options.{missing[0]}",
        )
    if record.kind == "ray" and not record.address.startswith(("http://", "https://")):
        raise InvalidInput(
            msg(
                "Ray 地址须为其仪表盘的 URL，如 http://10.0.0.5:8265",
                "a Ray address is the dashboard URL, e.g. http://10.0.0.5:8265",
            ),
            field="address",
        )


def build_backend(record: ConnectionRecord) -> Backend:
    """A backend for the record; construction does no I/O (call health() to check it)."""
    if record.kind == "ray":
        return _ray(record)
    return _slurm(record)


def _ray(record: ConnectionRecord) -> Backend:
    from suanli.adapters.backends.ray import RayBackend

    options = record.options
    return RayBackend(
        record.address,
        token=record.credentials.get("token"),
        accelerator_names=_string_map(options.get("accelerator_names"), "accelerator_names"),
        timeout_s=_positive(options.get("timeout_s", 10.0), "timeout_s"),
        request_gpus=_flag(options.get("request_gpus", False), "request_gpus"),
        verify_tls=_flag(options.get("verify_tls", True), "verify_tls"),
    )


def _slurm(record: ConnectionRecord) -> Backend:
    from suanli.adapters.backends.slurm import SHARDS_PER_CARD_DEFAULT, SlurmBackend

    options = record.options
    bin_dir = options.get("bin_dir")
    return SlurmBackend(
        str(options["partition"]),
        str(options["gres_type"]),
        log_dir=Path(str(options["log_dir"])),
        run_as=str(options["run_as"]),
        slurm_conf=Path(record.address) if record.address else None,
        accelerator_model=_text(options.get("accelerator_model"), "accelerator_model"),
        gres_name=_text(options.get("gres_name"), "gres_name") or "gpu",
        allow_root=_flag(options.get("allow_root", False), "allow_root"),
        timeout_s=_positive(options.get("timeout_s", 30.0), "timeout_s"),
        timezone=_text(options.get("timezone"), "timezone"),
        bin_dir=Path(str(bin_dir)) if bin_dir else None,
        shards_per_card=_shards(options.get("shards_per_card", SHARDS_PER_CARD_DEFAULT)),
    )


def _rules(kind: str) -> tuple[frozenset[str], frozenset[str], tuple[str, ...]]:
    if kind == "ray":
        return RAY_OPTIONS, RAY_CREDENTIALS, ()
    return SLURM_OPTIONS, SLURM_CREDENTIALS, SLURM_REQUIRED


_WHERE_ZH = {"options": "选项", "credentials": "凭据字段"}
UNKNOWN_NAMED_MAX = 5


def _require_known(values: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = [shown(name) for name in sorted(set(values) - allowed)]  # echoed cut short
    if unknown:
        accepted = ", ".join(sorted(allowed)) or "none"
        named = unknown[:UNKNOWN_NAMED_MAX] + (["…"] if len(unknown) > UNKNOWN_NAMED_MAX else [])
        raise InvalidInput(
            msg(
                f"不认识的{_WHERE_ZH.get(where, where)}：{'、'.join(named)}；可用：{accepted}",
                f"unknown {where} {', '.join(named)}; accepted: {accepted}",
            ),
            field=f"{where}.{unknown[0]}",
        )


def _string_map(value: object, name: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(key, str) and isinstance(item, str) for key, item in value.items()
    ):
        raise InvalidInput(
            msg(f"`{name}` 须把型号名映射为名称", f"{name} must map model names to names"),
            field=f"options.{name}",
        )
    return dict(value)


def _positive(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 600:
        raise InvalidInput(
            msg(
                f"`{name}` 须为 0 至 600 之间的秒数（不含 0）",
                f"{name} must be a number of seconds in (0, 600]",
            ),
            field=f"options.{name}",
        )
    return float(value)


def _shards(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        raise InvalidInput(
            msg(
                "`shards_per_card` 须为 1 至 1000 之间的整数"
                "（集群 gres.conf 中每张 GPU 的 `shard Count`）",
                "shards_per_card must be an integer in [1, 1000] (the shard Count of each GPU in "
                "the cluster's gres.conf)",
            ),
            field="options.shards_per_card",
        )
    return value


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(
            msg(f"`{name}` 须为 `true` 或 `false`", f"{name} must be true or false"),
            field=f"options.{name}",
        )
    return value


def _text(value: object, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise InvalidInput(
            msg(f"`{name}` 须为字符串", f"{name} must be a string"), field=f"options.{name}"
        )
    return value or None
