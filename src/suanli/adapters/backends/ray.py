"""The Ray backend: runs a job through a Ray cluster's Jobs API, cards as custom resources.

A pool's cards are the Ray custom resource `accelerator_type:<name>`; a job reserves them with
`entrypoint_resources`. Jobs go through `ray.job_submission.JobSubmissionClient`; capacity and
health are read over the dashboard's HTTP API, so the service never joins the cluster.
"""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from typing import Any, NoReturn

import httpx

from suanli.adapters.backends.base import (
    LOG_CHUNK_BYTES_MAX,
    BackendState,
    Health,
    JobStatus,
    LaunchRequest,
    LogChunk,
    Usage,
    cards_env,
)
from suanli.errors import BackendError, BackendUnavailable, InvalidInput, NotFound
from suanli.i18n import msg

RESOURCE_PREFIX = "accelerator_type:"
TIMEOUT_S_DEFAULT = 10.0
NODES_MAX = 10_000  # page size asked of the state API; a bigger cluster is refused, not truncated
CANCELLED_BEFORE_START_MAX = 10_000  # bound on the in-memory set below
SUBMISSION_PREFIX = "suanli-"
RETRY_SUFFIX_BYTES = 3  # a retry's submission id: the first one, "-", 6 hex digits
METADATA_CARDS = "suanli_cards"
METADATA_RESOURCE = "suanli_resource"

_STATES = {
    "PENDING": BackendState.PENDING,
    "RUNNING": BackendState.RUNNING,
    "SUCCEEDED": BackendState.SUCCEEDED,
    "FAILED": BackendState.FAILED,
    "STOPPED": BackendState.CANCELLED,
}
_TERMINAL_RAY_STATES = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})


class RayHttpError(Exception):
    """A non-success answer from the Jobs API, with its status code (the SDK drops it)."""

    def __init__(self, status_code: int, text: str) -> None:
        super().__init__(f"HTTP {status_code}: {text[:500]}")
        self.status_code = status_code
        self.text = text


