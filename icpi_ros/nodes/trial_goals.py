# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The trial executor's ExecuteTrial server: one trial at a time, and no trial unobserved.

The decisions (which goals are one trial, when a result is replayed) are the core's
(`core.execution`: `arrival`, `claim`, `completed`); this module holds the goal handles.
"""

import threading
import time
from collections.abc import Callable

from icpi_interfaces.action import ExecuteTrial
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.node import Node

from icpi_ros.core.execution import (
    Arrival,
    Claim,
    Completed,
    TrialKey,
    arrival,
    claim,
    completed,
    trial_key,
)

Codes = ExecuteTrial.Result
# How often a goal waiting for the running trial to end looks again (s).
WAIT_POLL_S = 0.1


def request_key(goal: ExecuteTrial.Goal) -> TrialKey | None:
    """Return what makes two goals the same trial: id, task, theta, goal, source (None: no id)."""
    return trial_key(goal.trial_id, goal.task, goal.theta, goal.goal, goal.policy_source)


class RunningTrial:
    """One trial on the arm and every goal watching it (the first one and identical resends)."""

    def __init__(self, key: TrialKey | None, handle) -> None:
        self.key = key
        self.request = handle.request
        self.handles = [handle]
        self.stopping = False  # set once the trial has decided to end: no more attaching
        self.done = threading.Event()
        self.result: ExecuteTrial.Result | None = None
        self._lock = threading.Lock()

    def attach(self, handle) -> bool:
        """Add a watching goal, unless the trial is already ending."""
        with self._lock:
            if self.stopping:
                return False
            self.handles.append(handle)
            return True

    def cancel_requested(self) -> bool:
        """Return whether every goal watching the trial has asked to cancel it (it stops)."""
        with self._lock:
            if all(h.is_cancel_requested for h in self.handles):
                self.stopping = True
            return self.stopping

    def publish_feedback(self, feedback: ExecuteTrial.Feedback) -> None:
        """Send feedback (the heartbeat) to every goal still watching."""
        with self._lock:
            handles = list(self.handles)
        for handle in handles:
            if handle.is_active:
                handle.publish_feedback(feedback)

    def finish(self, result: ExecuteTrial.Result) -> None:
        """Record the result; attached goals wake up and answer with it."""
        with self._lock:
            self.stopping, self.result = True, result
        self.done.set()


def finish_goal(handle, result: ExecuteTrial.Result) -> ExecuteTrial.Result:
    """Put a goal in its final state for `result` and return the result."""
    if handle.is_cancel_requested:
        handle.canceled()
    elif result.error_code == Codes.NONE:
        handle.succeed()
    else:
        handle.abort()
    return result


def busy_result(goal: ExecuteTrial.Goal, message: str) -> ExecuteTrial.Result:
    """Return the result of a goal refused because another trial runs (nothing moved)."""
    result = ExecuteTrial.Result(error_code=Codes.BUSY, error_msg=message)
    trial = result.trial
    trial.trial_id, trial.task = goal.trial_id, goal.task
    trial.theta_requested = list(goal.theta)
    trial.status, trial.status_message = Codes.BUSY, message
    return result


class TrialGoals:
    """The ExecuteTrial server: one trial at a time, and no trial unobserved.

    A goal identical to the running trial (same trial_id, task, theta and goal: a client's
    resend of a goal whose answer it missed) is accepted and attached to it: it gets the
    trial's feedback and, at the end, its result; nothing else moves. The trial stops (hold)
    only when every goal watching it has been canceled, so canceling the first copy of a
    resent goal does not stop the trial the resend watches. A resend arriving while the trial
    is already ending (canceled, failed) waits for it to end and then runs afresh. A goal
    identical to the trial that just completed (within REPLAY_S) is answered with its result
    without moving again. Any other goal while a trial runs is accepted and aborted at once
    with BUSY and a message naming the running trial (a rejection would tell the client
    nothing: `ros2 action send_goal` prints only "Goal was rejected."); goals without a
    trial_id are never matched.
    """

    def __init__(
        self, node: Node, run: Callable[[RunningTrial], ExecuteTrial.Result], group, wait_s: float
    ) -> None:
        self._node, self._run, self._wait_s = node, run, wait_s
        self._lock = threading.Lock()
        self._accepted = 0  # goals accepted and not yet answered
        self._key: TrialKey | None = None  # the request the accepted goals share
        self._what = ''  # the trial the accepted goals share, for the busy answer
        # Goals accepted only to be aborted as busy, by id() of the request (goal callback and
        # execute callback see the same request object): id -> (request, busy result).
        self._refused: dict[int, tuple[ExecuteTrial.Goal, ExecuteTrial.Result]] = {}
        self._running: RunningTrial | None = None
        self._last: Completed[ExecuteTrial.Result] | None = None
        self._idle = threading.Event()
        self._idle.set()
        self.server = ActionServer(
            node,
            ExecuteTrial,
            '~/execute_trial',
            self._execute,
            goal_callback=self._on_goal,
            cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=group,
        )

    @property
    def busy(self) -> bool:
        """Whether a trial has been accepted and not yet answered."""
        return self._accepted > 0

    def _on_goal(self, goal: ExecuteTrial.Goal) -> GoalResponse:
        """Accept every goal: the first of a trial, a resend of it, or one refused as busy."""
        key = request_key(goal)
        with self._lock:
            how = arrival(key, self._accepted > 0, self._key)
            if how is Arrival.BUSY:
                message = f'busy: another trial is running ({self._what})'
                self._node.get_logger().warning(
                    f'refused trial {goal.trial_id or "(no id)"}: {message}'
                )
                self._refused[id(goal)] = (goal, busy_result(goal, message))
                return GoalResponse.ACCEPT  # and aborted at once, with the reason
            if how is Arrival.RESEND:
                self._node.get_logger().warning(
                    f'trial {goal.trial_id}: the same goal again (a resend): it watches the '
                    'running trial instead of starting another'
                )
            else:
                self._what = f'trial {goal.trial_id or "without a trial_id"}, {goal.task}'
            self._accepted += 1
            self._key = key
            self._idle.clear()
            return GoalResponse.ACCEPT

    def _take_refused(self, goal: ExecuteTrial.Goal) -> ExecuteTrial.Result | None:
        """Return the busy result of a goal accepted only to be aborted, else None."""
        with self._lock:
            refused = self._refused.get(id(goal))
            if refused is None or refused[0] is not goal:
                return None
            del self._refused[id(goal)]
            return refused[1]

    def _claim(self, handle, key: TrialKey | None) -> tuple[Claim, object]:
        """Decide what a goal does now: run, attach, replay, or wait for the running trial."""
        with self._lock:
            running, last = self._running, self._last
            running_key = running.key if running is not None else None
            what = claim(key, running is not None, running_key, last, time.monotonic())
            if what is Claim.REPLAY:
                return what, last
            if what is Claim.RUN:
                self._running = RunningTrial(key, handle)
                return what, self._running
        if what is Claim.ATTACH and running.attach(handle):
            return what, running
        return Claim.WAIT, running  # the same trial, already ending: run afresh after it

    def _execute(self, handle) -> ExecuteTrial.Result:
        """Answer one accepted goal: busy, replayed, attached to the trial, or its own trial."""
        busy = self._take_refused(handle.request)
        if busy is not None:  # not counted in _accepted: nothing to undo
            return finish_goal(handle, busy)
        key = request_key(handle.request)
        try:
            what, claimed = self._wait_for_turn(handle, key)
            if what is None:
                return finish_goal(handle, self._timed_out(handle))
            if what is Claim.ATTACH:
                return finish_goal(handle, self._result_of(claimed, handle))
            if what is Claim.REPLAY:
                self._node.get_logger().warning(
                    f'trial {handle.request.trial_id} completed '
                    f'{time.monotonic() - claimed.at:.1f} s ago: answered with its result, '
                    'nothing moves again'
                )
                return finish_goal(handle, claimed.result)
            return finish_goal(handle, self._run_claimed(claimed, key))
        finally:
            with self._lock:
                self._accepted -= 1
                if not self._accepted:
                    self._key = None
                    self._idle.set()

    def _wait_for_turn(self, handle, key: TrialKey | None) -> tuple[Claim | None, object]:
        """Claim until the goal runs, attaches or replays; (None, None) when waiting timed out."""
        deadline = time.monotonic() + self._wait_s
        while True:
            what, claimed = self._claim(handle, key)
            if what is not Claim.WAIT:
                return what, claimed
            claimed.done.wait(WAIT_POLL_S)
            if time.monotonic() > deadline:
                return None, None

    def _run_claimed(self, running: RunningTrial, key: TrialKey | None) -> ExecuteTrial.Result:
        """Run the trial this goal claimed; remember it if it succeeded."""
        result = ExecuteTrial.Result()
        try:
            result = self._run(running)
        finally:
            running.finish(result)
            with self._lock:
                self._running = None
                ok = result.error_code == Codes.NONE
                self._last = completed(key, ok, result, time.monotonic())
        return result

    def _result_of(self, running: RunningTrial, handle) -> ExecuteTrial.Result:
        """Wait for the trial a resend attached to; its result, or TIMEOUT."""
        # The trial ends by its own trial_timeout_s; this bound only guards against a bug.
        if running.done.wait(self._wait_s) and running.result is not None:
            return running.result
        return self._timed_out(handle)

    def _timed_out(self, handle) -> ExecuteTrial.Result:
        """Return the result of a goal whose trial did not end in time."""
        result = ExecuteTrial.Result(error_code=Codes.TIMEOUT)
        result.error_msg = f'the trial this goal waits for did not end within {self._wait_s:g} s'
        result.trial.trial_id = handle.request.trial_id
        return result

    def drain(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` for the accepted goals to be answered."""
        self._idle.wait(timeout_s)
