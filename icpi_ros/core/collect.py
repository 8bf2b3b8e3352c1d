# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Build an improvement dataset from rollouts: hindsight relabelling, or brute force.

Goal-conditioned tasks: any two rollouts i, j give an example. Pretend j's outcome was the
goal: at theta_i the error was e = s_i - s_j, and delta = theta_j - theta_i reached it.
Fixed-goal tasks: a brute-force search finds theta* (the best of the rollouts, refined by a
shrinking local search); every rollout i gives (theta_i, s_i - goal, theta* - theta_i).
"""

import datetime
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import mujoco
import numpy as np
from scipy.stats import qmc

from icpi_ros import __version__
from icpi_ros.core.dataset import ImprovementDataset
from icpi_ros.core.motion import PlanRejected
from icpi_ros.core.tasks import TaskSpec
from icpi_ros.core.validation import InvalidInput

# Relabelled goals may lie this fraction of the goal range outside it: a query that starts
# far from every goal still finds examples that lead back into the range.
GOAL_MARGIN = 0.25
# Fixed-goal brute force: refinement rounds after the initial rollouts, trials per round and
# the first round's radius as a fraction of each parameter's range (halved each round).
REFINE_ROUNDS = 6
# Share of hindsight pairs that are local in theta (measured best of 0.5 / 0.8 / 1.0).
LOCAL_FRACTION = 0.8
REFINE_TRIALS = 12
REFINE_RADIUS = 0.2

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Rollouts:
    """Executed parameters and their outcomes (rejected plans are left out)."""

    theta: np.ndarray  # (n, d)
    outcome: np.ndarray  # (n, m)
    rejected: int


def sample_thetas(task: TaskSpec, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` parameter vectors spread over the bounds (Latin hypercube)."""
    unit = qmc.LatinHypercube(d=task.theta_dim, seed=rng).random(n)
    return qmc.scale(unit, task.theta_low, task.theta_high)


def run_rollouts(
    run: Callable[[np.ndarray], np.ndarray],
    thetas: Iterable[np.ndarray],
    total: int,
    progress: Progress | None = None,
    done: int = 0,
) -> Rollouts:
    """Run `run(theta) -> outcome` for every theta; plans the arm cannot execute are skipped."""
    kept, outcomes, rejected = [], [], 0
    for i, theta in enumerate(thetas):
        try:
            outcomes.append(run(theta))
            kept.append(theta)
        except PlanRejected:
            rejected += 1
        if progress is not None:
            progress(done + i + 1, total)
    d = len(kept[0]) if kept else 0
    return Rollouts(np.array(kept).reshape(-1, d), np.array(outcomes), rejected)


