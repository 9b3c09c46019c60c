"""Every legal and illegal job transition."""

from __future__ import annotations

import itertools

import pytest

from suanli.domain.jobs import TERMINAL_STATES, JobState, can_transition, transition
from suanli.errors import InvalidTransition

LEGAL = {
    (JobState.PENDING, JobState.QUEUED),
    (JobState.PENDING, JobState.REJECTED),
    (JobState.PENDING, JobState.CANCELLED),
    (JobState.QUEUED, JobState.PLACED),
    (JobState.QUEUED, JobState.CANCELLED),
    (JobState.PLACED, JobState.RUNNING),
    (JobState.PLACED, JobState.CANCELLED),
    (JobState.PLACED, JobState.FAILED),
    (JobState.PLACED, JobState.LOST),
    (JobState.PLACED, JobState.QUEUED),
    (JobState.RUNNING, JobState.SUCCEEDED),
    (JobState.RUNNING, JobState.FAILED),
    (JobState.RUNNING, JobState.CANCELLED),
    (JobState.RUNNING, JobState.TIMED_OUT),
    (JobState.RUNNING, JobState.LOST),
    (JobState.RUNNING, JobState.QUEUED),
    (JobState.LOST, JobState.QUEUED),
    (JobState.LOST, JobState.FAILED),
}
ALL_PAIRS = list(itertools.product(JobState, JobState))


@pytest.mark.parametrize(("current", "target"), sorted(LEGAL))
def test_a_legal_transition_returns_the_target(current: JobState, target: JobState) -> None:
    assert transition(current, target) is target


@pytest.mark.parametrize(("current", "target"), [p for p in ALL_PAIRS if p not in LEGAL])
def test_an_illegal_transition_raises_naming_both_states(
    current: JobState, target: JobState
) -> None:
    assert not can_transition(current, target)
    with pytest.raises(InvalidTransition) as raised:
        transition(current, target)
    assert raised.value.details == {"current": current.value, "target": target.value}


@pytest.mark.parametrize("terminal", sorted(TERMINAL_STATES))
def test_terminal_states_have_no_way_out(terminal: JobState) -> None:
    assert not any(can_transition(terminal, target) for target in JobState)


def test_the_happy_path_reaches_succeeded() -> None:
    state = JobState.PENDING
    for target in (JobState.QUEUED, JobState.PLACED, JobState.RUNNING, JobState.SUCCEEDED):
        state = transition(state, target)
    assert state is JobState.SUCCEEDED
