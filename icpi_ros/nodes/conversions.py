# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Conversions between ROS message fields and plain Python values."""

import math

from builtin_interfaces.msg import Duration, Time
from icpi_interfaces.action import ExecuteTrial
from icpi_interfaces.msg import TrialResult

from icpi_ros.core.run_lines import CLOSED_LOOP_KEYS, ExecutedTrial, ObjectPath


def to_time(seconds: float) -> Time:
    """builtin_interfaces/Time from seconds."""
    sec = int(math.floor(seconds))
    nanosec = int(round((seconds - sec) * 1e9))
    if nanosec >= 1_000_000_000:
        sec, nanosec = sec + 1, nanosec - 1_000_000_000
    return Time(sec=sec, nanosec=nanosec)


def to_duration(seconds: float) -> Duration:
    """builtin_interfaces/Duration from non-negative seconds."""
    t = to_time(seconds)
    return Duration(sec=t.sec, nanosec=t.nanosec)


def seconds(stamp: Time | Duration) -> float:
    """Seconds of a Time or Duration."""
    return stamp.sec + stamp.nanosec * 1e-9


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
        closed_loop=(
            {key: getattr(trial, key) for key in CLOSED_LOOP_KEYS} if trial.control_steps else {}
        ),
    )
