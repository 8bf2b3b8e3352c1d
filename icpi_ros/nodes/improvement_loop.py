# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""improvement_loop: action `~/improve`, the ICPI loop over the graph, with run records.

Each iteration sends an ExecuteTrial goal to the trial executor, records the trial (fsynced),
asks the planner's NextPolicy service for the next theta and publishes feedback. The loop
itself is the core's `run_loop`, the same one `icpi improve` runs without ROS.
"""

import json
import threading
from pathlib import Path

import numpy as np
from action_msgs.msg import GoalStatus
from icpi_interfaces.action import ExecuteTrial, Improve
from icpi_interfaces.msg import TrialResult
from icpi_interfaces.srv import NextPolicy
from rclpy.action import ActionClient
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from icpi_ros.core.improvers import AUTO, IMPROVERS, ImproverFailed
from icpi_ros.core.loop import Iteration, Stopped, run_loop
from icpi_ros.core.planning import PolicyStep
from icpi_ros.core.records import RunRecord, default_runs_dir
from icpi_ros.core.tasks import load_tasks
from icpi_ros.core.validation import InvalidInput, as_vector
from icpi_ros.nodes.conversions import seconds
from icpi_ros.nodes.runtime import (
    OneGoalAtATime,
    WaitAborted,
    declare,
    run_node,
    stop_requested,
    wait_for,
)

NODE_NAME = 'improvement_loop'
Codes = Improve.Result


class LoopFailed(Exception):
    """The run ended with an Improve error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def trial_record(trial: TrialResult, it: Iteration) -> dict:
    """One line of trials.jsonl: the trial, and the planner step that produced its theta."""
    traj = trial.trajectory
    return {
        'iteration': it.iteration,
        'trial_id': trial.trial_id,
        'theta_requested': list(trial.theta_requested),
        'theta': list(trial.theta),
        'goal': list(trial.goal),
        'outcome': list(trial.outcome),
        'error': list(trial.error),
        'cost': float(trial.cost),
        'status_message': trial.status_message,
        'start_s': seconds(trial.start_stamp),
        'end_s': seconds(trial.end_stamp),
        'trial_wall_s': round(trial.wall_time_s, 4),
        'trajectory': {
            'stamps': [round(seconds(t), 4) for t in traj.stamps],
            'points': [[round(p.x, 5), round(p.y, 5), round(p.z, 5)] for p in traj.points],
            'valid': list(traj.valid),
            'coverage': traj.coverage,
        },
        'improver': it.improver,
        'planner': it.details,
    }