class RayBackend:
    """One Ray cluster, reached at its dashboard address (the Jobs API).

    `accelerator_names` maps a catalog model (what pools name, e.g. "H100-SXM") to the name in
    the cluster's resource (`accelerator_type:H100`); models not listed are used as they are.
    `token` is sent as `Authorization: Bearer <token>`: the Jobs API has no authentication of
    its own by default, so providers who expose it put it behind a proxy that checks one.
    """

    kind = "ray"

    def __init__(
        self,
        address: str = "http://127.0.0.1:8265",
        *,
        token: str | None = None,
        accelerator_names: Mapping[str, str] | None = None,
        timeout_s: float = TIMEOUT_S_DEFAULT,
        request_gpus: bool = False,
        verify_tls: bool = True,
    ) -> None:
        if not address.startswith(("http://", "https://")):
            raise InvalidInput(
                msg(
                    f"Ray 地址须为仪表盘 URL http(s)://host:port，收到 {address!r}",
                    f"Ray address must be the dashboard URL http(s)://host:port, got {address!r}",
                ),
                field="address",
            )
        if timeout_s <= 0:
            raise InvalidInput(
                msg("`timeout_s` 须为正数", "timeout_s must be positive"), field="timeout_s"
            )
        self.address = address.rstrip("/")
        self.timeout_s = timeout_s
        self.request_gpus = request_gpus  # also reserve Ray's GPU resource, for real GPU nodes
        self._verify_tls = verify_tls
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._names = dict(accelerator_names or {})
        self._client: Any = None
        self._lock = threading.Lock()
        # Ray lets a job stopped while PENDING run briefly once resources free up, and reports
        # its submission time as start: such jobs are never charged (see usage()).
        self._cancelled_before_start: OrderedDict[str, None] = OrderedDict()
        # Runs asked to stop: a submit retry must start anew rather than adopt one of them.
        self._stop_requested: OrderedDict[str, None] = OrderedDict()

    def __repr__(self) -> str:  # never shows the token
        return f"RayBackend({self.address!r})"

    # -- the Backend interface -------------------------------------------------------------
    def submit(self, request: LaunchRequest) -> str:
        resource = self.resource_name(request.accelerator_model)
        require_fits(self._node_totals(), resource, request.cards, request.accelerator_model)
        # a share of a card is a fraction of the card resource: Ray packs fractions natively
        submission_id = SUBMISSION_PREFIX + request.job_id
        try:
            return self._submit_as(submission_id, request, resource)
        except RayHttpError as error:
            if "already exists" not in error.text:
                raise translate_error(error, "submit the job") from error
        # A retry of a submit that reached Ray: adopt the job if it still runs, else start anew.
        if not self._is_terminal(submission_id) and submission_id not in self._stop_requested:
            return submission_id
        retry_id = f"{submission_id}-{secrets.token_hex(RETRY_SUFFIX_BYTES)}"
        try:
            return self._submit_as(retry_id, request, resource)
        except RayHttpError as error:
            raise translate_error(error, "submit the job") from error

    def status(self, backend_job_id: str) -> JobStatus:
        info = self._job_info(backend_job_id)
        if info is None:
            return JobStatus(BackendState.LOST, message="the Ray cluster does not know this job")
        return job_status_from_info(info)

    def logs(self, backend_job_id: str, offset: int = 0) -> LogChunk:
        with self._calling("read the job's logs"):
            try:
                text = self._sdk().get_job_logs(backend_job_id)
            except RayHttpError as error:
                if error.status_code == 404:
                    raise NotFound(
                        msg(f"作业 {backend_job_id} 没有日志", f"no log for job {backend_job_id}"),
                        field="job_id",
                    ) from error
                raise
        return log_chunk(str(text).encode("utf-8"), offset)

    def cancel(self, backend_job_id: str) -> None:
        info = self._job_info(backend_job_id)
        if info is None or info["status"] in _TERMINAL_RAY_STATES:
            return
        if info["status"] == "PENDING":
            self._remember(self._cancelled_before_start, backend_job_id)
        self._remember(self._stop_requested, backend_job_id)
        with self._calling("stop the job"):
            self._sdk().stop_job(backend_job_id)

    def live_runs(self, job_id: str) -> list[str]:
        with self._calling("list the cluster's jobs"):
            listed = self._sdk().list_jobs()
        ours = _submission_pattern(job_id)
        found = []
        for details in listed:
            submission_id = str(getattr(details, "submission_id", None) or "")
            if not ours.fullmatch(submission_id) or submission_id in self._stop_requested:
                continue
            if _details_to_dict(details)["status"] not in _TERMINAL_RAY_STATES:
                found.append(submission_id)
        return sorted(found)

    def usage(self, backend_job_id: str) -> Usage | None:
        info = self._job_info(backend_job_id)
        if info is None:
            return None
        usage = usage_from_info(info)
        if usage is not None and backend_job_id in self._cancelled_before_start:
            return Usage(usage.ended_at, usage.ended_at, usage.cards, source="ray:never-started")
        return usage

    def capacity(self) -> dict[str, int]:
        totals = self._node_totals()
        usage_by_node = self._usage_by_node()
        free = free_cards(totals, usage_by_node)
        return {self.model_name(name): cards for name, cards in free.items()}

    def health(self) -> Health:
        if importlib.util.find_spec("ray") is None:
            return Health(
                ok=False,
                message=msg(
                    "Ray 后端需要安装 'ray' 扩展", "the Ray backend needs the 'ray' extra installed"
                ),
            )
        try:
            response = self._get("/api/gcs_healthz")
        except BackendUnavailable as error:
            return Health(ok=False, message=error.text)
        status = response.status_code
        if status in (401, 403):
            message = msg(
                f"Ray 集群拒绝了凭据（HTTP {status}）",
                f"the Ray cluster refused the credentials (HTTP {status})",
            )
            return Health(ok=False, message=message)
        if status != 200:
            message = msg(f"Ray GCS 状态异常：HTTP {status}", f"Ray GCS unhealthy: HTTP {status}")
            return Health(ok=False, message=message)
        return Health(
            ok=True, message=msg(f"{self.address} 的 Ray 集群", f"Ray cluster at {self.address}")
        )

    # -- names -------------------------------------------------------------------------------
    def resource_name(self, accelerator_model: str) -> str:
        return RESOURCE_PREFIX + self._names.get(accelerator_model, accelerator_model)

    def model_name(self, resource_suffix: str) -> str:
        """The catalog model for a cluster-side accelerator name (inverse of accelerator_names)."""
        for model, name in self._names.items():
            if name == resource_suffix:
                return model
        return resource_suffix

    # -- Jobs API through the SDK --------------------------------------------------------------
    def _submit_as(self, submission_id: str, request: LaunchRequest, resource: str) -> str:
        env = {**request.env, "SUANLI_JOB_ID": request.job_id}
        env["SUANLI_ACCELERATOR"] = request.accelerator_model
        env.update(cards_env(request))
        amount = held_amount(request)
        options: dict[str, Any] = {
            "entrypoint": request.command,
            "submission_id": submission_id,
            "entrypoint_resources": {resource: amount},
            "runtime_env": {"env_vars": env},
            # Recorded by Ray with the job: the cards usage() multiplies by (a share holds one
            # card; the runtime weighs its seconds by card_milli).
            "metadata": {METADATA_CARDS: str(request.cards), METADATA_RESOURCE: resource},
        }
        if self.request_gpus:
            options["entrypoint_num_gpus"] = amount
        with self._calling("submit the job", keep=(RayHttpError,)):
            return str(self._sdk().submit_job(**options))

    def _job_info(self, backend_job_id: str) -> dict[str, Any] | None:
        with self._calling("read the job's status"):
            try:
                details = self._sdk().get_job_info(backend_job_id)
            except RayHttpError as error:
                if error.status_code == 404:
                    return None
                raise
        return _details_to_dict(details)

    def _is_terminal(self, backend_job_id: str) -> bool:
        info = self._job_info(backend_job_id)
        return info is None or info["status"] in _TERMINAL_RAY_STATES

    def _sdk(self) -> Any:
        with self._lock:
            if self._client is None:
                client_class = _timed_client_class()
                self._client = client_class(
                    self.address,
                    self.timeout_s,
                    headers=dict(self._headers),
                    verify=self._verify_tls,
                )
            return self._client

    @contextmanager
    def _calling(self, action: str, keep: tuple[type[Exception], ...] = ()) -> Iterator[None]:
        """Turns whatever the SDK raises into BackendError / BackendUnavailable."""
        try:
            yield
        except keep:
            raise
        except (BackendError, NotFound):
            raise
        except Exception as error:  # the SDK raises bare RuntimeError, requests errors, ...
            translated = translate_error(error, action)
            if isinstance(translated, BackendUnavailable):
                with self._lock:
                    self._client = None  # reconnect (and re-check the version) next time
            raise translated from error

    def _remember(self, ids: OrderedDict[str, None], backend_job_id: str) -> None:
        with self._lock:
            ids[backend_job_id] = None
            while len(ids) > CANCELLED_BEFORE_START_MAX:
                ids.popitem(last=False)

    # -- dashboard HTTP API ----------------------------------------------------------------
    def _get(self, path: str, params: Mapping[str, str] | None = None) -> httpx.Response:
        try:
            return httpx.get(
                self.address + path,
                params=params,
                headers=self._headers,
                timeout=self.timeout_s,
                verify=self._verify_tls,
            )
        except httpx.HTTPError as error:
            raise BackendUnavailable.caused_by(
                msg(
                    f"无法连接 {self.address} 的 Ray 集群",
                    f"Ray cluster at {self.address} is unreachable",
                ),
                error,
            ) from error

    def _get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        response = self._get(path, params)
        if response.status_code in (401, 403):
            _raise_credentials(self.address, response.status_code)
        if response.status_code != 200:
            raise BackendError(
                msg(
                    f"Ray 仪表盘 {path} 返回 HTTP {response.status_code}",
                    f"Ray dashboard {path} answered HTTP {response.status_code}",
                )
            )
        try:
            return response.json()
        except ValueError as error:
            raise BackendError(
                msg(
                    f"Ray 仪表盘 {path} 的回复不是 JSON",
                    f"Ray dashboard {path} did not answer JSON",
                )
            ) from error

    def _node_totals(self) -> list[dict[str, Any]]:
        body = self._get_json("/api/v0/nodes", {"limit": str(NODES_MAX), "detail": "false"})
        return alive_nodes(body)

    def _usage_by_node(self) -> dict[str, dict[str, list[float]]]:
        return usage_by_node(self._get_json("/api/cluster_status"))


