# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""PromptPO's state for one episode: the rounds' candidates, the trials, the best so far.

Each call of the improver brings the theta just executed and its error, which is attributed
to the candidate that proposed that theta (`Episode.record`); `Episode.sync` makes the
trials those of the run's history (a restarted planner, a resumed run).
"""

import hashlib
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from icpi_ros.core.improvers.base import PolicyQuery
from icpi_ros.core.promptpo.sandbox import SandboxResult
from icpi_ros.core.scoring import trial_cost
from icpi_ros.core.tasks import TaskSpec


def code_sha(code: str) -> str:
    """Short content hash naming a candidate in records and prompts."""
    return hashlib.sha256(code.encode('utf-8', errors='replace')).hexdigest()[:12]


@dataclass
class Candidate:
    """One policy of one round and what became of it."""

    round: int
    index: int
    code: str
    result: SandboxResult
    status: str = 'valid'  # valid, rejected, proposed, scored, not executed
    reason: str = ''  # why it was rejected
    cost: float | None = None
    error: np.ndarray | None = None

    @property
    def sha(self) -> str:
        """Hash of the code."""
        return code_sha(self.code)

    def label(self) -> str:
        """Where it comes from, for prompts."""
        return f'round {self.round} candidate {self.index} (code {self.sha})'


@dataclass
class Trial:
    """One executed theta at this goal."""

    theta: np.ndarray
    outcome: np.ndarray
    cost: float
    source: str


@dataclass
class Episode:
    """PromptPO's state for one task and goal."""

    task: TaskSpec
    goal: np.ndarray
    round: int = 0
    candidates: list[Candidate] = field(default_factory=list)  # the current round's
    queue: deque = field(default_factory=deque)  # valid candidates not yet proposed
    awaiting: Candidate | None = None  # proposed, its trial not reported yet
    trials: list[Trial] = field(default_factory=list)
    best: Candidate | None = None
    llm_calls: int = 0

    def record(self, query: PolicyQuery) -> dict:
        """Attribute the query's trial to the candidate that proposed its theta."""
        theta, _ = self.task.clip(query.theta)
        outcome = self.goal + query.error
        cost = trial_cost(self.task, outcome, self.goal)
        candidate, self.awaiting = self.awaiting, None
        if candidate is not None and np.allclose(
            theta, candidate.result.theta, rtol=0.0, atol=1e-9
        ):
            candidate.status, candidate.cost, candidate.error = 'scored', cost, query.error
            if self.best is None or cost < self.best.cost:
                self.best = candidate
            source = candidate.label()
            scored = {'round': candidate.round, 'candidate': candidate.index}
        else:
            if candidate is not None:  # something else was executed (a fallback, a manual call)
                candidate.status = 'not executed'
            source = 'initial theta' if not self.trials else 'theta not from a candidate'
            scored = {'source': source}
        self.trials.append(Trial(theta, outcome, cost, source))
        return {**scored, 'cost': round(cost, 6)}

    def sync(self, query: PolicyQuery) -> None:
        """Make the trials before the query's those of its run's history.

        A restarted planner (no state) learns the run's trials, their code unknown; a resumed
        run that asks about its last trial again does not count that trial twice.
        """
        if (not query.run_id and not query.history) or len(self.trials) == len(query.history):
            return  # a call by hand carries no history: its episode keeps its own
        costs = query.history_costs()
        known = self.trials[: len(query.history)]
        self.trials = known + [
            Trial(earlier.theta, earlier.outcome, cost, 'earlier trial of the run')
            for earlier, cost in zip(query.history[len(known) :], costs[len(known) :], strict=True)
        ]

    def summary(self) -> dict:
        """Best candidate so far, for the details."""
        if self.best is None:
            return {}
        best = self.best
        return {
            'cost': round(best.cost, 6),
            'round': best.round,
            'candidate': best.index,
            'code_sha': best.sha,
        }
