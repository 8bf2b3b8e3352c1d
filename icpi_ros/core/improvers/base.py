# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The one interface every improver implements: propose the next theta from a query."""

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from icpi_ros.core.episode_memory import EpisodeExamples, hindsight_examples
from icpi_ros.core.errors import Failed
from icpi_ros.core.llm import LLMConfig
from icpi_ros.core.retrieval import DEFAULT_K, ExampleLibrary
from icpi_ros.core.tasks import TaskSpec

# knn_linear keeps the episode's best theta once its cost is at or below this (m) and a step
# from it failed: the simulator's theta -> outcome jitter is 0.5-1.4 mm RMS (slide-gc,
# roll-gc); 0.5, 1 and 1.5 mm measured, 1 mm kept (mean final cost over 10 + 30 goals).
HOLD_BELOW_M = 0.001


@dataclass(frozen=True)
class HistoryTrial:
    """An earlier trial of the same run: the theta executed and the outcome observed."""

    theta: np.ndarray
    outcome: np.ndarray


@dataclass(frozen=True)
class PolicyQuery:
    """What an improver is asked: the task, the theta just executed and its relative error."""

    task: TaskSpec
    theta: np.ndarray
    error: np.ndarray
    # The goal, when the caller gave one (outcome = goal + error).
    goal: np.ndarray | None = None
    # The run this step belongs to ('' for a call by hand) and its trials before this one.
    run_id: str = ''
    history: tuple['HistoryTrial', ...] = ()

    @property
    def cost(self) -> float:
        """Euclidean cost of the trial being improved."""
        return float(np.linalg.norm(self.error))

    def episode_goal(self) -> np.ndarray | None:
        """Return the goal: the one given, else a fixed-goal task's own, else None."""
        if self.goal is not None:
            return np.asarray(self.goal, dtype=float)
        if not self.task.goal_conditioned:
            return np.array(self.task.default_goal, dtype=float)
        return None

    def history_costs(self) -> list[float]:
        """Return the cost of each earlier trial, measured like `cost`.

        Raises:
            ImproverFailed: the history cannot be scored without the goal.

        """
        goal = self.episode_goal()
        if goal is None and self.history:
            raise ImproverFailed('a run history needs the goal: send it with the error')
        return [float(np.linalg.norm(h.outcome - goal)) for h in self.history]

    def episode_trials(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the episode's trials so far: the history, then this query's own trial.

        Returns:
            theta (n, d) and outcome (n, m), in order. The query's own trial is left out
            when its outcome is not known (no goal: an error sent by hand).

        """
        thetas = [h.theta for h in self.history]
        outcomes = [h.outcome for h in self.history]
        goal = self.episode_goal()
        if goal is not None:
            thetas.append(self.theta)
            outcomes.append(goal + self.error)
        shape = (len(thetas), self.task.theta_dim), (len(outcomes), self.task.outcome_dim)
        return (
            np.asarray(thetas, dtype=float).reshape(shape[0]),
            np.asarray(outcomes, dtype=float).reshape(shape[1]),
        )

    def episode_examples(self) -> EpisodeExamples:
        """Return the episode memory: hindsight examples from `episode_trials()`."""
        return hindsight_examples(*self.episode_trials())

    def best_trial(self) -> tuple[int, np.ndarray, float] | None:
        """Return the episode's best trial so far (the first on ties), or None.

        Returns:
            Its number among `episode_trials()`, its theta and its cost; None when the goal
            is not known (an error sent by hand without it) or there is no trial.

        """
        goal = self.episode_goal()
        thetas, outcomes = self.episode_trials()
        if goal is None or not len(thetas):
            return None
        costs = np.linalg.norm(outcomes - goal, axis=1)
        best = int(np.argmin(costs))
        return best, thetas[best], float(costs[best])


@dataclass(frozen=True)
class Proposal:
    """A proposed theta (unclipped) and what led to it, for the run record (JSON-friendly)."""

    theta: np.ndarray
    details: dict = field(default_factory=dict)


class ImproverFailed(Failed):
    """No usable proposal: the improver raised, or proposed a wrong-size or non-finite theta."""

    def __init__(self, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


@dataclass
class ImproverContext:
    """What improvers may need besides the query; shared by all improvers of a planner."""

    seed: int = 0
    k: int = DEFAULT_K
    encoding: str = 'error'
    examples: ExampleLibrary | None = None
    # Search the episode's own trials (hindsight examples) together with the dataset; off:
    # the dataset alone, as in the paper's protocol.
    episode_memory: bool = True
    # knn_linear: keep the episode's best theta once its cost is at or below this (m; 0:
    # never) and a step from it failed; and fit its local model on locally scaled,
    # distance-weighted neighbours (off: the paper's fit). All three off: the paper's method.
    hold_below_m: float = HOLD_BELOW_M
    local_fit: bool = True
    llm: LLMConfig | None = None
    # promptpo: candidate policies the LLM writes per round (each costs one trial).
    promptpo_candidates: int = 4
    # promptpo: 'kernel' (namespaces + seccomp, refuses to start without) or 'rlimits' (weaker).
    promptpo_sandbox: str = 'kernel'
    # Set on shutdown: interrupts waits (LLM retries) so Ctrl-C is prompt.
    stop: threading.Event = field(default_factory=threading.Event)
    # Where improvers say what the caller should know (an endpoint adapted); None: logging.
    log: Callable[[str], None] | None = None


class Improver(Protocol):
    """Proposes the next policy parameters; the caller validates and clips the proposal."""

    name: str

    def propose(self, query: PolicyQuery) -> Proposal:
        """Return the proposed next theta (unclipped) for `query`."""
        ...
