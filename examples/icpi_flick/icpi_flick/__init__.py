# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""icpi_flick: a task plugin for icpi_ros, the example of docs/own_task.md.

The flick: theta = (speed, angle, release_time). The tip starts touching the puck and pushes it
along `angle`; its speed rises smoothly (smoothstep) to `speed` at `release_time`, then falls
smoothly to rest in `brake_time` while the tip lifts by `lift`, and the puck slides on alone.
No jump in the acceleration: an arm controller follows the path as planned. The
outcome `travel` is the distance the puck ended from where it started.
"""

from pathlib import Path

import numpy as np

from icpi_ros.core.builtin_plugin import min_jerk, stroke_start
from icpi_ros.core.task_plugins import MotionPrimitive, OutcomeExtractor, TaskPlugin

HERE = Path(__file__).parent


def flick_path(motion, theta: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Return the tool tip's points (len(t), 3): approach, pause, smooth push, brake, lift."""
    speed, angle, release = theta
    brake, lift = motion.setting('brake_time'), motion.setting('lift')
    u = np.array([np.cos(angle), np.sin(angle), 0.0])
    home = np.array(motion.home)
    start = np.array([*motion.object_start, motion.contact_height]) - motion.contact_offset * u
    t = np.asarray(t, dtype=float)
    approach = min_jerk(t / motion.approach_time)[:, None]
    tau = np.clip((t - stroke_start(motion)) / release, 0.0, 1.0)
    pushed = speed * release * (tau**3 - tau**4 / 2)  # velocity speed * smoothstep(tau)
    sigma = np.clip((t - stroke_start(motion) - release) / brake, 0.0, 1.0)
    braked = speed * brake * (sigma - sigma**3 + sigma**4 / 2)  # speed * (1 - smoothstep)
    along = (pushed + braked)[:, None] * u
    up = (lift * min_jerk(sigma))[:, None] * np.array([0.0, 0.0, 1.0])
    return home + (start - home) * approach + along + up


def flick_stroke(motion, theta: np.ndarray) -> tuple[float, float]:
    """Return when the push starts and ends (the release)."""
    t0 = stroke_start(motion)
    return t0, t0 + float(theta[2])


def travel(task, times: np.ndarray, points: np.ndarray) -> np.ndarray:
    """How far the object ended from where it was first seen, on the table (m)."""
    return np.array([np.linalg.norm(points[-1, :2] - points[0, :2])])


def travel_marker(task, goal: np.ndarray) -> np.ndarray:
    """Show the goal distance straight ahead of the object's start."""
    x, y = task.motion.object_start
    return np.array([x + float(goal[0]), y, 0.0005])


PLUGIN = TaskPlugin(
    name='icpi_flick',
    tasks_file=HERE / 'tasks.yaml',
    motions=(
        MotionPrimitive(
            'flick',
            flick_path,
            flick_stroke,
            touches_object=True,
            settings=('brake_time', 'lift'),
            theta_dim=3,
            source_functions=(min_jerk, stroke_start, flick_path),
        ),
    ),
    outcomes=(OutcomeExtractor('travel', travel, travel_marker, names=('distance',)),),
    datasets_dir=HERE / 'data',
)
