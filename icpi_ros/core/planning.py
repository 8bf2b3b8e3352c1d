# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""One planning step: validate a request, ask an improver, make the answer safe to execute."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from icpi_ros.core.improvers import LLM, Improver, ImproverFailed, PolicyQuery
from icpi_ros.core.improvers.base import HistoryTrial
from icpi_ros.core.tasks import TaskSpec
from icpi_ros.core.validation import InvalidInput, as_vector


@dataclass(frozen=True)
class PolicyStep:
    """The next policy: always finite and inside the task's bounds."""

    theta_next: np.ndarray
    delta_theta: np.ndarray
    improver: str
    clipped: bool
    details: dict = field(default_factory=dict)
    # Why the fallback improver answered instead of the requested one ('' if it did not).
    fallback_reason: str = ''


def make_history(
    task: TaskSpec, theta: Sequence[float], outcome: Sequence[float]
) -> tuple[HistoryTrial, ...]:
    """Validate a run's earlier trials given flattened (row by row), as NextPolicy sends them.

    Raises:
        InvalidInput: lengths that are not whole trials, or differ, or values not finite.

    """
    theta_flat, outcome_flat = np.asarray(theta, float), np.asarray(outcome, float)
    n, rest = divmod(theta_flat.size, task.theta_dim)
    if rest or outcome_flat.size != n * task.outcome_dim:
        raise InvalidInput(
            f'history: {theta_flat.size} theta values and {outcome_flat.size} outcome values '
            f'are not whole trials of {task.theta_dim} and {task.outcome_dim}'
        )
    if not (np.all(np.isfinite(theta_flat)) and np.all(np.isfinite(outcome_flat))):
        raise InvalidInput('history: values must be finite')
    thetas = theta_flat.reshape(n, task.theta_dim)
    outcomes = outcome_flat.reshape(n, task.outcome_dim)
    return tuple(HistoryTrial(t, o) for t, o in zip(thetas, outcomes, strict=True))


def flatten_history(history: Sequence[HistoryTrial]) -> tuple[list[float], list[float]]:
    """Return a history as the two flat lists NextPolicy carries (the inverse of make_history)."""
    return (
        [float(v) for h in history for v in h.theta],
        [float(v) for h in history for v in h.outcome],
    )


def make_query(
    task: TaskSpec,
    theta: Sequence[float],
    error: Sequence[float] = (),
    outcome: Sequence[float] = (),
    goal: Sequence[float] = (),
    run_id: str = '',
    history: Sequence[HistoryTrial] = (),
) -> PolicyQuery:
    """Validate a request: theta plus either the error, or the outcome and the goal.

    `run_id` and `history` (the run's earlier trials) are handed to the improver as given.

    Raises:
        InvalidInput: naming the field that is missing, of the wrong length or not finite.

    """
    theta_vec = task.check_theta(theta)
    goal_vec = task.check_outcome(goal, 'goal') if len(goal) else None
    if len(error):
        if len(outcome):
            raise InvalidInput('give either error, or outcome and goal, not error and outcome')
        error_vec = task.check_outcome(error, 'error')
    elif len(outcome) and goal_vec is not None:
        error_vec = task.check_outcome(outcome, 'outcome') - goal_vec
    else:
        raise InvalidInput('missing error: give error, or both outcome and goal')
    return PolicyQuery(
        task=task,
        theta=theta_vec,
        error=error_vec,
        goal=goal_vec,
        run_id=run_id,
        history=tuple(history),
    )


def _propose(improver: Improver, query: PolicyQuery) -> tuple[np.ndarray, dict]:
    try:
        proposal = improver.propose(query)
        theta = as_vector(f'{improver.name} proposal', proposal.theta, query.task.theta_dim)
    except ImproverFailed:
        raise
    except InvalidInput as exc:
        raise ImproverFailed(str(exc)) from None
    except Exception as exc:  # an improver bug must not take the planner down
        raise ImproverFailed(f'{improver.name} failed: {type(exc).__name__}: {exc}') from exc
    return theta, proposal.details


def next_policy(
    improver: Improver, query: PolicyQuery, fallback: Improver | None = None
) -> PolicyStep:
    """Ask `improver` (or, if it fails, `fallback`) for the next theta, clipped to the bounds.

    Raises:
        ImproverFailed: when the improver (and the fallback) fail or propose a non-finite or
            wrong-size theta; `details` holds what the failed attempt recorded.

    """
    reason = ''
    try:
        proposed, details = _propose(improver, query)
        used = improver.name
    except ImproverFailed as exc:
        if fallback is None:
            raise
        reason = f'{improver.name} failed: {exc}'
        proposed, details = _propose(fallback, query)
        details = {
            **details,
            'failed': {'improver': improver.name, 'error': str(exc), **exc.details},
        }
        used = fallback.name
    theta_next, clipped = query.task.clip(proposed)
    return PolicyStep(
        theta_next=theta_next,
        delta_theta=theta_next - query.theta,
        improver=used,
        clipped=clipped,
        details=details,
        fallback_reason=reason,
    )


def step_counts(steps: Iterable[tuple[str, Mapping]], failed_steps: int = 0) -> dict[str, int]:
    """Count who answered the planner steps of a run, from each step's (improver, details).

    `llm_steps`: answered by the model (first try or repaired, `repaired_steps` of them);
    `fallback_steps`: the fallback improver answered after the requested one failed;
    `failed_steps`: steps nobody answered (they end a run). So a run of `knn_linear` answers
    cannot be mistaken for an LLM run.
    """
    counts = {'steps': 0, 'llm_steps': 0, 'repaired_steps': 0, 'fallback_steps': 0}
    for improver, details in steps:
        if not improver:
            continue  # theta0: no planner step produced it
        counts['steps'] += 1
        if 'failed' in details:
            counts['fallback_steps'] += 1
        elif improver == LLM:
            counts['llm_steps'] += 1
            counts['repaired_steps'] += int(details.get('repairs', 0) > 0)
    counts['failed_steps'] = failed_steps
    return counts
