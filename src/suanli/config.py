"""The one Settings object. Built by the entrypoints and passed down; never a module global.

Sources, highest first: explicit arguments, `SUANLI_*` environment variables, the TOML file
named by `SUANLI_CONFIG_FILE` (or `<data_dir>/suanli.toml`), then defaults.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from suanli.i18n import msg

POLICY_NAMES = ("fifo-first-fit", "cheapest", "fastest", "balanced", "fair")
# domain/scheduling/packing.PACKING_POLICIES (a unit test holds them equal; not imported here,
# so that reading the settings does not load NumPy)
PACKING_POLICY_NAMES = (
    "random",
    "dot-product",
    "gpu-clustering",
    "gpu-packing",
    "best-fit",
    "fgd",
    "suanli",
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SUANLI_", extra="forbid")

    data_dir: Path = Field(
        default=Path(".suanli"), description="where SQLite, logs and job dirs live"
    )
    database_url: str | None = Field(default=None, description="defaults to SQLite in data_dir")
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8710, ge=1, le=65535)
    api_url: str | None = Field(default=None, description="where CLI clients find the API")
    token: str | None = Field(default=None, description="bearer token used by CLI clients")
    language: str = Field(default="zh-CN", pattern=r"^(zh-CN|en)$")
    platform_fee_bp: int = Field(default=500, ge=0, le=5000, description="fee in basis points")
    scheduler_policy: str = "cheapest"
    scheduler_interval_s: float = Field(default=0.5, gt=0, le=60)
    packing_policy: str = Field(
        default="suanli",
        description="which node and card of the chosen pool a share gets (docs/scheduling.md)",
    )
    packing_whole_cards: bool = Field(
        default=False,
        description="one-node whole-card jobs are placed by the packing policy too (else best fit)",
    )
    job_log_max_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        le=2**40,
        description="a local job's log keeps this many bytes of its output; the rest is dropped",
    )
    job_file_max_bytes: int = Field(
        default=4 * 1024**3,
        ge=64 * 1024,
        le=2**50,
        description="a local job may write no file larger than this (the shell's ulimit -f)",
    )
    max_queued_jobs_per_enterprise: int = Field(
        default=1000,
        ge=1,
        le=1_000_000,
        description="a submit past this many of the enterprise's jobs waiting in the queue: 429",
    )
    page_size_max: int = Field(default=500, ge=1, le=10_000)
    backend_lost_grace_s: float = Field(default=30.0, ge=0, le=3600)
    node_name: str = Field(
        default_factory=socket.gethostname,
        min_length=1,
        max_length=120,
        description="this machine's name: the home of the local pools it runs",
    )
    lease_ttl_s: float = Field(
        default=6.0, ge=1.0, le=60.0, description="a dead scheduler leader is replaced after this"
    )
    lease_renew_s: float = Field(
        default=2.0, gt=0.0, le=20.0, description="how often the leader renews its lease"
    )
    session_idle_s: int = Field(
        default=30 * 60, ge=60, le=24 * 3600, description="a session unused this long ends"
    )
    session_absolute_s: int = Field(
        default=12 * 3600, ge=300, le=30 * 24 * 3600, description="no session lives longer"
    )
    dashboard_cache_s: float = Field(
        default=5.0, ge=0, le=60, description="the public city dashboard is re-read this often"
    )
    dashboard_utilisation_step_s: int = Field(
        default=60,
        ge=1,
        le=3600,
        description="the dashboard's utilisation series is read to a whole multiple of this",
    )

    @field_validator("scheduler_policy")
    @classmethod
    def _known_policy(cls, value: str) -> str:
        if value not in POLICY_NAMES:
            choices = ", ".join(POLICY_NAMES)
            wording = msg(
                f"未知调度策略 {value!r}；可选：{choices}",
                f"unknown policy {value!r}; choose one of {choices}",
            )
            raise ValueError(str(wording))  # pydantic keeps text only: worded when loaded
        return value

    @field_validator("packing_policy")
    @classmethod
    def _known_packing_policy(cls, value: str) -> str:
        if value not in PACKING_POLICY_NAMES:
            choices = ", ".join(PACKING_POLICY_NAMES)
            wording = msg(
                f"未知装箱策略 {value!r}；可选：{choices}",
                f"unknown packing policy {value!r}; choose one of {choices}",
            )
            raise ValueError(str(wording))
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = _toml_path()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'suanli.db').resolve()}"

    @property
    def resolved_api_url(self) -> str:
        return self.api_url or f"http://{self.api_host}:{self.api_port}"

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"


def _toml_path() -> Path | None:
    explicit = os.environ.get("SUANLI_CONFIG_FILE")
    if explicit:
        return Path(explicit)
    default = Path(os.environ.get("SUANLI_DATA_DIR", ".suanli")) / "suanli.toml"
    return default if default.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Builds Settings; `overrides` win over environment and file (used by tests and the CLI)."""
    clean = {key: value for key, value in overrides.items() if value is not None}
    return Settings(**clean)
