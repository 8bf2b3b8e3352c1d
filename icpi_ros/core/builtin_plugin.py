# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The built-in plugin `icpi_ros`: config/tasks.yaml with its motion and outcome kinds.

Motions: `strike` (theta = angle, distance, time: a straight minimum-jerk stroke through the
object's start position in direction `angle`), `swing` (theta = reach, move_time, lift: the
tool moves out by `reach` and up by `lift`), both after a minimum-jerk approach from home and
a pause; `push` (closed loop: core/closed_loop.py). Outcome: `final_position`, where the
object ends on the named axes (x, y, z). Costs: `euclidean` (distance to the goal) and
`euclidean_effort` (plus the closed-loop effort term): core/scoring.py. Objects: `puck`,
`ball`, `rope` (their MJCF: core/sim/scenes.py).
"""

from dataclasses import dataclass

import numpy as np

from icpi_ros.core.paths import config_file, data_dir
from icpi_ros.core.scoring import euclidean_cost, euclidean_effort_cost
from icpi_ros.core.task_plugins import (
    BUILTIN,
    CostFunction,
    MotionPrimitive,
    OutcomeExtractor,
    SimObject,
    TaskPlugin,
)


@dataclass(frozen=True)
class ObjectSpec:
    """Physical constants of the simulated objects."""

    puck_radius: float = 0.04
    puck_height: float = 0.04
    puck_mass: float = 0.12
    puck_friction: float = 0.12
    ball_radius: float = 0.03
    ball_mass: float = 0.06
    ball_friction: float = 0.6
    ball_rolling_friction: float = 0.003
    rope_segments: int = 15
    rope_segment_length: float = 0.02
    rope_radius: float = 0.006
    rope_damping: float = 0.0004
    marker_colour: tuple[float, float, float] = (0.9, 0.05, 0.05)


# The built-in objects' constants (scenes.py's MJCF and the marker planes below).
OBJECTS = ObjectSpec()
AXIS = {'x': 0, 'y': 1, 'z': 2}
# Height of a goal marker shown on the table (a goal with no z).
TABLE_MARKER_Z = 0.0005


def min_jerk(tau: np.ndarray) -> np.ndarray:
    """Minimum-jerk progress in [0, 1] for normalised time tau (clipped to [0, 1])."""
    tau = np.clip(tau, 0.0, 1.0)
    return tau**3 * (10.0 - 15.0 * tau + 6.0 * tau * tau)


def straight_stroke(motion, start: np.ndarray, end: np.ndarray, duration: float, t) -> np.ndarray:
    """Approach home -> `start` (minimum jerk), pause, stroke `start` -> `end` in `duration`.

    Args:
        motion: the task's MotionConfig (home, approach_time, pause).
        start: where the stroke starts (table frame).
        end: where it ends.
        duration: the stroke's time (s).
        t: times (s from the trial's start).

    Returns:
        The tool tip's points (len(t), 3).
    """
    home = np.array(motion.home)
    t = np.asarray(t, dtype=float)[:, None]
    approach = min_jerk(t / motion.approach_time) if motion.approach_time > 0 else 1.0
    stroke = min_jerk((t - stroke_start(motion)) / duration)
    return home + (start - home) * approach + (end - start) * stroke


def stroke_start(motion) -> float:
    """When a stroke that follows the approach and the pause starts (s)."""
    return motion.approach_time + motion.pause


def _strike_ends(motion, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    angle, distance, _ = theta
    u = np.array([np.cos(angle), np.sin(angle), 0.0])
    start = np.array([*motion.object_start, motion.contact_height]) - motion.contact_offset * u
    return start, start + distance * u


def _strike_path(motion, theta: np.ndarray, t) -> np.ndarray:
    start, end = _strike_ends(motion, theta)
    return straight_stroke(motion, start, end, float(theta[2]), t)


def _swing_path(motion, theta: np.ndarray, t) -> np.ndarray:
    reach, duration, lift = theta
    home = np.array(motion.home)
    return straight_stroke(motion, home, home + np.array([reach, 0.0, lift]), float(duration), t)


def _stroke_of(duration_index: int):
    def stroke(motion, theta: np.ndarray) -> tuple[float, float]:
        t0 = stroke_start(motion)
        return t0, t0 + float(theta[duration_index])

    return stroke


_STROKE_SOURCE = (min_jerk, stroke_start, straight_stroke)
STRIKE = MotionPrimitive(
    'strike',
    _strike_path,
    _stroke_of(2),
    True,
    (),
    3,
    (*_STROKE_SOURCE, _strike_ends, _strike_path),
)
SWING = MotionPrimitive(
    'swing', _swing_path, _stroke_of(1), False, (), 3, (*_STROKE_SOURCE, _swing_path)
)
PUSH = MotionPrimitive('push', None, None, True)


def _final_position(task, times: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.asarray(points[-1], dtype=float)[[AXIS[name] for name in task.outcome_names]]


def _marker(task, goal: np.ndarray) -> np.ndarray:
    marker = np.array([0.0, 0.0, TABLE_MARKER_Z])
    for name, value in zip(task.outcome_names, goal, strict=True):
        marker[AXIS[name]] = value
    return marker


FINAL_POSITION = OutcomeExtractor('final_position', _final_position, _marker, tuple(AXIS))


def _body(builder: str):
    def body_xml(task, context) -> str:
        from icpi_ros.core.sim import scenes  # MuJoCo-side code, imported when a scene is built

        return getattr(scenes, builder)(task, context)

    body_xml.__name__ = builder
    return body_xml


def _objects() -> tuple[SimObject, ...]:
    """Return the built-in objects, sized by OBJECTS."""
    puck_top = OBJECTS.puck_height + 0.002  # the marker disc on the cap
    ball_centre = OBJECTS.ball_radius  # the whole ball is the marker
    return (
        SimObject('puck', _body('puck_body'), (0.0, 0.0, 1.0, puck_top)),
        SimObject('ball', _body('ball_body'), (0.0, 0.0, 1.0, ball_centre)),
        # The rope hangs from the tool and swings in the vertical x-z plane.
        SimObject('rope', _body('rope_body'), (0.0, 1.0, 0.0, 0.0), on_tool=True, camera='side'),
    )


PLUGIN = TaskPlugin(
    name=BUILTIN,
    tasks_file=config_file('tasks.yaml'),
    motions=(STRIKE, SWING, PUSH),
    outcomes=(FINAL_POSITION,),
    costs=(
        CostFunction('euclidean', euclidean_cost),
        CostFunction('euclidean_effort', euclidean_effort_cost, uses_effort=True),
    ),
    objects=_objects(),
    datasets_dir=data_dir(),
)
