"""A message that quotes what went wrong beneath it says the cause once (errors.because and
errors.cause_of, the one place causes are worded)."""

from __future__ import annotations

from suanli.errors import BackendError, BackendUnavailable, because, cause_of
from suanli.i18n import msg


def refused_beneath_a_library() -> RuntimeError:
    """Like Ray's SDK: its own error, raised while handling requests' (which restates the
    socket's), raised from the socket's refusal."""
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except OSError as refused:
            raise ConnectionError(f"Max retries exceeded (Caused by {refused})") from refused
    except ConnectionError:
        try:
            raise RuntimeError("Failed to connect to Ray at address: http://127.0.0.1:9.")
        except RuntimeError as error:
            return error


def test_a_library_error_is_reduced_to_the_refusal_beneath_it() -> None:
    assert cause_of(refused_beneath_a_library()) == "[Errno 111] Connection refused"
    unreadable = PermissionError(13, "Permission denied", "/var/log/slurm/job-7.out")
    assert cause_of(unreadable) == "[Errno 13] Permission denied"  # the path: the context's
    assert cause_of(ValueError("not JSON")) == "not JSON"


def test_a_wrapper_quotes_the_cause_not_the_inner_message() -> None:
    inner = BackendUnavailable.caused_by(
        msg("无法连接 X 的 Ray 集群", "Ray cluster at X is unreachable"),
        refused_beneath_a_library(),
    )
    outer = BackendError.caused_by(
        msg("无法连接 X 的 ray 集群", "cannot reach the ray cluster at X"), inner, field="address"
    )
    assert outer.text_en == "cannot reach the ray cluster at X: [Errno 111] Connection refused"
    assert outer.text_zh == "无法连接 X 的 ray 集群：“[Errno 111] Connection refused”"
    assert (outer.field, outer.cause) == ("address", "[Errno 111] Connection refused")


def test_a_bilingual_cause_keeps_each_language_and_an_empty_one_adds_nothing() -> None:
    context = msg("已重新排队", "re-queued")
    cause = msg("模拟集群已停机", "fake cluster is down")
    assert because(context, cause) == msg(
        "已重新排队：模拟集群已停机", "re-queued: fake cluster is down"
    )
    assert because(context, " ") == context