# -- pure helpers (unit-tested without a cluster) ----------------------------------------------
def job_status_from_info(info: Mapping[str, Any]) -> JobStatus:
    """Maps a Jobs API record (`GET /api/jobs/<id>`) to a JobStatus."""
    raw = str(info.get("status", ""))
    state = _STATES.get(raw)
    if state is None:
        raise BackendError(
            msg(f"Ray 报告了未知的作业状态 {raw!r}", f"Ray reported an unknown job status {raw!r}")
        )
    exit_code = info.get("driver_exit_code")
    return JobStatus(
        state,
        exit_code=int(exit_code) if exit_code is not None else None,
        started_at=_from_ms(info.get("start_time")),
        ended_at=_from_ms(info.get("end_time")) if state != BackendState.RUNNING else None,
        message=str(info.get("message") or ""),
    )


def held_amount(request: LaunchRequest) -> float:
    """The card resource a job reserves: whole cards, or the share's fraction of one card
    (Ray accepts fractional resources down to 1/10,000; milli are exact in it)."""
    if request.card_milli is not None:
        return request.card_milli / 1000
    return float(request.cards)


def usage_from_info(info: Mapping[str, Any]) -> Usage | None:
    """Ray's own start and end times (ms) × the cards recorded with the job; None if unproven.

    Ray's start_time is when the job was accepted, so the figure includes the runtime
    environment's setup (about a second); suanli submits only when the cards are free.
    """
    if str(info.get("status")) not in _TERMINAL_RAY_STATES:
        return None
    started, ended = _from_ms(info.get("start_time")), _from_ms(info.get("end_time"))
    cards = _int_or_none((info.get("metadata") or {}).get(METADATA_CARDS))
    if started is None or ended is None or cards is None or cards < 0:
        return None
    return Usage(started, max(started, ended), cards, source="ray:jobs-api")