def hindsight_pairs(
    task: TaskSpec,
    theta: np.ndarray,
    outcome: np.ndarray,
    max_examples: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Pick up to `max_examples` pairs (i, j), i != j, whose goal s_j is near the goal range.

    Most pairs are local (theta_j among the nearest parameters to theta_i): near convergence
    they tell the small change that fixes a small error. The rest are drawn at random, for
    the large errors of the first trials.
    """
    n = len(outcome)
    low, high = np.array(task.goal_low), np.array(task.goal_high)
    margin = GOAL_MARGIN * np.maximum(high - low, 0.02)
    usable = np.all((outcome >= low - margin) & (outcome <= high + margin), axis=1)
    goals = np.flatnonzero(usable)
    if n < 2 or goals.size == 0:
        raise InvalidInput(
            f'{task.name}: no rollout ended near the goal range; collect more rollouts'
        )
    all_i = np.repeat(np.arange(n), goals.size)
    all_j = np.tile(goals, n)
    keep = all_i != all_j
    all_i, all_j = all_i[keep], all_j[keep]
    if all_i.size <= max_examples:
        return all_i, all_j
    span = task.theta_high - task.theta_low
    dist = np.linalg.norm((theta[all_i] - theta[all_j]) / span, axis=1)
    n_local = int(max_examples * LOCAL_FRACTION)
    local = np.argsort(dist, kind='stable')[: 4 * n_local]
    chosen = rng.choice(local, size=n_local, replace=False)
    rest = np.setdiff1d(np.arange(all_i.size), chosen)
    chosen = np.concatenate([chosen, rng.choice(rest, size=max_examples - n_local, replace=False)])
    return all_i[chosen], all_j[chosen]


def refine_best(
    task: TaskSpec,
    run: Callable[[np.ndarray], np.ndarray],
    rollouts: Rollouts,
    goal: np.ndarray,
    rng: np.random.Generator,
    progress: Progress | None = None,
) -> tuple[Rollouts, np.ndarray]:
    """Brute-force search around the best rollout; return all rollouts and the best theta."""
    theta, outcome = rollouts.theta, rollouts.outcome
    span = task.theta_high - task.theta_low
    rejected = rollouts.rejected
    first = len(theta) + rejected
    total = first + REFINE_ROUNDS * REFINE_TRIALS
    for r in range(REFINE_ROUNDS):
        best = theta[np.argmin(np.linalg.norm(outcome - goal, axis=1))]
        radius = REFINE_RADIUS * span / 2**r
        local = np.clip(
            best + rng.uniform(-1, 1, (REFINE_TRIALS, task.theta_dim)) * radius,
            task.theta_low,
            task.theta_high,
        )
        more = run_rollouts(run, local, total, progress, done=first + r * REFINE_TRIALS)
        theta = np.vstack([theta, more.theta])
        outcome = np.vstack([outcome, more.outcome])
        rejected += more.rejected
    best = theta[np.argmin(np.linalg.norm(outcome - goal, axis=1))]
    return Rollouts(theta, outcome, rejected), best


def _tasks_digest(task: TaskSpec) -> str:
    return hashlib.sha256(repr(task).encode()).hexdigest()[:16]


def collect_dataset(
    task: TaskSpec,
    run: Callable[[np.ndarray], np.ndarray],
    rollouts: int,
    max_examples: int = 300,
    seed: int = 0,
    progress: Progress | None = None,
) -> ImprovementDataset:
    """Run `rollouts` trials through `run(theta) -> outcome` and build the dataset.

    `run` is the simulator (`TrialRunner`) or, on a real robot, the trial executor: the dataset
    depends only on (theta, outcome) pairs. Reproducible for a given seed and `run`.
    """
    if rollouts < 2:
        raise InvalidInput(f'rollouts must be at least 2, got {rollouts}')
    if max_examples < 1:
        raise InvalidInput(f'max_examples must be at least 1, got {max_examples}')
    rng = np.random.default_rng(seed)
    first_total = rollouts + (0 if task.goal_conditioned else REFINE_ROUNDS * REFINE_TRIALS)
    done = run_rollouts(run, sample_thetas(task, rollouts, rng), first_total, progress)
    provenance = {
        'created': datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds'),
        'icpi_ros': __version__,
        'simulator': f'mujoco {mujoco.__version__}',
        'task_digest': _tasks_digest(task),
        'seed': seed,
        'rollouts': rollouts,
        'rejected_plans': done.rejected,
    }
    if task.goal_conditioned:
        return relabel_rollouts(task, done.theta, done.outcome, max_examples, rng, provenance)
    else:
        goal_vec = np.array(task.default_goal)
        done, best = refine_best(task, run, done, goal_vec, rng, progress)
        order = rng.permutation(len(done.theta))[:max_examples]
        theta, outcome = done.theta[order], done.outcome[order]
        goal = np.tile(goal_vec, (len(order), 1))
        delta = best - theta
        provenance['method'] = 'brute-force search'
        provenance['best_theta'] = best.tolist()
        provenance['rejected_plans'] = done.rejected
    return ImprovementDataset(
        task=task.name,
        theta_names=tuple(p.name for p in task.parameters),
        outcome_names=task.outcome_names,
        theta=theta,
        outcome=outcome,
        goal=goal,
        delta_theta=delta,
        provenance=provenance,
    )


def relabel_rollouts(
    task: TaskSpec,
    theta: np.ndarray,
    outcome: np.ndarray,
    max_examples: int,
    rng: np.random.Generator,
    provenance: dict,
) -> ImprovementDataset:
    """Build a goal-conditioned task's dataset from (theta, outcome) rollouts by hindsight.

    The rollouts may come from the simulator or from the run records of a real robot
    (`icpi dataset from-runs`).
    """
    if not task.goal_conditioned:
        raise InvalidInput(f'{task.name}: hindsight relabelling needs a goal-conditioned task')
    i, j = hindsight_pairs(task, theta, outcome, max_examples, rng)
    return ImprovementDataset(
        task=task.name,
        theta_names=tuple(p.name for p in task.parameters),
        outcome_names=task.outcome_names,
        theta=theta[i],
        outcome=outcome[i],
        goal=outcome[j],
        delta_theta=theta[j] - theta[i],
        provenance={**provenance, 'method': 'hindsight relabelling'},
    )
