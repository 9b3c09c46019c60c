"""The Slurm backend against a real one-node Slurm cluster with 8 fake H100 GRES."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from suanli.adapters.backends.base import BackendState, JobStatus, LaunchRequest
from suanli.adapters.backends.slurm import SlurmBackend
from suanli.errors import BackendError, BackendUnavailable, InvalidInput
from tests.integration import clusters
from tests.integration.clusters import SlurmCluster

pytestmark = pytest.mark.slurm

MODEL = "H100-SXM"  # the catalog name; the cluster's GRES type is h100
WAIT_S_MAX = 60.0
POLL_S = 0.1


def make_backend(
    cluster: SlurmCluster, partition: str = "debug", gres_type: str = "h100"
) -> SlurmBackend:
    return SlurmBackend(
        partition,
        gres_type,
        log_dir=cluster.log_dir,
        run_as=cluster.job_user,
        slurm_conf=cluster.conf,
        accelerator_model=MODEL,
        timeout_s=15,
    )


@pytest.fixture
def backend(slurm_cluster: SlurmCluster) -> SlurmBackend:
    return make_backend(slurm_cluster)


def request(job_id: str, command: str, cards: int = 1) -> LaunchRequest:
    return LaunchRequest(
        job_id=f"{job_id}-{time.monotonic_ns()}",
        command=command,
        cards=cards,
        accelerator_model=MODEL,
        max_run_time_s=120,
        env={"TEST_GREETING": "hello from suanli; it's quoted"},
    )


def wait_for(
    backend: SlurmBackend, job: str, done: Callable[[JobStatus], bool], what: str
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


def running(status: JobStatus) -> bool:
    return status.state == BackendState.RUNNING


def jobs_named(cluster: SlurmCluster, launch: LaunchRequest) -> list[str]:
    """Live Slurm jobs for this launch request (Slurm keeps a FAILED record of a refused one)."""
    states = "--states=PENDING,CONFIGURING,RUNNING,SUSPENDED,COMPLETING"
    args = ["squeue", "-h", states, "-n", f"suanli-{launch.job_id}", "-o", "%i"]
    result = subprocess.run(args, env=cluster.env(), capture_output=True, text=True, timeout=20)
    return result.stdout.split()


@pytest.fixture
def service_secret() -> Iterator[str]:
    """A variable in the service's environment that must never reach a job."""
    os.environ["SUANLI_SERVICE_SECRET_PROBE"] = "do-not-leak"
    yield "SUANLI_SERVICE_SECRET_PROBE"
    del os.environ["SUANLI_SERVICE_SECRET_PROBE"]


def test_a_trivial_job_succeeds_as_the_job_user_and_is_metered_from_slurm(
    backend: SlurmBackend, service_secret: str
) -> None:
    command = 'echo "$TEST_GREETING"; echo "gpus=$CUDA_VISIBLE_DEVICES"; id -un; env; sleep 1'
    job = backend.submit(request("ok", command, cards=2))
    status = wait_for(backend, job, finished, "finished")

    assert status.state == BackendState.SUCCEEDED and status.exit_code == 0
    log = backend.logs(job).text
    assert "hello from suanli; it's quoted" in log and "gpus=0,1" in log
    assert "suanlijob" in log.splitlines()  # ran as the configured user, not root
    assert service_secret not in log
    usage = backend.usage(job)
    assert usage is not None and usage.cards == 2
    assert (usage.started_at, usage.ended_at) == (status.started_at, status.ended_at)
    assert usage.card_seconds > 0
    assert usage.card_seconds == int((usage.ended_at - usage.started_at).total_seconds()) * 2


ROUND_TRIPS = 3


def test_round_trip_of_a_trivial_job_is_recorded(
    backend: SlurmBackend, record_round_trip: Callable[[str, float], None]
) -> None:
    for run in range(ROUND_TRIPS):
        started = time.monotonic()
        job = backend.submit(request(f"echo-{run}", "echo hi"))
        deadline = started + WAIT_S_MAX
        while not finished(backend.status(job)) and time.monotonic() < deadline:
            time.sleep(0.05)
        record_round_trip("slurm", time.monotonic() - started)
        assert backend.status(job).state == BackendState.SUCCEEDED


def test_logs_are_read_incrementally_from_an_offset(backend: SlurmBackend) -> None:
    job = backend.submit(request("logs", "printf 'first\\nsecond\\n'"))
    wait_for(backend, job, finished, "finished")
    first = backend.logs(job)
    assert first.text == "first\nsecond\n"
    assert backend.logs(job, offset=6).text == "second\n"
    assert backend.logs(job, offset=first.next_offset).text == ""


