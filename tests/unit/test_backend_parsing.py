"""Parsers of what Slurm and Ray print, fed with output captured from the real engines.

Slurm samples are from Slurm 22.05 (Debian 12) unless marked 23.02+; Ray samples from
Ray 2.60's Jobs, state and dashboard APIs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from suanli.adapters.backends import ray as ray_backend
from suanli.adapters.backends import slurm
from suanli.adapters.backends.base import LOG_CHUNK_BYTES_MAX, BackendState, LaunchRequest
from suanli.errors import BackendError, BackendUnavailable, InvalidInput

CST = timezone(timedelta(hours=8))

SCONTROL_JOB_COMPLETED = (
    "JobId=1 JobName=wrap UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901759 "
    "Nice=0 Account=(null) QOS=(null) JobState=COMPLETED Reason=None Dependency=(null) Requeue=1 "
    "Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:03 TimeLimit=UNLIMITED "
    "TimeMin=N/A SubmitTime=2026-11-22T04:47:26 EligibleTime=2026-11-22T04:47:26 "
    "AccrueTime=2026-11-22T04:47:26 StartTime=2026-11-22T04:47:26 EndTime=2026-11-22T04:47:29 "
    "Deadline=N/A SuspendTime=None SecsPreSuspend=0 LastSchedEval=2026-11-22T04:47:26 "
    "Scheduler=Main Partition=debug AllocNode:Sid=localhost:8504 ReqNodeList=(null) "
    "ExcNodeList=(null) NodeList=localhost BatchHost=localhost NumNodes=1 NumCPUs=1 NumTasks=1 "
    "CPUs/Task=1 ReqB:S:C:T=0:0:*:* TRES=cpu=1,node=1,billing=1 Socks/Node=* "
    "NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=0 MinTmpDiskNode=0 "
    "Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) "
    "Network=(null) Command=(null) WorkDir=/tmp/sl StdErr=/tmp/sl/out-1.log StdIn=/dev/null "
    "StdOut=/tmp/sl/out-1.log Power= TresPerNode=gres:gpu:h100:2 "
)
SCONTROL_NODE = (
    "NodeName=localhost Arch=x86_64 CoresPerSocket=1  CPUAlloc=1 CPUEfctv=2 CPUTot=2 "
    "CPULoad=0.36 AvailableFeatures=(null) ActiveFeatures=(null) Gres=gpu:h100:8 GresDrain=N/A "
    "GresUsed=gpu:h100:3(IDX:0-2) NodeAddr=127.0.0.1 NodeHostName=localhost Version=22.05.8 "
    "OS=Linux 6.18.44-fc-v669 #1 SMP PREEMPT_DYNAMIC @0  RealMemory=16000 AllocMem=0 "
    "FreeMem=22557 Sockets=2 Boards=1 State=MIXED ThreadsPerCore=1 TmpDisk=0 Weight=1 "
    "Owner=N/A MCS_label=N/A Partitions=debug  BootTime=2026-11-22T04:20:43 "
    "CfgTRES=cpu=2,mem=16000M,billing=2 AllocTRES=cpu=1 CapWatts=n/a"
)
JOBCOMP_LINE = (
    "JobId=4 UserId=root(0) GroupId=root(0) Name=wrap JobState=FAILED Partition=debug "
    "TimeLimit=UNLIMITED StartTime=2026-11-22T04:47:39 EndTime=2026-11-22T04:47:39 "
    "NodeList=localhost NodeCnt=1 ProcCnt=1 WorkDir=/tmp/sl ReservationName= "
    "Tres=cpu=1,mem=16000M,node=1,billing=1 Account= QOS= WcKey= Cluster=unknown "
    "SubmitTime=2026-11-22T04:47:38 EligibleTime=2026-11-22T04:47:38 DerivedExitCode=0:0 "
    "ExitCode=3:0 "
)
SCONTROL_CONFIG = """Configuration data as of 2026-11-22T04:52:00
AccountingStorageHost   = localhost
AccountingStorageTRES   = cpu,mem,energy,node,billing,fs/disk,vmem,pages
AccountingStorageType   = accounting_storage/none
JobCompLoc              = /tmp/sl/log/jobcomp.txt
JobCompType             = jobcomp/filetxt
MinJobAge               = 300 sec
"""


# -- scontrol -o records -----------------------------------------------------------------------
def test_a_scontrol_line_parses_into_its_fields_including_keys_with_colons() -> None:
    record = slurm.parse_key_values(SCONTROL_JOB_COMPLETED)
    assert record["JobState"] == "COMPLETED"
    assert record["AllocNode:Sid"] == "localhost:8504"
    assert record["TresPerNode"] == "gres:gpu:h100:2"
    assert record["Power"] == ""


def test_a_value_with_spaces_is_kept_whole() -> None:
    record = slurm.parse_key_values("JobId=7 Comment=two words here JobState=RUNNING")
    assert record == {"JobId": "7", "Comment": "two words here", "JobState": "RUNNING"}


def test_a_completed_job_reads_as_succeeded_with_slurms_times() -> None:
    status = slurm.status_from_record(slurm.parse_key_values(SCONTROL_JOB_COMPLETED), CST)
    assert status.state == BackendState.SUCCEEDED and status.exit_code == 0
    assert status.started_at == datetime(2026, 11, 22, 4, 47, 26, tzinfo=CST)
    assert status.ended_at == datetime(2026, 11, 22, 4, 47, 29, tzinfo=CST)


def test_usage_is_slurms_end_minus_start_times_the_gpus_per_node_times_nodes() -> None:
    record = slurm.parse_key_values(SCONTROL_JOB_COMPLETED.replace("NumNodes=1", "NumNodes=2"))
    usage = slurm.usage_from_record(record, CST)
    assert usage is not None and usage.cards == 4 and usage.card_seconds == 12


def test_a_running_job_has_no_end_and_no_usage_yet() -> None:
    line = SCONTROL_JOB_COMPLETED.replace("JobState=COMPLETED", "JobState=RUNNING")
    record = slurm.parse_key_values(line.replace("EndTime=2026-11-22T04:47:29", "EndTime=Unknown"))
    status = slurm.status_from_record(record, CST)
    assert status.state == BackendState.RUNNING and status.ended_at is None
    assert status.started_at is not None
    assert slurm.usage_from_record(record, CST) is None


def test_a_job_cancelled_while_pending_is_charged_nothing() -> None:
    line = SCONTROL_JOB_COMPLETED.replace("JobState=COMPLETED", "JobState=CANCELLED")
    line = line.replace("StartTime=2026-11-22T04:47:26", "StartTime=2026-11-22T04:47:29")
    usage = slurm.usage_from_record(slurm.parse_key_values(line), CST)
    assert usage is not None and usage.card_seconds == 0


def test_a_jobcomp_line_gives_a_failed_status_with_exit_code() -> None:
    status = slurm.status_from_record(slurm.parse_key_values(JOBCOMP_LINE), CST)
    assert status.state == BackendState.FAILED and status.exit_code == 3


def test_the_jobcomp_log_yields_the_last_line_of_the_job(tmp_path: Path) -> None:
    log = tmp_path / "jobcomp.txt"
    log.write_text(JOBCOMP_LINE + "\n" + JOBCOMP_LINE.replace("JobId=4", "JobId=40") + "\n")
    assert slurm.jobcomp_record(log, "4") == slurm.parse_key_values(JOBCOMP_LINE)
    assert slurm.jobcomp_record(log, "5") is None
    assert slurm.jobcomp_record(tmp_path / "missing.txt", "4") is None


@pytest.mark.parametrize(
    ("slurm_state", "state"),
    [
        ("PENDING", BackendState.PENDING),
        ("CONFIGURING", BackendState.PENDING),
        ("RUNNING", BackendState.RUNNING),
        ("COMPLETING", BackendState.RUNNING),
        ("COMPLETED", BackendState.SUCCEEDED),
        ("CANCELLED by 0", BackendState.CANCELLED),
        ("CANCELLED+", BackendState.CANCELLED),
        ("TIMEOUT", BackendState.FAILED),
        ("NODE_FAIL", BackendState.FAILED),
        ("OUT_OF_MEMORY", BackendState.FAILED),
    ],
)
def test_slurm_job_states_map_to_backend_states(slurm_state: str, state: BackendState) -> None:
    assert slurm.state_of(slurm_state) == state


def test_an_unknown_slurm_state_is_a_backend_error() -> None:
    with pytest.raises(BackendError, match="unknown job state"):
        slurm.state_of("LEVITATING")


@pytest.mark.parametrize(
    ("text", "code"), [("0:0", 0), ("3:0", 3), ("0:15", 143), ("1:9", 1), ("", None)]
)
def test_exit_codes_read_a_signal_as_128_plus_it(text: str, code: int | None) -> None:
    assert slurm.exit_code_of(text) == code


@pytest.mark.parametrize("text", ["Unknown", "None", "N/A", "", None, "garbage"])
def test_times_slurm_does_not_know_are_none(text: str | None) -> None:
    assert slurm.parse_time(text, UTC) is None


@pytest.mark.parametrize(
    ("record", "cards"),
    [
        ({"TresPerNode": "gres:gpu:h100:2", "NumNodes": "1"}, 2),
        ({"TresPerNode": "gres/gpu:h100=2", "NumNodes": "3"}, 6),  # 23.02+
        ({"TresPerNode": "gres/gpu=2", "NumNodes": "1"}, 2),  # 23.02+, untyped
        ({"TresPerJob": "gres:gpu:h100:5", "NumNodes": "2"}, 5),
        ({"TRES": "cpu=1,gres/gpu:h100=3,gres/gpu=3,node=1", "TresPerNode": "gres:gpu:1"}, 3),
        ({"TresPerNode": "gres:mps:100", "NumNodes": "1"}, None),
        ({"NumNodes": "1"}, None),
    ],
)
def test_cards_come_from_allocated_tres_then_per_job_then_per_node(
    record: dict[str, str], cards: int | None
) -> None:
    assert slurm.cards_of(record) == cards


# -- sacct, sbatch, config ---------------------------------------------------------------------
def test_a_sacct_line_becomes_a_record_with_scontrols_names() -> None:
    out = (
        "41|COMPLETED|0:0|2026-11-22T05:00:00|2026-11-22T05:00:10|billing=1,cpu=1,gres/gpu=2|1\n"
        "42|CANCELLED by 1000|0:15|2026-11-22T05:00:00|2026-11-22T05:01:00|"
        "billing=1,cpu=1,gres/gpu:h100=1,gres/gpu=1,node=1|1\n"
    )
    record = slurm.parse_sacct(out, "42")
    assert record is not None and record["JobState"] == "CANCELLED"
    usage = slurm.usage_from_record(record, UTC)
    assert usage is not None and usage.cards == 1 and usage.card_seconds == 60
    assert slurm.parse_sacct(out, "43") is None


@pytest.mark.parametrize(("stdout", "job_id"), [("123\n", "123"), ("77;cluster-a\n", "77")])
def test_sbatch_parsable_output_gives_the_job_id(stdout: str, job_id: str) -> None:
    assert slurm.parse_sbatch_id(stdout) == job_id


def test_sbatch_output_without_an_id_is_a_backend_error() -> None:
    with pytest.raises(BackendError, match="no job id"):
        slurm.parse_sbatch_id("Submitted batch job\n")


def test_the_config_says_whether_accounting_or_a_jobcomp_file_exist() -> None:
    config = slurm.slurm_config(slurm.parse_config(SCONTROL_CONFIG))
    assert config == slurm.SlurmConfig(False, Path("/tmp/sl/log/jobcomp.txt"))
    with_dbd = SCONTROL_CONFIG.replace("accounting_storage/none", "accounting_storage/slurmdbd")
    assert slurm.slurm_config(slurm.parse_config(with_dbd)).accounting is True


# -- nodes and capacity ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "counts"),
    [
        ("gpu:h100:8", {("gpu", "h100"): 8}),
        ("gpu:h100:8(S:0-1)", {("gpu", "h100"): 8}),
        ("gpu:h100:3(IDX:0-2),gpu:a100:1(IDX:4)", {("gpu", "h100"): 3, ("gpu", "a100"): 1}),
        ("gpu:2", {("gpu", None): 2}),
        ("gpu:h100:0(IDX:N/A)", {("gpu", "h100"): 0}),
        ("(null)", {}),
    ],
)
def test_gres_strings_parse_into_counts_per_type(
    text: str, counts: dict[tuple[str, str | None], int]
) -> None:
    assert slurm.parse_gres(text) == counts


@pytest.mark.parametrize(
    ("state", "usable"),
    [
        ("IDLE", True),
        ("MIXED", True),
        ("ALLOCATED+COMPLETING", True),
        ("IDLE+DRAIN", False),
        ("MIXED+DRAIN", False),
        ("DOWN*", False),
        ("IDLE*", False),
        ("MAINT", False),
    ],
)
def test_only_nodes_that_can_take_jobs_count(state: str, usable: bool) -> None:
    assert slurm.node_usable(state) is usable


def test_free_cards_are_gres_minus_gres_used_on_usable_nodes_of_the_partition() -> None:
    busy = slurm.parse_key_values(SCONTROL_NODE)
    drained = {**busy, "State": "IDLE+DRAIN", "GresUsed": "gpu:h100:0(IDX:N/A)"}
    elsewhere = {**busy, "Partitions": "other", "GresUsed": "gpu:h100:0(IDX:N/A)"}
    shared = {**busy, "Partitions": "other,debug", "GresUsed": "gpu:h100:1(IDX:0)"}
    nodes = [busy, drained, elsewhere, shared]
    assert slurm.free_gres(nodes, "debug", "gpu", "h100") == 5 + 7
    assert slurm.total_gres(nodes, "debug", "gpu", "h100") == 24
    assert slurm.free_gres(nodes, "debug", "gpu", "a100") == 0


# -- commands and errors -----------------------------------------------------------------------
def test_errors_from_an_absent_controller_mean_unavailable() -> None:
    stderr = "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n"
    assert isinstance(slurm.classify_error(stderr, "read the job"), BackendUnavailable)


def test_munge_errors_blame_the_credentials() -> None:
    error = slurm.classify_error("error: Munge decode failed: Expired credential", "submit")
    assert not isinstance(error, BackendUnavailable) and error.field == "credentials"


def test_other_errors_are_plain_backend_errors_with_slurms_words() -> None:
    error = slurm.classify_error("sbatch: error: Batch job submission failed: Whatever", "submit")
    assert type(error) is BackendError and "Whatever" in error.message


def test_jobs_never_run_as_root_unless_allowed() -> None:
    with pytest.raises(InvalidInput, match="root"):
        slurm.user_prefix("root", "root", allow_root=False)
    assert slurm.user_prefix("root", "root", allow_root=True) == ()


def test_the_service_switches_to_the_job_user_with_runuser_as_root_else_sudo() -> None:
    assert slurm.user_prefix("jobs", "jobs", False) == ()
    assert slurm.user_prefix("jobs", "root", False) == ("runuser", "-u", "jobs", "--")
    assert slurm.user_prefix("jobs", "suanli", False, keep_slurm_conf=True) == (
        "sudo", "-n", "--preserve-env=SLURM_CONF", "-u", "jobs", "--",
    )  # fmt: skip
    with pytest.raises(InvalidInput):
        slurm.user_prefix("jobs; rm -rf /", "root", False)


def launch(cards: int, node_cards: tuple[tuple[int, int], ...] = ()) -> LaunchRequest:
    return LaunchRequest("j1", "python train.py", cards, "H100-SXM", 90, node_cards=node_cards)


def test_gres_is_asked_per_node_when_even_else_as_a_job_total() -> None:
    assert slurm.gres_options(launch(2), "gpu", "h100") == ["--gres=gpu:h100:2"]
    assert slurm.gres_options(launch(8, ((0, 4), (1, 4))), "gpu", "h100") == [
        "--nodes=2",
        "--gres=gpu:h100:4",
    ]
    assert slurm.gres_options(launch(6, ((0, 4), (1, 2))), "gpu", "h100") == [
        "--nodes=2",
        "--gpus=h100:6",
    ]


@pytest.mark.parametrize(("seconds", "minutes"), [(0, 1), (1, 1), (60, 1), (61, 2), (3600, 60)])
def test_slurms_time_limit_rounds_up_to_whole_minutes(seconds: int, minutes: int) -> None:
    assert slurm.time_limit_minutes(seconds) == minutes


def test_the_batch_script_exports_quoted_variables_then_runs_the_command() -> None:
    request = LaunchRequest("j1", "echo $GREETING", 1, "H100-SXM", 60, env={"GREETING": "it's"})
    script = slurm.batch_script(request)
    assert script.startswith("#!/bin/sh\n")
    assert "export GREETING='it'\"'\"'s'\n" in script
    assert "export SUANLI_JOB_ID=j1\n" in script
    assert script.endswith("echo $GREETING\n")


def test_an_invalid_environment_variable_name_is_refused() -> None:
    request = LaunchRequest("j1", "true", 1, "H100-SXM", 60, env={"BAD NAME": "x"})
    with pytest.raises(InvalidInput, match="BAD NAME"):
        slurm.batch_script(request)


def test_a_slurm_backend_refuses_a_partition_name_that_could_inject_options() -> None:
    with pytest.raises(InvalidInput, match="partition"):
        slurm.SlurmBackend("debug --uid=0", "h100", log_dir=Path("/tmp"), run_as="jobs")


# -- Ray -----------------------------------------------------------------------------------------
RAY_JOB_SUCCEEDED = {
    "type": "SUBMISSION",
    "submission_id": "suanli-j1",
    "status": "SUCCEEDED",
    "entrypoint": "echo hi; sleep 4",
    "message": "Job finished successfully.",
    "start_time": 1795322963224,
    "end_time": 1795322968502,
    "metadata": {"suanli_cards": "2", "suanli_resource": "accelerator_type:H100"},
    "driver_exit_code": 0,
}
RAY_NODES = {
    "result": True,
    "data": {
        "result": {
            "total": 2,
            "num_after_truncation": 2,
            "result": [
                {
                    "node_id": "aa",
                    "state": "ALIVE",
                    "resources_total": {"CPU": 2.0, "accelerator_type:H100": 8.0},
                },
                {"node_id": "bb", "state": "DEAD", "resources_total": {"accelerator_type:H100": 8}},
            ],
        }
    },
}
RAY_CLUSTER_STATUS = {
    "result": True,
    "data": {
        "clusterStatus": {
            "loadMetricsReport": {
                "usageByNode": {"aa": {"CPU": [0.0, 2.0], "acceleratorType:H100": [3.0, 8.0]}}
            }
        }
    },
}


def test_a_succeeded_ray_job_has_rays_times_and_exit_code() -> None:
    status = ray_backend.job_status_from_info(RAY_JOB_SUCCEEDED)
    assert status.state == BackendState.SUCCEEDED and status.exit_code == 0
    assert status.started_at == datetime.fromtimestamp(1795322963.224, UTC)
    assert status.ended_at == datetime.fromtimestamp(1795322968.502, UTC)


@pytest.mark.parametrize(
    ("ray_status", "state"),
    [
        ("PENDING", BackendState.PENDING),
        ("RUNNING", BackendState.RUNNING),
        ("FAILED", BackendState.FAILED),
        ("STOPPED", BackendState.CANCELLED),
    ],
)
def test_ray_job_states_map_to_backend_states(ray_status: str, state: BackendState) -> None:
    info = {**RAY_JOB_SUCCEEDED, "status": ray_status, "driver_exit_code": None}
    assert ray_backend.job_status_from_info(info).state == state


def test_an_unknown_ray_status_is_a_backend_error() -> None:
    with pytest.raises(BackendError, match="unknown job status"):
        ray_backend.job_status_from_info({**RAY_JOB_SUCCEEDED, "status": "ZOMBIE"})


def test_ray_usage_is_whole_seconds_between_rays_times_times_recorded_cards() -> None:
    usage = ray_backend.usage_from_info(RAY_JOB_SUCCEEDED)
    assert usage is not None and usage.cards == 2
    assert usage.card_seconds == 5 * 2  # 5.278 s, floored: never charge unproven time


def test_ray_usage_is_unknown_while_running_or_without_recorded_cards() -> None:
    assert ray_backend.usage_from_info({**RAY_JOB_SUCCEEDED, "status": "RUNNING"}) is None
    assert ray_backend.usage_from_info({**RAY_JOB_SUCCEEDED, "metadata": {}}) is None


def test_only_alive_nodes_count_and_a_truncated_listing_is_refused() -> None:
    assert [node["node_id"] for node in ray_backend.alive_nodes(RAY_NODES)] == ["aa"]
    truncated = {"data": {"result": {"total": 20_000, "result": []}}}
    with pytest.raises(BackendError, match="more than"):
        ray_backend.alive_nodes(truncated)
    with pytest.raises(BackendError, match="unexpected"):
        ray_backend.alive_nodes({"data": None})


def test_dashboard_keys_are_rays_camel_case_of_the_resource_name() -> None:
    assert ray_backend.dashboard_key("accelerator_type:H100") == "acceleratorType:H100"
    assert ray_backend.dashboard_key("accelerator_type:A100-80GB") == "acceleratorType:A100-80Gb"


def test_free_ray_cards_are_total_minus_used_over_alive_nodes() -> None:
    nodes = ray_backend.alive_nodes(RAY_NODES)
    by_node = ray_backend.usage_by_node(RAY_CLUSTER_STATUS)
    assert ray_backend.free_cards(nodes, by_node) == {"H100": 5}


def test_usage_not_reported_yet_is_a_backend_error() -> None:
    with pytest.raises(BackendError, match="not reported"):
        ray_backend.usage_by_node({"data": {"clusterStatus": None}})


def test_a_job_no_ray_node_could_hold_is_refused_with_what_the_cluster_offers() -> None:
    nodes = ray_backend.alive_nodes(RAY_NODES)
    ray_backend.require_fits(nodes, "accelerator_type:H100", 8, "H100-SXM")
    with pytest.raises(BackendError, match="largest Ray node has 8"):
        ray_backend.require_fits(nodes, "accelerator_type:H100", 9, "H100-SXM")
    with pytest.raises(BackendError, match="it offers: H100"):
        ray_backend.require_fits(nodes, "accelerator_type:A100", 1, "A100-80GB")


def test_ray_logs_are_served_in_bounded_chunks_that_never_split_a_character() -> None:
    data = b"a" * (LOG_CHUNK_BYTES_MAX - 1) + "算力".encode()
    first = ray_backend.log_chunk(data, 0)
    assert first.next_offset == LOG_CHUNK_BYTES_MAX - 1  # '算' would have been cut: left out
    second = ray_backend.log_chunk(data, first.next_offset)
    assert second.text == "算力" and second.next_offset == len(data)
    assert ray_backend.log_chunk(data, len(data)).text == ""


def test_ray_errors_tell_credentials_from_an_unreachable_cluster() -> None:
    refused = ray_backend.translate_error(ray_backend.RayHttpError(401, "no"), "submit the job")
    assert refused.field == "credentials" and not isinstance(refused, BackendUnavailable)
    down = ray_backend.translate_error(ConnectionError("refused"), "read the job's status")
    assert isinstance(down, BackendUnavailable)
    other = ray_backend.translate_error(ray_backend.RayHttpError(500, "boom"), "submit the job")
    assert type(other) is BackendError


def test_a_ray_backend_never_shows_its_token() -> None:
    backend = ray_backend.RayBackend("http://127.0.0.1:8265", token="s3cret")
    assert "s3cret" not in repr(backend)


def test_a_ray_address_must_be_the_dashboard_url() -> None:
    with pytest.raises(InvalidInput, match="dashboard URL"):
        ray_backend.RayBackend("ray://127.0.0.1:10001")


def test_catalog_models_map_to_cluster_names_and_back() -> None:
    backend = ray_backend.RayBackend(accelerator_names={"H100-SXM": "H100"})
    assert backend.resource_name("H100-SXM") == "accelerator_type:H100"
    assert backend.resource_name("L40S") == "accelerator_type:L40S"
    assert backend.model_name("H100") == "H100-SXM"
    assert backend.model_name("L40S") == "L40S"
