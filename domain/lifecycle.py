"""The job state machine of the contract, and the rules a worker's writes must satisfy.

::

    PENDING --claim--> RUNNING --complete--> COMPLETED
       |                  |------fail------> FAILED --retry--> PENDING (same id)
       |                  |--lease expired-> PENDING (attempt + 1), or FAILED after max attempts
       +--cancel--> CANCELLED <--cancel--+

Any other transition is CONFLICT, with a message that names the job's current state.

>>> transition(JobStatus.PENDING, Action.CLAIM)
<JobStatus.RUNNING: 'RUNNING'>
>>> transition(JobStatus.COMPLETED, Action.CANCEL)
Traceback (most recent call last):
...
domain.errors.Conflict: cannot cancel a job that is COMPLETED
"""

from __future__ import annotations

import enum
from datetime import datetime

from domain.errors import BadUserInput, Conflict
from domain.jobs import JobStatus


class Action(enum.StrEnum):
    CLAIM = "claim"
    COMPLETE = "complete"
    FAIL = "fail"
    CANCEL = "cancel"
    RETRY = "retry"
    REQUEUE = "requeue"  # the lease expired and attempts remain
    EXPIRE = "expire"  # the lease expired on the last attempt


_TRANSITIONS: dict[tuple[JobStatus, Action], JobStatus] = {
    (JobStatus.PENDING, Action.CLAIM): JobStatus.RUNNING,
    (JobStatus.PENDING, Action.CANCEL): JobStatus.CANCELLED,
    (JobStatus.RUNNING, Action.COMPLETE): JobStatus.COMPLETED,
    (JobStatus.RUNNING, Action.FAIL): JobStatus.FAILED,
    (JobStatus.RUNNING, Action.CANCEL): JobStatus.CANCELLED,
    (JobStatus.RUNNING, Action.REQUEUE): JobStatus.PENDING,
    (JobStatus.RUNNING, Action.EXPIRE): JobStatus.FAILED,
    (JobStatus.FAILED, Action.RETRY): JobStatus.PENDING,
}

LEASE_EXPIRED_ERROR = "the worker's lease expired on the last allowed attempt"


def transition(current: JobStatus, action: Action) -> JobStatus:
    """The state ``action`` leads to from ``current``; CONFLICT when the contract forbids it."""
    target = _TRANSITIONS.get((current, action))
    if target is None:
        raise Conflict(f"cannot {action.value} a job that is {current.value}", status=current.value)
    return target


def after_lease_expiry(attempt: int, *, max_attempts: int) -> tuple[Action, int]:
    """What an expired lease on run number ``attempt`` does: requeue as ``attempt + 1``, or fail.

    ``attempt`` numbers a job's runs (1 at creation; +1 on every requeue and every retry), so
    a manual retry of a job that ran out of attempts still gets one run of its own.
    """
    if attempt < max_attempts:
        return Action.REQUEUE, attempt + 1
    return Action.EXPIRE, attempt


def check_lease(
    *,
    status: JobStatus,
    holder: str | None,
    lease_expires_at: datetime | None,
    worker_id: str,
    now: datetime,
) -> None:
    """Only the worker holding an unexpired lease on a RUNNING job may write to it."""
    if status is not JobStatus.RUNNING:
        raise Conflict(
            f"the job is {status.value}, not RUNNING: a worker may no longer write to it",
            status=status.value,
        )
    if holder != worker_id:
        raise Conflict("the job is leased to another worker", status=status.value)
    if lease_expires_at is None or lease_expires_at <= now:
        raise Conflict("the lease on this job has expired; stop working on it", status=status.value)


def next_progress(current: int, reported: int | None) -> int:
    """Progress never goes down within a run: a lower report is ignored; outside 0..100 is
    BAD_USER_INPUT."""
    if reported is None:
        return current
    if not 0 <= reported <= 100:
        raise BadUserInput("progress must be between 0 and 100")
    return max(current, reported)
