# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Python policies of the closed-loop push task (`closed_loop.ClosedLoopPolicy`).

`ReferenceController` is the task's parametric policy: its three gains are theta, so ICPI,
the KNN baselines, BO and random shooting tune it like any other task's parameters.
`ProportionalController` is the baseline "an engineer writes it in ten minutes".
Both push from behind: the tool aims at the point `contact_offset` behind the puck on the
line from the goal through the puck, and pushes along that line once it is there (the
pusher-puck contact is frictionless, so the puck moves along the contact normal).
"""

from collections.abc import Sequence

import numpy as np

from icpi_ros.core.tasks import TaskSpec

# The reference controller pushes at full gain once the tool is this close to the point
# behind the puck (m), and not at all from twice as far.
ALIGN_M = 0.015
# ... and while the tool is off the line by ALIGN_M or more it stays this much further back
# (m), so that it comes to the puck from behind instead of hitting its side.
STANDOFF_M = 0.03


def _push_frame(obs: dict, contact: float) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Return the push direction and its normal, the puck's distance to the goal, the offset.

    The offset is the point `contact` behind the puck on the line minus the tool.
    """
    puck, tool, goal = (np.asarray(obs[k], dtype=float) for k in ('puck', 'tool', 'goal'))
    to_goal = goal - puck
    distance = float(np.linalg.norm(to_goal))
    along = to_goal / distance if distance > 1e-9 else np.array([1.0, 0.0])
    normal = np.array([-along[1], along[0]])
    return along, normal, distance, puck - contact * along - tool


class ReferenceController:
    """Gains theta = (approach_gain, push_gain, lateral_gain), all 1/s.

    Command = approach_gain x (the along-line part of the tool's offset from the point behind
    the puck) + lateral_gain x (its across-line part) + w x push_gain x (the puck's distance
    to the goal) along the line, where w goes from 0 to 1 as that offset shrinks from
    2 ALIGN_M to ALIGN_M. The push slows down as the puck nears the goal; too high a push
    gain brakes faster than the puck's friction and it slides past, too low and it is late.
    """

    def __init__(self, theta: Sequence[float], contact_offset: float) -> None:
        self.approach_gain, self.push_gain, self.lateral_gain = (float(v) for v in theta)
        self.contact = contact_offset

    def reset(self, goal: list[float]) -> None:
        """Nothing to reset: the controller is a function of the observation."""

    def act(self, obs: dict) -> list[float]:
        """Return the velocity command [vx, vy] for one observation."""
        along, normal, distance, offset = _push_frame(obs, self.contact)
        lateral = float(offset @ normal)
        back = STANDOFF_M * min(1.0, abs(lateral) / ALIGN_M)
        weight = float(np.clip(2.0 - np.linalg.norm(offset) / ALIGN_M, 0.0, 1.0))
        command = (
            self.approach_gain * (float(offset @ along) - back) + weight * self.push_gain * distance
        ) * along + self.lateral_gain * lateral * normal
        return [float(v) for v in command]


class ProportionalController:
    """Go behind the puck, then push it with a speed proportional to its distance to the goal.

    One gain, no lateral correction while pushing, a hard switch at 1 cm from the point
    behind the puck.
    """

    def __init__(self, contact_offset: float, gain: float = 2.0) -> None:
        self.contact = contact_offset
        self.gain = gain

    def reset(self, goal: list[float]) -> None:
        """Nothing to reset."""

    def act(self, obs: dict) -> list[float]:
        """Return the velocity command [vx, vy] for one observation."""
        along, _, distance, offset = _push_frame(obs, self.contact)
        if np.linalg.norm(offset) > 0.01:
            return [float(v) for v in self.gain * offset]
        return [float(v) for v in self.gain * distance * along]


def reference_controller(task: TaskSpec, theta: Sequence[float]) -> ReferenceController:
    """Return the reference controller of a push task with gains `theta`.

    Args:
        task: the push task (its contact offset: puck radius + tip radius + 0.5 mm).
        theta: the gains, as executed (the caller clips them to the task's bounds).

    Returns:
        The controller.
    """
    return ReferenceController(task.check_theta(theta), task.motion.contact_offset)


def proportional_controller(task: TaskSpec, gain: float = 2.0) -> ProportionalController:
    """Return the hand-written proportional controller of a push task."""
    return ProportionalController(task.motion.contact_offset, gain)
