"""Which real cluster a connection points at, whatever the spelling of its address.

A cluster (plus its partition) belongs to one provider: the platform refuses a second claim on
it, so nobody sells cards they do not run. Two spellings of one cluster must give one key:
`http://localhost:8265/` and `http://127.0.0.1:8265` are the same Ray head, and a copy of
another provider's slurm.conf still names the same controller.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_SLURM_CONF = Path("/etc/slurm/slurm.conf")
SLURMCTLD_PORT_DEFAULT = "6817"
SLURM_CONF_BYTES_MAX = 1024 * 1024
LOOPBACK_NAMES = {"localhost": "127.0.0.1", "::1": "127.0.0.1", "ip6-localhost": "127.0.0.1"}


def cluster_key(kind: str, address: str, options: Mapping[str, Any]) -> str:
    """A canonical key for the cluster a connection points at (at most 300 characters)."""
    if kind == "ray":
        return f"ray:{_http_endpoint(address)}"[:300]
    if kind == "slurm":
        partition = str(options.get("partition") or "").strip().lower()
        return f"slurm:{_slurm_controller(address)}/{partition}"[:300]
    return f"{kind}:{address.strip().lower()}"[:300]


def _http_endpoint(address: str) -> str:
    parts = urlsplit(address.strip())
    host = (parts.hostname or "").lower()
    host = LOOPBACK_NAMES.get(host, host)
    default_port = 443 if parts.scheme.lower() == "https" else 80
    port = parts.port or default_port
    path = parts.path.rstrip("/")
    return f"{host}:{port}{path}"


def _slurm_controller(address: str) -> str:
    """`cluster@host:port` of the first SlurmctldHost in the slurm.conf the address names; the
    file's resolved path when it cannot be read."""
    path = Path(address) if address.strip() else DEFAULT_SLURM_CONF
    settings = _read_conf(path)
    if settings is None:
        return f"file:{path.resolve()}"
    cluster = settings.get("clustername", "").lower()
    host_spec = settings.get("slurmctldhost") or settings.get("controlmachine", "")
    host = _controller_host(host_spec)
    port = settings.get("slurmctldport", SLURMCTLD_PORT_DEFAULT).split("-")[0]
    return f"{cluster}@{host}:{port}"


def _controller_host(spec: str) -> str:
    """`localhost(127.0.0.1)` → 127.0.0.1: the address in brackets is where it listens."""
    name, _, address = spec.partition("(")
    host = (address.rstrip(")") or name).strip().lower()
    return LOOPBACK_NAMES.get(host, host)


def _read_conf(path: Path) -> dict[str, str] | None:
    try:
        if not path.is_file() or path.stat().st_size > SLURM_CONF_BYTES_MAX:
            return None
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    settings: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        key, separator, value = line.partition("=")
        key = key.strip().lower()
        if separator and key and " " not in key and key not in settings:
            settings[key] = value.strip().split()[0] if value.strip() else ""
    return settings
