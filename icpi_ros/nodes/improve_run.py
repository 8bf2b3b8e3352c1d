# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""One Improve goal of the improvement loop: its run record, its trials, its result.

`ImproveRun.execute()` opens (or resumes) the run record, runs the core's `run_loop` with a
trial per ExecuteTrial goal and a step per NextPolicy call, and returns the Improve result:
every trial this goal ran (a canceled or failed run's too), the best θ and cost.
"""

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from icpi_interfaces.action import ExecuteTrial, Improve
from icpi_interfaces.msg import TrialResult

from icpi_ros.core.improvers import AUTO, IMPROVERS
from icpi_ros.core.loop import Iteration, Stopped, run_loop
from icpi_ros.core.planning import PolicyStep
from icpi_ros.core.records import RunRecord
from icpi_ros.core.run_lines import failed_trial_line, iteration_line, trial_line, trial_timing
from icpi_ros.core.scoring import Score
from icpi_ros.core.tasks import TaskSpec
from icpi_ros.core.validation import InvalidInput
from icpi_ros.nodes.conversions import executed_trial
from icpi_ros.nodes.loop_clients import Codes, LoopFailed, PlannerClient, TrialClient
from icpi_ros.nodes.runtime import stop_requested


def run_config(tasks: dict[str, TaskSpec], goal: Improve.Goal) -> dict:
    """Return the run's config.json from an Improve goal (defaults resolved).

    Raises:
        LoopFailed: INVALID_GOAL, naming the field.

    """
    try:
        task = tasks[goal.task]
        goal_vec = task.check_goal(goal.goal if len(goal.goal) else task.default_goal)
        theta0 = (
            task.check_theta(goal.theta0, 'theta0') if len(goal.theta0) else task.theta_middle()
        )
        if goal.max_iterations < 1:
            raise InvalidInput('max_iterations must be at least 1')
        if not np.isfinite(goal.tolerance) or goal.tolerance < 0:
            raise InvalidInput(f'tolerance must be finite and >= 0, got {goal.tolerance}')
        if goal.improver and goal.improver not in (AUTO, *IMPROVERS):
            raise InvalidInput(
                f'unknown improver {goal.improver!r}; available: {", ".join(sorted(IMPROVERS))}'
            )
    except InvalidInput as exc:
        raise LoopFailed(Codes.INVALID_GOAL, str(exc)) from None
    return {
        'task': task.name,
        'goal': goal_vec.tolist(),
        'theta0': theta0.tolist(),
        'max_iterations': int(goal.max_iterations),
        'tolerance': float(goal.tolerance),
        'improver': goal.improver,
        'seed': int(goal.seed),
    }


def fill_history(result: Improve.Result, finished: list[tuple[TrialResult, str]]) -> None:
    """Put every trial a goal ran (its result, its history line) into the Improve result."""
    result.history = [line for _, line in finished]
    result.trial_ids = [trial.trial_id for trial, _ in finished]
    ran = ExecuteTrial.Result.NONE
    result.costs = [
        float(trial.cost) if trial.status == ran else float('nan') for trial, _ in finished
    ]


class ImproveRun:
    """The state of one Improve goal while it runs (an executor thread of the node)."""

    def __init__(
        self,
        handle,
        tasks: dict[str, TaskSpec],
        runs: Path,
        trials: TrialClient,
        planner: PlannerClient,
        logger,
        describe: Callable[[str], None],
    ) -> None:
        """Describe the run of `handle`'s goal; nothing starts before `execute()`.

        `describe(text)` is told what runs once the record is open (for a busy answer).
        """
        self.handle, self.tasks, self.runs = handle, tasks, runs
        self.trials, self.planner, self.logger = trials, planner, logger
        self.describe = describe
        self.record: RunRecord | None = None
        self.result = Improve.Result()
        self.finished: list[tuple[TrialResult, str]] = []  # every trial run, in the result
        self.results: dict[int, TrialResult] = {}  # the executor's answer per iteration
        self.best_cost = float('inf')
        self.improver_used = ''  # of the last planner step
        self.mark = time.monotonic()  # when the last trial was recorded
        self.planner_time: tuple[float, float] | None = None  # (round trip, compute) s
        self.feedback = Improve.Feedback()

    def open_record(self) -> dict:
        """Create the run record, or reopen the one to resume; return its config."""
        goal = self.handle.request
        if goal.resume_run_id:
            try:
                self.record = RunRecord.open(self.runs, goal.resume_run_id)
            except InvalidInput as exc:
                raise LoopFailed(Codes.RESUME_FAILED, str(exc)) from None
            if self.record.config.get('mode') == 'closed-loop':
                raise LoopFailed(
                    Codes.RESUME_FAILED,
                    f'run {self.record.run_id} is a closed-loop promptpo run: it cannot be '
                    'resumed; start a new one',
                )
        else:
            self.record = RunRecord.create(self.runs, run_config(self.tasks, goal))
        self.result.run_id = self.record.run_id
        self.describe(f'run {self.record.run_id}, {self.record.config["task"]}')
        return self.record.config

    def history(self) -> list[Iteration]:
        """Return the trials the record already holds (a resumed run's)."""
        return [
            Iteration(
                t['iteration'],
                np.array(t['theta']),
                np.array(t['outcome']),
                t['cost'],
                improver=t.get('improver', ''),
            )
            for t in self.record.trials()
        ]

    def execute(self) -> Improve.Result:
        """Run the goal to its end; set the handle's final state; return the result."""
        status, message = 'failed', ''
        try:
            self._loop(self.open_record())
            status = 'succeeded'
            self.handle.succeed()
        except Stopped as exc:
            self.result.error_code, self.result.error_msg = Codes.CANCELED, str(exc)
            status, message = 'canceled', str(exc)
            self._end_unsucceeded()
        except LoopFailed as exc:
            self._record_failed_trial(exc.trial)
            self.result.error_code, self.result.error_msg = exc.code, str(exc)
            status = 'canceled' if exc.code == Codes.CANCELED else 'failed'
            message = str(exc)
            self._end_unsucceeded()
        except Exception as exc:
            self.result.error_code = Codes.INTERNAL_ERROR
            self.result.error_msg = message = f'{type(exc).__name__}: {exc}'
            self.handle.abort()
            self.logger.error(f'internal error: {message}')
        self._fill_history()
        if self.record is not None:
            self._summarise(status, message)
        return self.result

    def _loop(self, config: dict) -> None:
        """Run the core's loop over the graph, from the record's trials on."""
        task = self.tasks[config['task']]
        history = self.history()
        self.best_cost = min((h.cost for h in history), default=float('inf'))
        self.logger.info(
            f'run {self.record.run_id}: {task.name}, goal {config["goal"]}, '
            f'{config["max_iterations"]} iterations'
            + (f', resuming after {len(history)} trials' if history else '')
        )
        goal_vec = np.array(config['goal'])
        loop = run_loop(
            task,
            lambda theta, i: self._trial(task, goal_vec, theta, i),
            lambda query: self._plan(query, config['improver']),
            goal_vec,
            np.array(config['theta0']),
            config['max_iterations'],
            config['tolerance'],
            history,
            self._on_trial,
            self._on_iteration,
            self._stopping,
            self.record.run_id,
        )
        if loop.failed_step is not None:
            self.record.append_failed_step(loop.failed_step.as_dict())
            raise LoopFailed(Codes.PLANNER_FAILED, loop.failed_step.error)
        self.result.best_theta, self.result.best_cost = loop.best.theta.tolist(), loop.best.cost
        self.result.error_code = Codes.NONE

    def _stopping(self) -> bool:
        """Whether the goal was canceled or the node is stopping."""
        return self.handle.is_cancel_requested or stop_requested().is_set()

    def _trial(self, task: TaskSpec, goal: np.ndarray, theta: np.ndarray, i: int) -> Score:
        """Run iteration `i`'s trial through the executor; return its outcome and cost.

        The cost is the executor's: the task's cost, with a closed-loop trial's effort term.
        """
        request = ExecuteTrial.Goal(
            task=task.name, theta=list(theta), goal=list(goal), trial_id=f'{self.record.run_id}-{i}'
        )
        trial = self.trials.execute(request, self._stopping)
        self.results[i] = trial
        return Score(np.array(trial.outcome), np.array(trial.error), float(trial.cost))

    def _plan(self, query, improver: str) -> PolicyStep:
        """One NextPolicy call, timed for the record."""
        sent = time.monotonic()
        step, compute_s = self.planner.next_policy(query, improver)
        self.planner_time = (time.monotonic() - sent, compute_s)
        self.improver_used = step.improver
        return step

    def _on_trial(self, iteration: Iteration) -> None:
        """Record the trial of `iteration` before the loop goes on (fsynced meanwhile)."""
        now = time.monotonic()
        done = executed_trial(self.results[iteration.iteration])
        timing = trial_timing(done, now - self.mark, self.planner_time)
        self.mark, self.planner_time = now, None
        self.record.append(trial_line(done, iteration, timing), wait=False)
        line = iteration_line(done, iteration.iteration, iteration.improver)
        self.finished.append((self.results[iteration.iteration], line))
        self.best_cost = min(self.best_cost, iteration.cost)

    def _on_iteration(self, iteration: Iteration) -> None:
        """Publish the iteration's feedback."""
        feedback = self.feedback
        feedback.iteration = iteration.iteration
        feedback.theta = iteration.theta.tolist()
        feedback.cost = iteration.cost
        feedback.best_cost = self.best_cost
        next_theta = iteration.theta_next
        feedback.theta_next = [] if next_theta is None else next_theta.tolist()
        feedback.improver_used = self.improver_used
        self.handle.publish_feedback(feedback)

    def _record_failed_trial(self, trial: TrialResult | None) -> None:
        """Keep a trial that ended without a result (failed, canceled) in the record."""
        if trial is None or self.record is None:
            return
        iteration = self.record.next_iteration()
        failed = executed_trial(trial)
        self.record.append_failed(failed_trial_line(failed, iteration))
        self.finished.append((trial, iteration_line(failed, iteration, self.improver_used)))

    def _end_unsucceeded(self) -> None:
        """End the goal canceled if the client asked for it, else aborted."""
        self.handle.canceled() if self.handle.is_cancel_requested else self.handle.abort()

    def _fill_history(self) -> None:
        """Every trial this goal ran, one line each, into the result."""
        fill_history(self.result, self.finished)

    def _summarise(self, status: str, message: str) -> None:
        """Write summary.json; an unsucceeded run's result takes its best trial from it."""
        record = self.record
        named = [t['improver'] for t in record.trials() if t.get('improver')]
        if not record.config.get('improver') and named:
            record.config['improver'] = named[-1]  # what the planner's default resolved to
        summary = record.write_summary(status, message)
        if self.result.error_code != Codes.NONE and record.trials():
            self.result.best_cost = float(summary['best_cost'])
            self.result.best_theta = list(summary['best_theta'])
        self.logger.info(
            f'run {record.run_id} {status}: {summary["iterations"]} trials, best cost '
            f'{summary["best_cost"]}; record {record.path}' + (f' ({message})' if message else '')
        )
