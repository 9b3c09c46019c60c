"""The Ray backend against a real local Ray head (started once per session by the fixture)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import replace

import httpx
import pytest

from suanli.adapters.backends.base import BackendState, JobStatus, LaunchRequest
from suanli.adapters.backends.ray import RayBackend
from suanli.errors import BackendError, BackendUnavailable
from suanli.i18n import render
from tests.integration.clusters import RayHead, bearer_proxy, free_port, ray_head

pytestmark = pytest.mark.ray

MODEL = "H100-SXM"  # the catalog name; the cluster calls it accelerator_type:H100
WAIT_S_MAX = 60.0
POLL_S = 0.1


@pytest.fixture
def backend(ray_cluster: RayHead) -> RayBackend:
    return RayBackend(ray_cluster.address, accelerator_names={MODEL: "H100"}, timeout_s=10)


def request(job_id: str, command: str, cards: int = 1, model: str = MODEL) -> LaunchRequest:
    return LaunchRequest(
        job_id=f"{job_id}-{time.monotonic_ns()}",  # unique across reruns on one cluster
        command=command,
        cards=cards,
        accelerator_model=model,
        max_run_time_s=120,
        env={"TEST_GREETING": "hello from suanli"},
    )


def wait_for(
    backend: RayBackend, job: str, done: Callable[[JobStatus], bool], what: str
) -> JobStatus:
    deadline = time.monotonic() + WAIT_S_MAX
    while time.monotonic() < deadline:
        status = backend.status(job)
        if done(status):
            return status
        time.sleep(POLL_S)
    raise AssertionError(f"job {job} not {what} within {WAIT_S_MAX}s (last: {status})")


def finished(status: JobStatus) -> bool:
    return status.state not in (BackendState.PENDING, BackendState.RUNNING)


def job_count(ray_cluster: RayHead) -> int:
    return len(httpx.get(ray_cluster.address + "/api/jobs/", timeout=10).json())


def test_a_trivial_job_succeeds_and_is_metered_from_rays_own_times(backend: RayBackend) -> None:
    job = backend.submit(request("ok", "echo $TEST_GREETING; sleep 1.5", cards=2))
    status = wait_for(backend, job, finished, "finished")

    assert status.state == BackendState.SUCCEEDED and status.exit_code == 0
    assert "hello from suanli" in backend.logs(job).text
    usage = backend.usage(job)
    assert usage is not None and usage.cards == 2
    assert (usage.started_at, usage.ended_at) == (status.started_at, status.ended_at)
    assert usage.card_seconds > 0
    assert usage.card_seconds == int((usage.ended_at - usage.started_at).total_seconds()) * 2


ROUND_TRIPS = 3


def test_round_trip_of_a_trivial_job_is_recorded(
    backend: RayBackend, record_round_trip: Callable[[str, float], None]
) -> None:
    for run in range(ROUND_TRIPS):
        started = time.monotonic()
        job = backend.submit(request(f"echo-{run}", "echo hi"))
        deadline = started + WAIT_S_MAX
        while not finished(backend.status(job)) and time.monotonic() < deadline:
            time.sleep(0.05)
        record_round_trip("ray", time.monotonic() - started)
        assert backend.status(job).state == BackendState.SUCCEEDED


def test_logs_are_read_incrementally_from_an_offset(backend: RayBackend) -> None:
    job = backend.submit(request("logs", "printf 'first\\nsecond\\n'"))
    wait_for(backend, job, finished, "finished")
    whole = backend.logs(job)
    rest = backend.logs(job, offset=whole.next_offset)
    assert "second" in whole.text and rest.text == "" and rest.next_offset == whole.next_offset


def test_a_failing_job_reports_failed_with_its_exit_code(backend: RayBackend) -> None:
    job = backend.submit(request("fails", "echo about to fail; exit 3"))
    status = wait_for(backend, job, finished, "finished")
    assert status.state == BackendState.FAILED
    assert status.exit_code == 3


def test_a_running_job_holds_its_cards_and_can_be_cancelled(backend: RayBackend) -> None:
    job = backend.submit(request("cancel", "sleep 60", cards=3))
    wait_for(backend, job, lambda s: s.state == BackendState.RUNNING, "running")
    deadline = time.monotonic() + 20  # the autoscaler refreshes usage every few seconds
    while backend_capacity(backend) != 5 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert backend_capacity(backend) == 5

    backend.cancel(job)
    status = wait_for(backend, job, finished, "stopped")
    assert status.state == BackendState.CANCELLED
    backend.cancel(job)  # cancelling twice is harmless


def backend_capacity(backend: RayBackend) -> int | None:
    try:
        return backend.capacity().get(MODEL)
    except BackendError:
        return None  # usage not reported yet right after the head started


def test_asking_for_more_cards_than_any_node_has_is_refused_without_leaving_a_job(
    backend: RayBackend, ray_cluster: RayHead
) -> None:
    before = job_count(ray_cluster)
    with pytest.raises(BackendError, match="largest Ray node has 8") as raised:
        backend.submit(request("too-big", "true", cards=9))
    assert raised.value.field == "cards"
    with pytest.raises(BackendError, match="no 'A100-80GB' cards") as unknown:
        backend.submit(request("wrong-model", "true", model="A100-80GB"))
    assert unknown.value.field == "accelerator_model"
    assert job_count(ray_cluster) == before


def test_a_job_the_cluster_does_not_know_reads_as_lost(backend: RayBackend) -> None:
    assert backend.status("suanli-no-such-job").state == BackendState.LOST
    assert backend.usage("suanli-no-such-job") is None


def test_submitting_the_same_job_twice_adopts_the_first_submission(backend: RayBackend) -> None:
    launch = request("twice", "sleep 30")
    first = backend.submit(launch)
    try:
        assert backend.submit(launch) == first
    finally:
        backend.cancel(first)


def test_a_run_asked_to_stop_is_never_adopted_by_a_new_submit(backend: RayBackend) -> None:
    launch = request("stopped-then-again", "sleep 30")
    first = backend.submit(launch)
    backend.cancel(first)  # e.g. a lost run cancelled just before its job is placed again
    second = backend.submit(launch)
    try:
        assert second != first
        assert backend.status(second).state != BackendState.CANCELLED
    finally:
        backend.cancel(second)


def test_the_live_runs_of_a_job_are_found_by_its_id_and_a_stopped_one_is_not(
    backend: RayBackend,
) -> None:
    launch = request("lookup", "sleep 30")
    neighbour = replace(launch, job_id=launch.job_id + "-2")  # an id that extends the first
    first = backend.submit(launch)
    other = backend.submit(neighbour)
    try:
        assert backend.live_runs(launch.job_id) == [first]
        backend.cancel(first)
        second = backend.submit(launch)  # a retry's run: the first id and a suffix
        assert second != first and backend.live_runs(launch.job_id) == [second]
        backend.cancel(second)
        assert backend.live_runs(launch.job_id) == []
        assert backend.live_runs(neighbour.job_id) == [other]
    finally:
        backend.cancel(other)


def test_an_unreachable_address_is_backend_unavailable() -> None:
    backend = RayBackend(f"http://127.0.0.1:{free_port()}", timeout_s=2)
    assert backend.health().ok is False
    with pytest.raises(BackendUnavailable):
        backend.status("suanli-anything")
    with pytest.raises(BackendUnavailable):
        backend.submit(request("nowhere", "true"))
    with pytest.raises(BackendUnavailable):
        backend.capacity()


def test_a_token_guarded_jobs_api_takes_the_right_token_and_names_a_wrong_one(
    ray_cluster: RayHead,
) -> None:
    with bearer_proxy(ray_cluster.address, token="right") as guarded:
        wrong = RayBackend(guarded, token="wrong", accelerator_names={MODEL: "H100"})
        health = wrong.health()
        assert health.ok is False and "credentials" in render(health.message, "en")
        assert "凭据" in render(health.message, "zh-CN")
        with pytest.raises(BackendError) as refused:
            wrong.status("suanli-anything")
        assert refused.value.field == "credentials"
        assert not isinstance(refused.value, BackendUnavailable)
        with pytest.raises(BackendError) as refused_submit:
            wrong.submit(request("wrong-token", "true"))
        assert refused_submit.value.field == "credentials"

        right = RayBackend(guarded, token="right", accelerator_names={MODEL: "H100"})
        assert right.health().ok
        job = right.submit(request("right-token", "echo through the proxy"))
        assert wait_for(right, job, finished, "finished").state == BackendState.SUCCEEDED


def test_a_cluster_that_goes_down_mid_job_is_unavailable_then_the_job_is_lost(
    backend: RayBackend, ray_cluster: RayHead
) -> None:
    # Kept last in this module: it crashes the session's head, then starts a fresh one.
    assert backend.health().ok
    job = backend.submit(request("crash", "sleep 60"))
    wait_for(backend, job, lambda s: s.state == BackendState.RUNNING, "running")
    ray_cluster.crash()
    try:
        with pytest.raises(BackendUnavailable):
            backend.status(job)
        with pytest.raises(BackendUnavailable):
            backend.cancel(job)
        with pytest.raises(BackendUnavailable):
            backend.capacity()
        assert backend.health().ok is False
    finally:
        ray_cluster.start()
    assert backend.health().ok
    assert backend.status(job).state == BackendState.LOST  # the new head never heard of it


def _started_at(backend: RayBackend, job: str) -> tuple[float, float]:
    """(start, end) the entrypoint itself printed: it runs only once Ray granted its share."""
    text = backend.logs(job).text
    start, end = re.search(r"start (\d+\.\d+)", text), re.search(r"end (\d+\.\d+)", text)
    assert start is not None and end is not None, text
    return float(start.group(1)), float(end.group(1))


def test_ray_packs_shares_of_one_card_and_never_over_fills_it() -> None:
    """A head with a single T4: 0.6 and 0.4 of it run together; a second 0.6 waits for them."""
    with ray_head(resources={"accelerator_type:T4": 1}) as head:
        backend = RayBackend(head.address, accelerator_names={"T4": "T4"}, timeout_s=10)
        command = (
            "echo milli=$SUANLI_CARD_MILLI cards=$SUANLI_CARDS start $(date +%s.%N); sleep 3; "
            "echo end $(date +%s.%N)"
        )
        shares = [
            replace(request(f"share{i}", command, model="T4"), card_milli=milli, card_index=0)
            for i, milli in enumerate((600, 400, 600))
        ]
        jobs = [backend.submit(share) for share in shares]
        for job in jobs:
            status = wait_for(backend, job, finished, "finished")
            assert status.state == BackendState.SUCCEEDED, backend.logs(job).text
            usage = backend.usage(job)
            assert usage is not None and usage.cards == 1  # the runtime weighs it by card_milli
        assert "milli=600 cards=0" in backend.logs(jobs[0]).text
        (first, first_end), (second, second_end), (third, _) = (
            _started_at(backend, job) for job in jobs
        )
        assert second < first_end and first < second_end  # 0.6 + 0.4 of the card at once
        assert third >= min(first_end, second_end)  # another 0.6 had to wait for room