def test_a_failing_job_reports_failed_with_its_exit_code(backend: SlurmBackend) -> None:
    job = backend.submit(request("fails", "echo about to fail; exit 3"))
    status = wait_for(backend, job, finished, "finished")
    assert status.state == BackendState.FAILED
    assert status.exit_code == 3


def test_a_running_job_holds_its_cards_and_can_be_cancelled(backend: SlurmBackend) -> None:
    assert backend.capacity() == {MODEL: 8}
    job = backend.submit(request("cancel", "sleep 60", cards=3))
    wait_for(backend, job, running, "running")
    assert backend.capacity() == {MODEL: 5}

    backend.cancel(job)
    status = wait_for(backend, job, finished, "cancelled")
    assert status.state == BackendState.CANCELLED
    backend.cancel(job)  # cancelling twice is harmless
    usage = backend.usage(job)
    assert usage is not None and usage.cards == 3


def test_a_job_cancelled_before_it_started_is_never_charged(backend: SlurmBackend) -> None:
    blocker = backend.submit(request("blocker", "sleep 60", cards=8))
    waiting = backend.submit(request("waiting", "true", cards=1))
    try:
        wait_for(backend, blocker, running, "running")
        assert backend.status(waiting).state == BackendState.PENDING
        backend.cancel(waiting)
        assert wait_for(backend, waiting, finished, "cancelled").state == BackendState.CANCELLED
        usage = backend.usage(waiting)
        assert usage is not None and usage.card_seconds == 0  # Slurm: StartTime = EndTime
    finally:
        backend.cancel(blocker)


def test_asking_for_more_cards_than_exist_is_refused_without_leaving_a_job(
    backend: SlurmBackend, slurm_cluster: SlurmCluster
) -> None:
    too_big = request("too-big", "true", cards=9)
    with pytest.raises(BackendError, match="can never give 9") as raised:
        backend.submit(too_big)
    assert raised.value.field == "cards"
    assert jobs_named(slurm_cluster, too_big) == []


def test_a_partition_that_does_not_exist_is_a_clear_error(slurm_cluster: SlurmCluster) -> None:
    backend = make_backend(slurm_cluster, partition="no-such-partition")
    with pytest.raises(BackendError, match="partition 'no-such-partition' does not exist"):
        backend.submit(request("nowhere", "true"))
    assert backend.health().ok is False


def test_an_accelerator_the_partition_does_not_have_is_a_clear_error(
    slurm_cluster: SlurmCluster,
) -> None:
    backend = make_backend(slurm_cluster, gres_type="a100")
    with pytest.raises(BackendError, match="has GRES gpu:a100") as raised:
        backend.submit(request("wrong-gres", "true"))
    assert raised.value.field == "accelerator_model"
    with pytest.raises(BackendError, match="serves 'H100-SXM'"):
        make_backend(slurm_cluster).submit(
            LaunchRequest("wrong-model", "true", 1, "A100-80GB", max_run_time_s=60)
        )


def test_jobs_never_run_as_root_unless_explicitly_allowed(slurm_cluster: SlurmCluster) -> None:
    with pytest.raises(InvalidInput, match="run as root"):
        SlurmBackend("debug", "h100", log_dir=slurm_cluster.log_dir, run_as="root")


def test_the_live_runs_of_a_job_are_found_by_its_name_and_a_cancelled_one_is_not(
    backend: SlurmBackend,
) -> None:
    launch = request("lookup", "sleep 60")
    neighbour = replace(launch, job_id=launch.job_id + "-2")  # a name that extends the first
    runs = [backend.submit(launch), backend.submit(launch)]  # e.g. a lost reply, then a retry
    other = backend.submit(neighbour)
    try:
        assert backend.live_runs(launch.job_id) == sorted(runs, key=int)
        backend.cancel(runs[0])
        assert backend.live_runs(launch.job_id) == [runs[1]]
        assert backend.live_runs(neighbour.job_id) == [other]
    finally:
        for run in (*runs, other):
            backend.cancel(run)
    assert backend.live_runs(launch.job_id) == []


def test_a_job_the_cluster_does_not_know_reads_as_lost(backend: SlurmBackend) -> None:
    assert backend.status("999999").state == BackendState.LOST
    assert backend.usage("999999") is None


