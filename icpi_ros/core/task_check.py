# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Check a task before it is used: its motion within the arm's limits, its outcome's size.

What `icpi tasks --check` runs for a new task (a plugin's above all): the planned motion at
every corner of theta's box and at its middle stays reachable and within the joint position
and speed limits (theta is clipped to the box, so these bound every plan), and one simulated
trial at the middle gives an outcome of the task's size.
"""

from dataclasses import dataclass

import numpy as np

from icpi_ros.core.arm import ArmSpec
from icpi_ros.core.motion import PlanRejected, plan_motion
from icpi_ros.core.task_plugins import theta_corners
from icpi_ros.core.tasks import TaskSpec
from icpi_ros.core.validation import InvalidInput


@dataclass(frozen=True)
class TaskCheck:
    """What the check of one task found: problems (empty: fine) and what it tried."""

    task: str
    plugin: str
    plans: int
    problems: tuple[str, ...]
    outcome: tuple[float, ...] | None = None


def check_task(task: TaskSpec, arm: ArmSpec | None = None, simulate: bool = True) -> TaskCheck:
    """Plan `task`'s motion at theta's corners and middle; simulate the middle if it can.

    Args:
        task: the task.
        arm: the arm (default: the simulated arm).
        simulate: also run one simulated trial at the middle (a sim task only).

    Returns:
        The problems, each naming the plugin, the task and the theta or field.
    """
    arm = arm or ArmSpec()
    where = f'plugin {task.plugin}, task {task.name}'
    problems: list[str] = []
    plans = 0
    if task.closed_loop is None:
        for theta in [*theta_corners(task.theta_low, task.theta_high), task.theta_middle()]:
            plans += 1
            try:
                plan_motion(task.motion, arm, theta, task.trial_duration_s)
            except (PlanRejected, InvalidInput) as exc:
                shown = ', '.join(
                    f'{p.name}={v:g}' for p, v in zip(task.parameters, theta, strict=True)
                )
                problems.append(f'{where}: motion {task.motion.kind!r} at theta ({shown}): {exc}')
    outcome = None
    if simulate and task.sim_object is not None and not problems:
        from icpi_ros.core.sim.simulator import TrialRunner

        runner = TrialRunner(task)
        try:
            outcome = tuple(float(v) for v in runner.run(task.theta_middle()).outcome)
        except InvalidInput as exc:
            problems.append(f'{where}: {exc}')
        finally:
            runner.close()
        if outcome is not None and not np.all(np.isfinite(outcome)):
            problems.append(f'{where}: the simulated outcome is not finite: {outcome}')
    return TaskCheck(task.name, task.plugin, plans, tuple(problems), outcome)