def alive_nodes(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ALIVE nodes of a state API `GET /api/v0/nodes` answer."""
    try:
        listing = body["data"]["result"]
        nodes = listing["result"]
    except (KeyError, TypeError) as error:
        raise BackendError(
            msg(
                "Ray 状态接口 /api/v0/nodes 的回复无法识别",
                "unexpected answer from Ray's state API /api/v0/nodes",
            )
        ) from error
    if int(listing.get("total", len(nodes))) > len(nodes):
        raise BackendError(
            msg(
                f"Ray 集群的节点超过 {NODES_MAX} 个，不支持",
                f"the Ray cluster has more than {NODES_MAX} nodes; not supported",
            )
        )
    return [node for node in nodes if node.get("state") == "ALIVE"]


def usage_by_node(body: Mapping[str, Any]) -> dict[str, dict[str, list[float]]]:
    """Per node, resource -> [used, total], from `GET /api/cluster_status`.

    Its keys went through the dashboard's camelCase conversion: match them with dashboard_key().
    The autoscaler refreshes it every few seconds, so it may lag a job that just started.
    """
    try:
        report = body["data"]["clusterStatus"]["loadMetricsReport"]
        by_node = report["usageByNode"]
    except (KeyError, TypeError) as error:
        raise BackendError(
            msg("Ray 集群尚未报告资源用量", "the Ray cluster has not reported resource usage yet")
        ) from error
    if not isinstance(by_node, dict):
        raise BackendError(
            msg("Ray 集群尚未报告资源用量", "the Ray cluster has not reported resource usage yet")
        )
    return by_node


def dashboard_key(resource: str) -> str:
    """The key the dashboard uses for a resource name (Ray's `to_camel_case`)."""
    first, *rest = resource.split("_")
    return first + "".join(part.title() for part in rest)


def free_cards(
    nodes: list[dict[str, Any]], by_node: Mapping[str, Mapping[str, list[float]]]
) -> dict[str, int]:
    """Accelerator name -> whole free cards, summed over ALIVE nodes (total minus used)."""
    free: dict[str, int] = {}
    for node in nodes:
        usage = by_node.get(str(node.get("node_id")), {})
        for resource, total in (node.get("resources_total") or {}).items():
            if not resource.startswith(RESOURCE_PREFIX):
                continue
            used = float(usage.get(dashboard_key(resource), [0.0])[0])
            name = resource.removeprefix(RESOURCE_PREFIX)
            free[name] = free.get(name, 0) + max(0, int(float(total) - used))
    return free


def require_fits(nodes: list[dict[str, Any]], resource: str, cards: int, model: str) -> None:
    """Refuses a job no node could ever hold: Ray would leave it PENDING forever."""
    per_node = [float((node.get("resources_total") or {}).get(resource, 0)) for node in nodes]
    largest = int(max(per_node, default=0))
    if largest == 0:
        offered = sorted({name for node in nodes for name in _accelerator_names(node)})
        raise BackendError(
            msg(
                f"Ray 集群没有 {model!r} 卡（没有节点提供资源 {resource!r}）；"
                f"它提供：{'、'.join(offered) or '无 accelerator_type 资源'}",
                f"the Ray cluster has no {model!r} cards (no node offers resource {resource!r}); "
                f"it offers: {', '.join(offered) or 'no accelerator_type resources'}",
            ),
            field="accelerator_model",
        )
    if cards > largest:
        raise BackendError(
            msg(
                f"作业要 {cards} 张 {model} 卡，但 Ray 最大的节点只有 {largest} 张；"
                "Ray 作业入口的资源须放得进一个节点",
                f"the job asks for {cards} {model} cards but the largest Ray node has {largest}; "
                "a Ray job's entrypoint resources must fit on one node",
            ),
            field="cards",
        )


def _accelerator_names(node: Mapping[str, Any]) -> list[str]:
    resources = node.get("resources_total") or {}
    return [
        name.removeprefix(RESOURCE_PREFIX) for name in resources if name.startswith(RESOURCE_PREFIX)
    ]


def log_chunk(data: bytes, offset: int) -> LogChunk:
    """At most LOG_CHUNK_BYTES_MAX bytes from `offset`, never cutting a UTF-8 character."""
    start = max(0, offset)
    piece = data[start : start + LOG_CHUNK_BYTES_MAX]
    if start + len(piece) < len(data):
        piece = _trim_partial_utf8(piece)
    return LogChunk(text=piece.decode("utf-8", errors="replace"), next_offset=start + len(piece))


def _trim_partial_utf8(piece: bytes) -> bytes:
    """Drops a last character that the chunk boundary cut in two."""
    for back in range(1, min(4, len(piece)) + 1):
        byte = piece[-back]
        if byte & 0xC0 != 0x80:  # the lead byte of the last character
            return piece if back >= _utf8_length(byte) else piece[:-back]
    return piece


def _utf8_length(lead: int) -> int:
    if lead >= 0xF0:
        return 4
    if lead >= 0xE0:
        return 3
    return 2 if lead >= 0xC0 else 1


def _from_ms(value: object) -> datetime | None:
    number = _int_or_none(value)
    return None if number is None or number <= 0 else datetime.fromtimestamp(number / 1000, UTC)


def _int_or_none(value: object) -> int | None:
    try:
        return int(str(value)) if value is not None else None
    except ValueError:
        return None


def _submission_pattern(job_id: str) -> re.Pattern[str]:
    """The submission ids submit() gives a job: its first, and retries with a hex suffix."""
    first = re.escape(SUBMISSION_PREFIX + job_id)
    return re.compile(f"{first}(-[0-9a-f]{{{2 * RETRY_SUFFIX_BYTES}}})?")


def _details_to_dict(details: Any) -> dict[str, Any]:
    status = getattr(details, "status", "")
    return {
        "status": str(getattr(status, "value", status)),
        "start_time": getattr(details, "start_time", None),
        "end_time": getattr(details, "end_time", None),
        "driver_exit_code": getattr(details, "driver_exit_code", None),
        "message": getattr(details, "message", None),
        "metadata": dict(getattr(details, "metadata", None) or {}),
    }


ACTIONS_ZH = {
    "read the job's logs": "读取作业日志",
    "stop the job": "停止作业",
    "list the cluster's jobs": "列出集群的作业",
    "submit the job": "提交作业",
    "read the job's status": "读取作业状态",
}


def translate_error(error: Exception, action: str) -> BackendError:
    status_code = _status_code(error)
    doing = ACTIONS_ZH.get(action, action)
    if status_code in (401, 403):
        return BackendError(
            msg(
                f"Ray 集群拒绝了凭据（HTTP {status_code}），无法{doing}",
                f"the Ray cluster refused the credentials (HTTP {status_code}) to {action}",
            ),
            field="credentials",
        )
    if type(error).__name__ == "AuthenticationError":
        return BackendError.caused_by(
            msg("Ray 集群拒绝了凭据", "the Ray cluster refused the credentials"),
            error,
            field="credentials",
        )
    if isinstance(error, OSError):  # requests' ConnectionError/Timeout, the SDK's ConnectionError
        return BackendUnavailable.caused_by(
            msg(
                f"无法连接 Ray 集群，未能{doing}",
                f"Ray cluster unreachable while trying to {action}",
            ),
            error,
        )
    return BackendError.caused_by(msg(f"Ray 未能{doing}", f"Ray could not {action}"), error)


def _status_code(error: Exception) -> int | None:
    if isinstance(error, RayHttpError):
        return error.status_code
    response = getattr(error, "response", None)
    code = getattr(response, "status_code", None)
    return code if isinstance(code, int) else None


def _raise_credentials(address: str, status_code: int) -> NoReturn:
    raise BackendError(
        msg(
            f"{address} 的 Ray 集群拒绝了凭据（HTTP {status_code}）",
            f"the Ray cluster at {address} refused the credentials (HTTP {status_code})",
        ),
        field="credentials",
    )


@cache
def _timed_client_class() -> Callable[..., Any]:
    """A JobSubmissionClient that puts a timeout on every request and keeps HTTP status codes.

    Built on first use: Ray is an optional extra and heavy to import.
    """
    # INFRA.md: every Ray client keeps to the addresses it is given (no eth0 substitution).
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        from ray.job_submission import JobSubmissionClient
    except ImportError as error:
        raise BackendUnavailable(
            msg(
                "Ray 后端需要安装 'ray' 扩展：`pip install 'suanli[ray]'`"
                "（或 `pip install 'ray[default]'`）",
                "the Ray backend needs the 'ray' extra: pip install 'suanli[ray]' "
                "(or pip install 'ray[default]')",
            )
        ) from error

    class TimedJobSubmissionClient(JobSubmissionClient):  # type: ignore[misc]
        def __init__(self, address: str, timeout_s: float, **kwargs: Any) -> None:
            self._suanli_timeout_s = timeout_s  # read by _do_request during super().__init__
            super().__init__(address, **kwargs)

        def _do_request(self, method: str, endpoint: str, **kwargs: Any) -> Any:
            kwargs.setdefault("timeout", self._suanli_timeout_s)
            return super()._do_request(method, endpoint, **kwargs)

        def _raise_error(self, response: Any) -> NoReturn:
            raise RayHttpError(int(response.status_code), str(response.text))

    return TimedJobSubmissionClient
