# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""improvement_loop: action `~/improve`, the ICPI loop over the graph, with run records.

Each iteration sends an ExecuteTrial goal to the trial executor, records the trial (fsynced),
asks the planner's NextPolicy service for the next theta and publishes feedback. The loop
itself is the core's `run_loop`, the same one `icpi improve` runs without ROS.
"""

import json
import threading
import time
import uuid
from pathlib import Path

import numpy as np
from action_msgs.msg import GoalStatus
from icpi_interfaces.action import ExecuteTrial, Improve
from icpi_interfaces.msg import TrialResult
from icpi_interfaces.srv import NextPolicy
from rclpy.action import ActionClient
from rclpy.action.client import ClientGoalHandle
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from unique_identifier_msgs.msg import UUID

from icpi_ros.core.errors import IcpiError
from icpi_ros.core.improvers import AUTO, IMPROVERS, ImproverFailed
from icpi_ros.core.loop import Iteration, Stopped, run_loop
from icpi_ros.core.planning import PolicyStep, flatten_history
from icpi_ros.core.records import RunRecord, default_runs_dir
from icpi_ros.core.run_lines import (
    ExecutedTrial,
    ObjectPath,
    failed_trial_line,
    iteration_line,
    trial_line,
    trial_timing,
)
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
# A trial whose executor sends no feedback (heartbeat every 0.5 s) for this long has failed.
EXECUTOR_SILENT_S = 5.0
# An ExecuteTrial goal is sent up to GOAL_ATTEMPTS times, each waiting GOAL_ANSWER_S for
# the executor to accept or refuse it.
GOAL_ATTEMPTS, GOAL_ANSWER_S = 5, 2.0
Codes = Improve.Result


class LoopFailed(IcpiError):
    """The run ended with an Improve error code (and the failed trial, if one ran)."""

    def __init__(self, code: int, message: str, trial: TrialResult | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.trial = trial


# ExecuteTrial result codes by value, for the run record.
TRIAL_CODES = {
    getattr(ExecuteTrial.Result, name): name
    for name in dir(ExecuteTrial.Result)
    if name.isupper() and isinstance(getattr(ExecuteTrial.Result, name), int)
}


def executed_trial(trial: TrialResult) -> ExecutedTrial:
    """Return the trial as plain values, for the core's run lines (trials.jsonl and the like)."""
    path = trial.trajectory
    return ExecutedTrial(
        trial_id=trial.trial_id,
        task=trial.task,
        theta_requested=list(trial.theta_requested),
        theta=list(trial.theta),
        goal=list(trial.goal),
        outcome=list(trial.outcome),
        error=list(trial.error),
        cost=float(trial.cost),
        status=TRIAL_CODES.get(trial.status, str(trial.status)),
        status_message=trial.status_message,
        start_s=seconds(trial.start_stamp),
        end_s=seconds(trial.end_stamp),
        wall_s=trial.wall_time_s,
        reset_s=trial.reset_wall_s,
        window_s=trial.window_wall_s,
        tracker_s=trial.tracker_wall_s,
        path=ObjectPath(
            [seconds(t) for t in path.stamps],
            [(p.x, p.y, p.z) for p in path.points],
            list(path.valid),
            path.coverage,
        ),
    )


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
        self._goals = OneGoalAtATime(
            self,
            Improve,
            '~/improve',
            self._run,
            group,
            'run',
            lambda message: Improve.Result(error_code=Codes.BUSY, error_msg=message),
        )
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
        finished: list[tuple[TrialResult, str]] = []  # every trial this goal ran, in the result
        used = ['']  # the improver of the last planner step
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
            self._goals.describe_running(f'run {record.run_id}, {config["task"]}')
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

            clock = {'mark': time.monotonic(), 'planner': None}

            def on_trial(it: Iteration) -> None:
                now = time.monotonic()
                tr = results[it.iteration]
                done = executed_trial(tr)
                timing = trial_timing(done, now - clock['mark'], clock['planner'])
                clock['mark'], clock['planner'] = now, None
                record.append(trial_line(done, it, timing))
                finished.append((tr, iteration_line(done, it.iteration, it.improver)))
                best[0] = min(best[0], it.cost)

            def on_iteration(it: Iteration) -> None:
                feedback.iteration = it.iteration
                feedback.theta = it.theta.tolist()
                feedback.cost = it.cost
                feedback.best_cost = best[0]
                feedback.theta_next = [] if it.theta_next is None else it.theta_next.tolist()
                feedback.improver_used = used[0]
                handle.publish_feedback(feedback)

            def plan(query) -> PolicyStep:
                sent = time.monotonic()
                step, compute_s = self._next_policy(query, config['improver'])
                clock['planner'] = (time.monotonic() - sent, compute_s)
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
                record.run_id,
            )
            if loop.failed_step is not None:
                record.append_failed_step(loop.failed_step.as_dict())
                raise LoopFailed(Codes.PLANNER_FAILED, loop.failed_step.error)
            best_it = loop.best
            result.best_theta, result.best_cost = best_it.theta.tolist(), best_it.cost
            result.error_code = Codes.NONE
            status = 'succeeded'
            handle.succeed()
        except Stopped as exc:
            result.error_code, result.error_msg = Codes.CANCELED, str(exc)
            status, message = 'canceled', str(exc)
            handle.canceled() if handle.is_cancel_requested else handle.abort()
        except LoopFailed as exc:
            if exc.trial is not None and record is not None:
                iteration = record.next_iteration()
                failed = executed_trial(exc.trial)
                record.append_failed(failed_trial_line(failed, iteration))
                finished.append((exc.trial, iteration_line(failed, iteration, used[0])))
            result.error_code, result.error_msg = exc.code, str(exc)
            status, message = ('canceled' if exc.code == Codes.CANCELED else 'failed'), str(exc)
            handle.canceled() if handle.is_cancel_requested else handle.abort()
        except Exception as exc:
            result.error_code = Codes.INTERNAL_ERROR
            result.error_msg = message = f'{type(exc).__name__}: {exc}'
            handle.abort()
            self.get_logger().error(f'internal error: {message}')
        result.history = [line for _, line in finished]
        result.trial_ids = [tr.trial_id for tr, _ in finished]
        result.costs = [float(tr.cost) if tr.status == 0 else float('nan') for tr, _ in finished]
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
        heard = [time.monotonic()]  # the executor's feedback doubles as its heartbeat

        def on_feedback(_) -> None:
            heard[0] = time.monotonic()

        try:
            goal_handle = self._send_trial(request, on_feedback)
            if not goal_handle.accepted:
                raise LoopFailed(  # trial_executor accepts every goal (BUSY: below)
                    Codes.TRIAL_FAILED, f'the trial executor rejected trial {trial_id} (no reason)'
                )
            heard[0] = time.monotonic()  # silence counts from the acceptance, not the send
            result_future = goal_handle.get_result_async()
            done = threading.Event()
            result_future.add_done_callback(lambda _: done.set())
            sent = time.monotonic()
            while not done.wait(0.1):
                if handle.is_cancel_requested or stop_requested().is_set():
                    goal_handle.cancel_goal_async()
                    stopped = wait_for(result_future, 10.0, 'the canceled trial')
                    ran = stopped.result.error_code != ExecuteTrial.Result.BUSY
                    raise LoopFailed(
                        Codes.CANCELED,
                        f'canceled during trial {trial_id}',
                        stopped.result.trial if ran else None,
                    )
                # A crashed or killed executor never answers: notice its silence.
                silent = time.monotonic() - heard[0]
                if silent > EXECUTOR_SILENT_S:
                    raise LoopFailed(
                        Codes.TRIAL_FAILED,
                        f'trial {trial_id}: the trial executor has been silent for {silent:.1f} '
                        f's (crashed or killed?); resume with resume_run_id once it is back',
                    )
                if time.monotonic() - sent > self._trial_timeout_s:
                    goal_handle.cancel_goal_async()
                    raise LoopFailed(
                        Codes.TRIAL_FAILED,
                        f'trial {trial_id}: no result within {self._trial_timeout_s:g} s',
                    )
            response = result_future.result()
        except WaitAborted as exc:
            raise LoopFailed(Codes.TRIAL_FAILED, f'trial {trial_id}: {exc}') from None
        if response.result.error_code == ExecuteTrial.Result.BUSY:
            # Refused as busy (another client's trial runs): this trial did not run, so it is
            # no failed trial of this run; the run fails as it does when a goal is rejected.
            raise LoopFailed(
                Codes.TRIAL_FAILED,
                f'the trial executor refused trial {trial_id}: {response.result.error_msg}',
            )
        if (
            response.status != GoalStatus.STATUS_SUCCEEDED
            or response.result.error_code != ExecuteTrial.Result.NONE
        ):
            raise LoopFailed(
                Codes.TRIAL_FAILED,
                f'trial {trial_id} failed: {response.result.error_msg}',
                response.result.trial,
            )
        return response.result.trial

    def _send_trial(self, request: ExecuteTrial.Goal, on_feedback):
        """Send the goal; resend it if unanswered (an executor that just restarted).

        A goal sent before DDS has matched a freshly started executor is lost, while the
        killed one may still look present in the graph; the answer normally takes ~5 ms.
        Before each resend the unanswered goal is canceled (by its goal id), and canceled
        again should its acceptance arrive later: no trial runs with nobody watching it. The
        resend carries the same trial_id; the executor attaches it to that trial if the
        first copy is running after all (trial_executor.TrialGoals).
        """
        for attempt in range(1, GOAL_ATTEMPTS + 1):
            goal_id = UUID(uuid=list(uuid.uuid4().bytes))
            sent = self._trials.send_goal_async(
                request, feedback_callback=on_feedback, goal_uuid=goal_id
            )
            try:
                return wait_for(sent, GOAL_ANSWER_S, 'the trial executor')
            except WaitAborted as exc:
                self._cancel_unanswered(request.trial_id, goal_id, sent)
                if stop_requested().is_set() or attempt == GOAL_ATTEMPTS:
                    raise
                self.get_logger().warning(
                    f'trial {request.trial_id}: {exc}; canceled that goal, sending it again'
                )
        raise AssertionError('unreachable')

    def _cancel_unanswered(self, trial_id: str, goal_id: UUID, sent) -> None:
        """Cancel a goal whose answer has not come: now, and again if it is accepted late."""
        response = ExecuteTrial.Impl.SendGoalService.Response(accepted=True)
        ClientGoalHandle(self._trials, goal_id, response).cancel_goal_async()

        def accepted_late(future) -> None:
            handle = future.result()
            if handle is not None and handle.accepted:
                self.get_logger().warning(
                    f'trial {trial_id}: an unanswered goal was accepted late; canceled it'
                )
                handle.cancel_goal_async()

        sent.add_done_callback(accepted_late)

    def _next_policy(self, query, improver: str) -> tuple[PolicyStep, float]:
        """Call NextPolicy; return the step and the planner's own compute time (s)."""
        request = NextPolicy.Request(
            task=query.task.name,
            theta=query.theta.tolist(),
            error=query.error.tolist(),
            goal=[] if query.goal is None else query.goal.tolist(),
            improver='' if improver == AUTO else improver,
            run_id=query.run_id,
        )
        request.history_theta, request.history_outcome = flatten_history(query.history)
        if not self._planner.wait_for_service(timeout_sec=10.0):
            raise ImproverFailed('the planner is not available')
        try:
            answer = wait_for(
                self._planner.call_async(request), self._planner_timeout_s, 'the planner'
            )
        except WaitAborted as exc:
            raise ImproverFailed(str(exc)) from None
        if not answer.success:
            raise ImproverFailed(f'planner: {answer.message}', _details(answer))
        try:
            theta_next = as_vector('theta_next', answer.theta_next, query.task.theta_dim)
        except InvalidInput as exc:
            raise ImproverFailed(str(exc)) from None
        theta_next, _ = query.task.clip(theta_next)  # never trust a remote theta unclipped
        step = PolicyStep(
            theta_next=theta_next,
            delta_theta=theta_next - query.theta,
            improver=answer.improver_used,
            clipped=answer.clipped,
            details=_details(answer),
        )
        return step, answer.compute_s


def _details(answer: NextPolicy.Response) -> dict:
    try:
        details = json.loads(answer.details_json or '{}')
    except ValueError:
        return {'details_json': answer.details_json}
    return details if isinstance(details, dict) else {'details_json': details}


def main(args: list[str] | None = None) -> None:
    """Run the improvement loop until Ctrl-C."""
    raise SystemExit(run_node(ImprovementLoop, args, threads=4))


if __name__ == '__main__':
    main()
