# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""PromptPO closed loop on the fast sim path: the search joined to the sandbox and MuJoCo.

`make_evaluate(task)` runs an LLM-written `class Policy` for one episode per goal: each
episode in its own `PolicyProcess` (the persistent sandboxed child, a per-step time limit)
driving `closed_loop.rollout` on one reused simulator. `make_summarise()` runs the LLM's
`class Feedback` in the one-shot sandbox. `run_search()` is what `icpi improve --improver
promptpo` runs on a closed-loop task, and the improvement loop with its own `evaluate`
(each episode an ExecuteTrial goal on the robot, nodes/closed_loop_improve.py).
"""

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace

from icpi_ros.core.closed_loop import ClosedLoopEpisode, rollout
from icpi_ros.core.llm import LLMConfig
from icpi_ros.core.promptpo.closed_loop_search import (
    Evaluate,
    Summarise,
    closed_loop_search,
)
from icpi_ros.core.promptpo.closed_loop_state import SearchResult, SearchSettings
from icpi_ros.core.promptpo.feedback import FEEDBACK_LIMITS, summarise_trajectory
from icpi_ros.core.promptpo.policy_process import (
    EPISODE_LIMITS,
    STEP_TIMEOUT_S,
    PolicyProcess,
    SandboxFailed,
)
from icpi_ros.core.promptpo.sandbox import require_isolation
from icpi_ros.core.tasks import TaskSpec


def make_evaluate(
    task: TaskSpec, isolation: str = 'kernel', step_timeout_s: float = STEP_TIMEOUT_S
) -> Evaluate:
    """Return `evaluate(source, goals, seeds) -> episodes` for the closed-loop `task`.

    Args:
        task: a closed-loop sim task (push-gc).
        isolation: the sandbox's isolation ('kernel', or the weaker 'rlimits').
        step_timeout_s: the time limit of one act() round trip.

    Returns:
        The callable the search evaluates programs with: a program the static check refuses
        raises SandboxFailed (no rollout); a step that fails ends its episode `failed`.

    Raises:
        SandboxUnavailable: kernel isolation is asked for and is missing here.

    """
    from icpi_ros.core.sim.simulator import Simulator

    require_isolation(isolation)
    limits = replace(EPISODE_LIMITS, isolation=isolation)
    sim = Simulator(task)  # one for every episode (rollout resets it)

    def evaluate(
        source: str, goals: Sequence[Sequence[float]], seeds: Sequence[int]
    ) -> list[ClosedLoopEpisode]:
        episodes = []
        for goal, seed in zip(goals, seeds, strict=True):
            with PolicyProcess(source, limits, step_timeout_s) as policy:
                if policy.stage == 'static':  # refused before it ran: no rollout
                    raise SandboxFailed(policy.failure, policy.stage)
                episodes.append(rollout(task, policy, goal, seed, sim=sim))
        return episodes

    return evaluate


def make_summarise(isolation: str = 'kernel') -> Summarise:
    """Return `summarise(source, episode) -> statistics`: the LLM's Feedback, sandboxed."""
    limits = replace(FEEDBACK_LIMITS, isolation=isolation)
    return lambda source, episode: summarise_trajectory(source, episode, limits)


def run_search(
    task: TaskSpec,
    llm: LLMConfig,
    settings: SearchSettings,
    isolation: str = 'kernel',
    stop: threading.Event | None = None,
    on_round: Callable[[dict], None] | None = None,
    evaluate: Evaluate | None = None,
) -> SearchResult:
    """Run the closed-loop PromptPO search: on the fast sim path, or another `evaluate`.

    Args:
        task: a closed-loop sim task.
        llm: the endpoint.
        settings: rounds, candidates, episodes, repairs, the prompt bound.
        isolation: the sandbox's isolation for the policies and the Feedback class.
        stop: set to end the search before its next LLM call or evaluation.
        on_round: called with each round's log.
        evaluate: runs the episodes of a program (default: `make_evaluate(task, isolation)`,
            MuJoCo; the improvement loop's runs each episode as an ExecuteTrial goal).

    Returns:
        The search's result: the best policy so far, its status and the run log.

    Raises:
        SandboxUnavailable: kernel isolation is asked for and is missing here.
        LLMError: no endpoint is configured.
        InvalidInput: settings the task cannot take.

    """
    return closed_loop_search(
        task,
        evaluate or make_evaluate(task, isolation),
        make_summarise(isolation),
        llm,
        settings,
        stop=stop,
        on_round=on_round,
    )


def search_summary(task: TaskSpec, result: SearchResult) -> dict:
    """Return a closed-loop search's summary (the CLI's and the run record's).

    Args:
        task: the task searched.
        result: the search's result.

    Returns:
        task, improver, mode, status, reason, best_cost (the best mean cost), best_round,
        best_candidate, best_code_sha, episodes_used and llm_calls.

    """
    best = result.best
    return {
        'task': task.name,
        'improver': 'promptpo',
        'mode': 'closed-loop',
        'status': result.status,
        'reason': result.reason,
        'best_cost': best.mean_cost if best else None,
        'best_round': best.round if best else None,
        'best_candidate': best.candidate if best else None,
        'best_code_sha': best.sha if best else None,
        'episodes_used': result.episodes_used,
        'llm_calls': result.llm_calls,
    }