def test_a_controller_that_goes_down_mid_job_is_unavailable_until_it_is_back(
    backend: SlurmBackend, slurm_cluster: SlurmCluster
) -> None:
    # Kept last in this module: it kills the session's controller, then restarts it.
    # Taken before submitting: a save that already holds the job may come before it runs.
    submitted_at = time.time()
    job = backend.submit(request("crash", "sleep 60"))
    wait_for(backend, job, running, "running")
    slurm_cluster.wait_state_saved(since=submitted_at)
    slurm_cluster.crash_controller()
    try:
        with pytest.raises(BackendUnavailable):
            backend.status(job)
        with pytest.raises(BackendUnavailable):
            backend.capacity()
        assert backend.health().ok is False
    finally:
        slurm_cluster.start_controller()
    # Slurm keeps its state on disk: the job survived the controller's crash.
    assert backend.health().ok
    # The saved state may predate the start: the recovered job reports running again shortly.
    assert wait_for(backend, job, running, "running after restart").state == BackendState.RUNNING
    backend.cancel(job)
    assert wait_for(backend, job, finished, "cancelled").state == BackendState.CANCELLED


def _share(job_id: str, command: str, milli: int) -> LaunchRequest:
    return replace(request(job_id, command), card_milli=milli, card_index=0)


def _scontrol_job(cluster: SlurmCluster, job: str) -> str:
    args = ["scontrol", "show", "job", job]
    return subprocess.run(
        args, env=cluster.env(), capture_output=True, text=True, timeout=20
    ).stdout


def test_shares_of_a_card_run_as_slurm_shards_and_are_metered_as_one_card(
    backend: SlurmBackend, slurm_cluster: SlurmCluster
) -> None:
    command = "echo milli=$SUANLI_CARD_MILLI cards=$SUANLI_CARDS shards=$SLURM_SHARDS_ON_NODE"
    jobs = [backend.submit(_share(f"share{m}", command + "; sleep 2", m)) for m in (600, 400)]
    for job, milli in zip(jobs, (600, 400), strict=True):
        assert f"shard:{milli}" in _scontrol_job(slurm_cluster, job)  # Slurm's own record
        status = wait_for(backend, job, finished, "finished")
        assert status.state == BackendState.SUCCEEDED
        assert f"milli={milli} cards=0 shards={milli}" in backend.logs(job).text
        usage = backend.usage(job)
        assert usage is not None and usage.cards == 1  # the runtime weighs it by card_milli


def _run_window(backend: SlurmBackend, job: str) -> tuple[float, float]:
    """(start, end) the job itself printed: it runs only once Slurm gave it its shards."""
    text = backend.logs(job).text
    start, end = re.search(r"start (\d+\.\d+)", text), re.search(r"end (\d+\.\d+)", text)
    assert start is not None and end is not None, text
    return float(start.group(1)), float(end.group(1))


def test_slurm_packs_shards_of_one_gpu_and_never_over_fills_it() -> None:
    """A cluster with a single GPU of 1000 shards: 600 and 400 run together; another 600
    waits for them."""
    with clusters.slurm_cluster(gpus=1) as cluster:
        backend = make_backend(cluster)
        command = "echo start $(date +%s.%N); sleep 3; echo end $(date +%s.%N)"
        jobs = [
            backend.submit(_share(f"pack{i}", command, milli))
            for i, milli in enumerate((600, 400, 600))
        ]
        for job in jobs:
            assert wait_for(backend, job, finished, "finished").state == BackendState.SUCCEEDED
        (first, first_end), (second, second_end), (third, _) = (
            _run_window(backend, job) for job in jobs
        )
        assert second < first_end and first < second_end  # 600 + 400 shards of one GPU at once
        assert third >= min(first_end, second_end)  # another 600 had to wait for shards


def test_a_job_that_links_its_log_elsewhere_reads_nothing_of_the_server(
    backend: SlurmBackend, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The job runs in the log folder and may swap its log for a link to a file only the
    server can read (its database, its key): the server must not serve that file as the log."""
    secret = tmp_path_factory.mktemp("server-only") / "secret.txt"
    secret.write_text("server secret")
    secret.chmod(0o600)
    for link in ("ln -s", "ln"):  # a symbolic link; a hard link (refused by the kernel or us)
        swap = f"L=slurm-$SLURM_JOB_ID.out; rm -f $L; {link} {secret} $L 2>/dev/null; echo x"
        job = backend.submit(request("swap-log", swap))
        wait_for(backend, job, finished, "finished")
        try:
            text = backend.logs(job).text
        except BackendError as error:
            text = str(error)
        assert "server secret" not in text, link