class ImprovementLoop(Node):
    """Runs Improve goals one at a time."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        tasks_file = declare(
            self, 'tasks_file', '', 'Task definitions; empty: package config.', read_only=True
        )
        runs_dir = declare(
            self,
            'runs_dir',
            '',
            'Where run records go; empty: $ICPI_RUNS_DIR, else ./runs.',
            read_only=True,
        )
        executor = declare(
            self,
            'executor_action',
            '/trial_executor/execute_trial',
            'ExecuteTrial action of the trial executor.',
            read_only=True,
        )
        planner = declare(
            self,
            'planner_service',
            '/icpi_planner/next_policy',
            'NextPolicy service of the planner.',
            read_only=True,
        )
        self._trial_timeout_s = declare(
            self,
            'trial_timeout_s',
            90.0,
            'Wall-clock limit of one trial (s).',
            read_only=True,
            float_range=(1.0, 3600.0),
        )
        self._planner_timeout_s = declare(
            self,
            'planner_timeout_s',
            180.0,
            'Wall-clock limit of one NextPolicy call (s; an LLM with retries can be slow).',
            read_only=True,
            float_range=(0.1, 3600.0),
        )
        self._tasks = load_tasks(tasks_file or None)
        self._runs = Path(runs_dir) if runs_dir else default_runs_dir()
        group = ReentrantCallbackGroup()
        self._trials = ActionClient(self, ExecuteTrial, executor, callback_group=group)
        self._planner = self.create_client(NextPolicy, planner, callback_group=group)
        self._goals = OneGoalAtATime(self, Improve, '~/improve', self._run, group, 'run')
        self.get_logger().info(
            f'ready: action {self.resolve_topic_name("~/improve")}, runs in {self._runs}'
        )

    def drain(self, timeout_s: float) -> None:
        """Wait for a running Improve goal to end (it sees the stop event)."""
        self._goals.drain(timeout_s)

    def _config(self, goal: Improve.Goal) -> dict:
        try:
            task = self._tasks[goal.task]
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

    def _run(self, handle) -> Improve.Result:
        goal = handle.request
        result = Improve.Result()
        record = None
        status, message = 'failed', ''
        try:
            if goal.resume_run_id:
                try:
                    record = RunRecord.open(self._runs, goal.resume_run_id)
                except InvalidInput as exc:
                    raise LoopFailed(Codes.RESUME_FAILED, str(exc)) from None
                config = record.config
            else:
                config = self._config(goal)
                record = RunRecord.create(self._runs, config)
            result.run_id = record.run_id
            task = self._tasks[config['task']]
            goal_vec = np.array(config['goal'])
            history = [
                Iteration(
                    t['iteration'],
                    np.array(t['theta']),
                    np.array(t['outcome']),
                    t['cost'],
                    improver=t.get('improver', ''),
                )
                for t in record.trials()
            ]
            results: dict[int, TrialResult] = {}
            feedback = Improve.Feedback()
            best = [min((h.cost for h in history), default=float('inf'))]
            self.get_logger().info(
                f'run {record.run_id}: {task.name}, goal {config["goal"]}, '
                f'{config["max_iterations"]} iterations'
                + (f', resuming after {len(history)} trials' if history else '')
            )

            def trial(theta: np.ndarray, i: int) -> np.ndarray:
                tr = self._execute_trial(task.name, theta, goal_vec, f'{record.run_id}-{i}', handle)
                results[i] = tr
                return np.array(tr.outcome)

            def on_trial(it: Iteration) -> None:
                record.append(trial_record(results[it.iteration], it))
                best[0] = min(best[0], it.cost)

            def on_iteration(it: Iteration) -> None:
                feedback.iteration = it.iteration
                feedback.theta = it.theta.tolist()
                feedback.cost = it.cost
                feedback.best_cost = best[0]
                feedback.theta_next = [] if it.theta_next is None else it.theta_next.tolist()
                feedback.improver_used = used[0]
                handle.publish_feedback(feedback)

            used = ['']

            def plan(query) -> PolicyStep:
                step = self._next_policy(query, config['improver'])
                used[0] = step.improver
                return step

            loop = run_loop(
                task,
                trial,
                plan,
                goal_vec,
                np.array(config['theta0']),
                config['max_iterations'],
                config['tolerance'],
                history,
                on_trial,
                on_iteration,
                lambda: handle.is_cancel_requested or stop_requested().is_set(),
            )
            best_it = loop.best
            result.best_theta, result.best_cost = best_it.theta.tolist(), best_it.cost
            result.history = [results[i] for i in sorted(results)]
            result.error_code = Codes.NONE
            status = 'succeeded'
            handle.succeed()
        except Stopped as exc:
            result.error_code, result.error_msg = Codes.CANCELED, str(exc)
            status, message = 'canceled', str(exc)
            handle.canceled() if handle.is_cancel_requested else handle.abort()
        except LoopFailed as exc:
            result.error_code, result.error_msg = exc.code, str(exc)
            status, message = ('canceled' if exc.code == Codes.CANCELED else 'failed'), str(exc)
            handle.canceled() if handle.is_cancel_requested else handle.abort()
        except Exception as exc:
            result.error_code = Codes.INTERNAL_ERROR
            result.error_msg = message = f'{type(exc).__name__}: {exc}'
            handle.abort()
            self.get_logger().error(f'internal error: {message}')
        if record is not None:
            named = [t['improver'] for t in record.trials() if t.get('improver')]
            if not record.config.get('improver') and named:
                record.config['improver'] = named[-1]  # what the planner's default resolved to
            summary = record.write_summary(status, message)
            if result.error_code != Codes.NONE and record.trials():
                result.best_cost = float(summary['best_cost'])
                result.best_theta = list(summary['best_theta'])
            self.get_logger().info(
                f'run {record.run_id} {status}: {summary["iterations"]} trials, best cost '
                f'{summary["best_cost"]}; record {record.path}'
                + (f' ({message})' if message else '')
            )
        return result

    def _execute_trial(self, task: str, theta, goal, trial_id: str, handle) -> TrialResult:
        if not self._trials.wait_for_server(timeout_sec=10.0):
            raise LoopFailed(Codes.TRIAL_FAILED, 'the trial executor is not available')
        request = ExecuteTrial.Goal(
            task=task, theta=list(theta), goal=list(goal), trial_id=trial_id
        )
        try:
            goal_handle = wait_for(self._trials.send_goal_async(request), 10.0, 'the executor')
            if not goal_handle.accepted:
                raise LoopFailed(Codes.TRIAL_FAILED, 'the trial executor refused the trial')
            result_future = goal_handle.get_result_async()
            done = threading.Event()
            result_future.add_done_callback(lambda _: done.set())
            waited = 0.0
            while not done.wait(0.1):
                waited += 0.1
                if handle.is_cancel_requested or stop_requested().is_set():
                    goal_handle.cancel_goal_async()
                    wait_for(result_future, 10.0, 'the canceled trial')
                    raise LoopFailed(Codes.CANCELED, f'canceled during trial {trial_id}')
                if waited > self._trial_timeout_s:
                    goal_handle.cancel_goal_async()
                    raise LoopFailed(
                        Codes.TRIAL_FAILED,
                        f'trial {trial_id}: no result within {self._trial_timeout_s:g} s',
                    )
            response = result_future.result()
        except WaitAborted as exc:
            raise LoopFailed(Codes.TRIAL_FAILED, f'trial {trial_id}: {exc}') from None
        if response.status != GoalStatus.STATUS_SUCCEEDED or response.result.error_code != 0:
            raise LoopFailed(
                Codes.TRIAL_FAILED, f'trial {trial_id} failed: {response.result.error_msg}'
            )
        return response.result.trial

    def _next_policy(self, query, improver: str) -> PolicyStep:
        request = NextPolicy.Request(
            task=query.task.name,
            theta=query.theta.tolist(),
            error=query.error.tolist(),
            goal=[] if query.goal is None else query.goal.tolist(),
            improver='' if improver == AUTO else improver,
        )
        if not self._planner.wait_for_service(timeout_sec=10.0):
            raise LoopFailed(Codes.PLANNER_FAILED, 'the planner is not available')
        try:
            answer = wait_for(
                self._planner.call_async(request), self._planner_timeout_s, 'the planner'
            )
        except WaitAborted as exc:
            raise LoopFailed(Codes.PLANNER_FAILED, str(exc)) from None
        if not answer.success:
            raise LoopFailed(Codes.PLANNER_FAILED, f'planner: {answer.message}')
        try:
            theta_next = as_vector('theta_next', answer.theta_next, query.task.theta_dim)
        except InvalidInput as exc:
            raise ImproverFailed(str(exc)) from None
        theta_next, _ = query.task.clip(theta_next)  # never trust a remote theta unclipped
        return PolicyStep(
            theta_next=theta_next,
            delta_theta=theta_next - query.theta,
            improver=answer.improver_used,
            clipped=answer.clipped,
            details=json.loads(answer.details_json or '{}'),
        )


def main(args: list[str] | None = None) -> None:
    """Run the improvement loop until Ctrl-C."""
    raise SystemExit(run_node(ImprovementLoop, args, threads=4))


if __name__ == '__main__':
    main()
