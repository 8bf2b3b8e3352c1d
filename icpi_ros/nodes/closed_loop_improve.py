# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""An Improve goal of PromptPO on a closed-loop task (push-gc): the LLM writes the controller.

The search is the core's (`closed_loop_run.run_search`, what `icpi improve --task push-gc
--improver promptpo` runs on the fast sim path); here its `evaluate` runs each episode of a
candidate as one ExecuteTrial goal with the candidate's code as `policy_source` (the executor
streams it from PromptPO's sandboxed policy process), and the episode it gives back is the
executor's: what the policy saw and did, the tracked outcome, the cost with the effort term.
A program the static check refuses costs no trial; a trial failed by the policy (POLICY_FAILED,
LIMITS) is a failed episode and gets the search's repair prompt; any other failed trial ends
the run (TRIAL_FAILED), a cancel or the node's stop ends it CANCELED, the best so far kept.

The record (`runs/<id>/`): config.json; trials.jsonl, one line per episode that gave a result
(the code's hash and key in `planner`); failed_trials.jsonl; search.json, the search log
(every prompt, answer, candidate, score and repair), rewritten after every round;
summary.json with the search's summary and the best policy under `promptpo`.
"""

import dataclasses
import math
import threading
import time
from pathlib import Path

import numpy as np
from icpi_interfaces.action import ExecuteTrial, Improve
from icpi_interfaces.msg import TrialResult

from icpi_ros.core.llm import LLMConfig
from icpi_ros.core.loop import Iteration, Stopped, draw_goal
from icpi_ros.core.promptpo.closed_loop_run import run_search, search_summary
from icpi_ros.core.promptpo.closed_loop_search import EvaluationFailed
from icpi_ros.core.promptpo.closed_loop_state import SearchResult, SearchSettings, code_key
from icpi_ros.core.promptpo.policy_process import check_policy
from icpi_ros.core.promptpo.sandbox import SandboxUnavailable, require_isolation
from icpi_ros.core.promptpo.state import code_sha
from icpi_ros.core.records import RunRecord
from icpi_ros.core.run_lines import failed_trial_line, iteration_line, trial_line, trial_timing
from icpi_ros.core.scoring import euclidean_cost
from icpi_ros.core.streaming import streamed_episode
from icpi_ros.core.tasks import TaskSpec
from icpi_ros.core.validation import InvalidInput
from icpi_ros.nodes.conversions import executed_trial
from icpi_ros.nodes.improve_run import fill_history
from icpi_ros.nodes.loop_clients import Codes, LoopFailed, TrialClient
from icpi_ros.nodes.runtime import stop_requested

IMPROVER = 'promptpo'
# Trials the policy itself failed: a failed episode (repair prompt), not a failed run.
PROGRAM_FAILURES = (ExecuteTrial.Result.POLICY_FAILED, ExecuteTrial.Result.LIMITS)
# Trials the senses failed (the object not seen, or seen too late): the episode is run again,
# up to EPISODE_ATTEMPTS times in all, before the run fails.
SENSING_FAILURES = (ExecuteTrial.Result.TRACKING_LOST, ExecuteTrial.Result.NOT_READY)
EPISODE_ATTEMPTS = 3


def is_closed_loop_promptpo(tasks: dict[str, TaskSpec], goal: Improve.Goal) -> bool:
    """Whether an Improve goal asks for PromptPO on a closed-loop task."""
    if goal.improver != IMPROVER:
        return False
    try:
        return tasks[goal.task].closed_loop is not None
    except InvalidInput:  # an unknown task: the θ loop refuses it with INVALID_GOAL
        return False


def search_settings(goal: Improve.Goal) -> SearchSettings:
    """Return the search's settings from the goal (0: the default).

    Raises:
        LoopFailed: INVALID_GOAL, naming the field.

    """
    given = {
        'rounds': goal.promptpo_rounds,
        'candidates': goal.promptpo_candidates,
        'episodes': goal.promptpo_episodes,
    }
    try:
        return SearchSettings(seed=int(goal.seed), **{k: int(v) for k, v in given.items() if v})
    except InvalidInput as exc:
        message = str(exc).replace('search settings: ', 'promptpo_')
        raise LoopFailed(Codes.INVALID_GOAL, message) from None


class ClosedLoopImprove:
    """The state of one closed-loop PromptPO Improve goal while it runs (an executor thread)."""

    def __init__(
        self,
        handle,
        task: TaskSpec,
        runs: Path,
        trials: TrialClient,
        logger,
        describe,
        llm: LLMConfig,
        isolation: str,
    ) -> None:
        """Describe the run of `handle`'s goal; nothing starts before `execute()`."""
        self.handle, self.task, self.runs, self.trials = handle, task, runs, trials
        self.logger, self.describe, self.llm, self.isolation = logger, describe, llm, isolation
        self.record: RunRecord | None = None
        self.result = Improve.Result()
        self.finished: list[tuple[TrialResult, str]] = []  # every trial run, in the result
        self.best_mean = math.inf  # the best candidate's mean cost so far
        self.sent = 0  # ExecuteTrial goals sent (numbering the trial ids)
        self.stop = threading.Event()
        self.rounds: list[dict] = []
        self.trial_failure: LoopFailed | None = None  # a trial that ended the run
        self.mark = time.monotonic()

    def execute(self) -> Improve.Result:
        """Run the search to its end; set the handle's final state; return the result."""
        try:
            settings = self._admit()
        except LoopFailed as exc:
            self.result.error_code, self.result.error_msg = exc.code, str(exc)
            self.handle.abort()
            self.logger.warning(f'closed-loop promptpo goal refused: {exc}')
            return self.result
        done = threading.Event()
        watcher = threading.Thread(target=self._watch, args=(done,), daemon=True)
        watcher.start()
        try:
            result = run_search(
                self.task,
                self.llm,
                settings,
                self.isolation,
                stop=self.stop,
                on_round=self._on_round,
                evaluate=self._evaluate,
            )
            status, message = self._end(result)
            extra = search_summary(self.task, result)
            self.record.write_search({**result.log, 'summary': extra})
            extra['best_code'] = self.result.best_policy_source
        except Exception as exc:  # a bug: the goal ends, the node goes on
            self.result.error_code = Codes.INTERNAL_ERROR
            self.result.error_msg = message = f'{type(exc).__name__}: {exc}'
            status, extra = 'failed', {}
            self.handle.abort()
            self.logger.error(f'internal error: {message}')
        finally:
            done.set()
        fill_history(self.result, self.finished)
        summary = self.record.write_summary(status, message, {'promptpo': extra})
        self.logger.info(
            f'run {self.record.run_id} {status}: {summary["iterations"]} episodes, best mean '
            f'cost {extra.get("best_cost")}; record {self.record.path}'
            + (f' ({message})' if message else '')
        )
        return self.result

    def _admit(self) -> SearchSettings:
        """Check the goal, the endpoint and the sandbox; open the record; return the settings."""
        goal = self.handle.request
        if goal.resume_run_id:
            raise LoopFailed(
                Codes.RESUME_FAILED, 'a closed-loop promptpo run cannot be resumed: start a new one'
            )
        settings = search_settings(goal)
        if not self.llm.endpoint_configured:
            raise LoopFailed(
                Codes.INVALID_GOAL,
                f'improver {IMPROVER} on {self.task.name} needs an LLM endpoint: set llm.base_url '
                'of improvement_loop (or OPENAI_BASE_URL / OPENAI_API_KEY where it runs)',
            )
        try:
            warning = require_isolation(self.isolation)
        except (SandboxUnavailable, ValueError) as exc:
            raise LoopFailed(Codes.INVALID_GOAL, f'{IMPROVER}: {exc}') from None
        if warning:
            self.logger.warning(warning)
        goals = [draw_goal(self.task, settings.seed + i).tolist() for i in range(settings.episodes)]
        config = {
            'task': self.task.name,
            'improver': IMPROVER,
            'mode': 'closed-loop',
            'goals': goals,
            'seed': settings.seed,
            'settings': dataclasses.asdict(settings),
            'llm': self.llm.as_dict(),
            'sandbox': self.isolation,
            'max_iterations': settings.rounds * settings.candidates * settings.episodes,
        }
        self.record = RunRecord.create(self.runs, config)
        self.result.run_id = self.record.run_id
        self.describe(f'run {self.record.run_id}, {self.task.name} (closed-loop {IMPROVER})')
        self.logger.info(
            f'run {self.record.run_id}: {self.task.name} with closed-loop {IMPROVER}, '
            f'{settings.rounds} rounds x {settings.candidates} candidates x {settings.episodes} '
            f'episodes; LLM {self.llm.describe()}'
        )
        return settings

    def _watch(self, done: threading.Event) -> None:
        """Set the search's stop event once the goal is canceled or the node is stopping."""
        while not done.wait(0.05):
            if self._stopping():
                self.stop.set()
                return

    def _stopping(self) -> bool:
        return self.handle.is_cancel_requested or stop_requested().is_set()

    # --- the search's evaluate: one ExecuteTrial goal per episode -------------------------

    def _evaluate(self, source: str, goals: list[list[float]], seeds: list[int]) -> list:
        """Run `source` for one episode per goal on the robot; return the episodes."""
        check_policy(source)  # refused: SandboxFailed, no trial
        details = {'code_sha': code_sha(source), 'key': code_key(source)}
        episodes = []
        for index, (goal, seed) in enumerate(zip(goals, seeds, strict=True)):
            if self._stopping():
                raise Stopped('canceled')
            episodes.append(self._episode(source, goal, seed, {**details, 'episode': index}))
            if len(episodes) == len(goals) and all(
                not e.failed and math.isfinite(e.cost) for e in episodes
            ):  # the candidate is scored: the best so far in this episode's feedback
                self.best_mean = min(self.best_mean, float(np.mean([e.cost for e in episodes])))
            self._feedback(episodes[-1].cost)
        return episodes

    def _episode(self, source: str, goal: list[float], seed: int, details: dict):
        """One ExecuteTrial goal with `source` as its policy; record it; return the episode."""
        for attempt in range(1, EPISODE_ATTEMPTS + 1):
            trial_id = f'{self.record.run_id}-{self.sent}'
            self.sent += 1
            request = ExecuteTrial.Goal(
                task=self.task.name, theta=[], goal=goal, trial_id=trial_id, policy_source=source
            )
            try:
                trial = self.trials.execute(request, self._stopping)
                break
            except LoopFailed as exc:
                self._record_failed(exc.trial)
                status = None if exc.trial is None else exc.trial.status
                if exc.code == Codes.CANCELED:
                    raise Stopped(str(exc)) from None
                if status in PROGRAM_FAILURES:
                    reason = exc.trial.status_message or str(exc)
                    return streamed_episode(self.task.name, goal, seed, [], [], failed=reason)
                if status not in SENSING_FAILURES or attempt == EPISODE_ATTEMPTS:
                    self.trial_failure = exc
                    raise EvaluationFailed(str(exc)) from None
                self.logger.warning(f'{exc}; running the episode again ({attempt + 1})')
        done = executed_trial(trial)
        iteration = Iteration(
            self.record.next_iteration(),
            np.zeros(0),
            np.array(trial.outcome),
            float(trial.cost),
            improver=IMPROVER,
            details=details,
        )
        now = time.monotonic()
        self.record.append(trial_line(done, iteration, trial_timing(done, now - self.mark, None)))
        self.mark = now
        self.finished.append((trial, iteration_line(done, iteration.iteration, IMPROVER)))
        outcome = [float(v) for v in trial.outcome]
        return streamed_episode(
            self.task.name,
            goal,
            seed,
            trial.observations,
            trial.actions,
            outcome=outcome,
            cost=float(trial.cost),
            distance=euclidean_cost(outcome, goal),
            effort=float(trial.effort),
            safety_events=int(trial.safety_events),
            missed_deadlines=int(trial.missed_deadlines),
            wall_s=float(trial.wall_time_s),
        )

    def _record_failed(self, trial: TrialResult | None) -> None:
        """Keep a trial that ended without a result in failed_trials.jsonl and the result."""
        if trial is None:
            return
        failed = executed_trial(trial)
        iteration = self.record.next_iteration()
        self.record.append_failed(failed_trial_line(failed, iteration))
        self.finished.append((trial, iteration_line(failed, iteration, IMPROVER)))

    def _feedback(self, cost: float) -> None:
        """Publish one episode's feedback (theta empty: the policy is code)."""
        feedback = Improve.Feedback(
            iteration=self.sent - 1, cost=cost, best_cost=self.best_mean, improver_used=IMPROVER
        )
        self.handle.publish_feedback(feedback)

    def _on_round(self, round_log: dict) -> None:
        """Rewrite search.json with the rounds so far (a run cut short keeps them)."""
        self.rounds.append(round_log)
        self.record.write_search({'status': 'running', 'rounds': self.rounds})

    # --- the end ------------------------------------------------------------------------

    def _end(self, result: SearchResult) -> tuple[str, str]:
        """Set the result and the handle's final state from the search; return (status, why)."""
        best = result.best
        if best is not None:
            self.result.best_cost, self.result.best_policy_source = best.mean_cost, best.code
        if result.status == 'finished' and best is not None:
            self.result.error_code = Codes.NONE
            self.handle.succeed()
            return 'succeeded', ''
        if result.status == 'stopped':
            code, message = Codes.CANCELED, 'canceled'
        elif self.trial_failure is not None:
            code, message = self.trial_failure.code, str(self.trial_failure)
        else:
            code, message = Codes.PLANNER_FAILED, result.reason or 'no candidate policy ran'
        self.result.error_code, self.result.error_msg = code, message
        if self.handle.is_cancel_requested:
            self.handle.canceled()
            return 'canceled', message
        self.handle.abort()
        return ('canceled' if code == Codes.CANCELED else 'failed'), message
