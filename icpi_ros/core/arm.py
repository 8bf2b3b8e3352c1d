# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The 4-joint arm: geometry, limits, forward and analytic inverse kinematics.

Joints: base_yaw (about z), then shoulder, elbow and wrist pitching in the arm's vertical
plane (about the link frames' y axis; a positive angle tips the next link downwards).
The tool's pitch in that plane is shoulder + elbow + wrist: pi/2 points the tool straight
down (striking tasks), 0 points it horizontally outwards (rope swing). Position (3) plus tool
pitch (1) fix all four joints, so the inverse kinematics is closed-form and smooth.
"""

from dataclasses import dataclass, field

import numpy as np

from icpi_ros.core.errors import IcpiError


class Unreachable(IcpiError, ValueError):
    """A tool pose outside the arm's workspace."""


@dataclass(frozen=True)
class ArmSpec:
    """Geometry and limits of the arm (metres, radians, seconds)."""

    joint_names: tuple[str, ...] = ('base_yaw', 'shoulder', 'elbow', 'wrist')
    shoulder_height: float = 0.30
    upper_arm: float = 0.35
    forearm: float = 0.35
    tool: float = 0.12  # wrist axis to the centre of the tool tip
    tip_radius: float = 0.02
    lower: tuple[float, ...] = (-1.3, -1.6, 0.0, -1.5)
    upper: tuple[float, ...] = (1.3, 1.2, 2.8, 2.6)
    max_velocity: tuple[float, ...] = (8.0, 10.0, 12.0, 14.0)
    # Slack kept from the joint limits by plans, so servo overshoot never hits a limit.
    limit_margin: float = 0.02
    _lower: np.ndarray = field(init=False, repr=False, compare=False)
    _upper: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, '_lower', np.array(self.lower))
        object.__setattr__(self, '_upper', np.array(self.upper))

    @property
    def dof(self) -> int:
        """Number of joints."""
        return len(self.joint_names)

    def forward(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return tool tip positions (..., 3) and tool pitches (...) for joints `q` (..., 4)."""
        q = np.asarray(q, dtype=float)
        yaw, a1, a2, a3 = np.moveaxis(q, -1, 0)
        b, c = a1 + a2, a1 + a2 + a3
        rho = self.upper_arm * np.cos(a1) + self.forearm * np.cos(b) + self.tool * np.cos(c)
        down = self.upper_arm * np.sin(a1) + self.forearm * np.sin(b) + self.tool * np.sin(c)
        tip = np.stack([rho * np.cos(yaw), rho * np.sin(yaw), self.shoulder_height - down], -1)
        return tip, c

    def inverse(self, tip: np.ndarray, pitch: float) -> np.ndarray:
        """Return joints (..., 4) putting the tool tip at `tip` (..., 3) with tool pitch `pitch`.

        Elbow-up solution. Raises:
            Unreachable: when a wrist point lies beyond the arm's reach.

        """
        tip = np.asarray(tip, dtype=float)
        x, y, z = np.moveaxis(tip, -1, 0)
        yaw = np.arctan2(y, x)
        rho = np.hypot(x, y) - self.tool * np.cos(pitch)
        down = self.shoulder_height - z - self.tool * np.sin(pitch)
        l1, l2 = self.upper_arm, self.forearm
        c2 = (rho * rho + down * down - l1 * l1 - l2 * l2) / (2.0 * l1 * l2)
        bad = np.flatnonzero(np.abs(np.atleast_1d(c2)) > 1.0)
        if bad.size:
            where = np.atleast_2d(tip)[bad[0]]
            raise Unreachable(f'tool tip {np.round(where, 3).tolist()} is out of reach')
        a2 = np.arccos(c2)
        a1 = np.arctan2(down, rho) - np.arctan2(l2 * np.sin(a2), l1 + l2 * np.cos(a2))
        return np.stack([yaw, a1, a2, pitch - a1 - a2], -1)

    def limit_violation(self, q: np.ndarray) -> str | None:
        """Describe the first joint of `q` (N x dof or dof) outside its limits, if any."""
        return limit_violation(self.joint_names, self._lower, self._upper, self.limit_margin, q)

    def velocity_violation(self, qd: np.ndarray) -> str | None:
        """Describe the first joint velocity of `qd` (N x dof) above its limit, if any."""
        return velocity_violation(self.joint_names, self.max_velocity, qd)


def limit_violation(names, lower, upper, margin: float, q: np.ndarray) -> str | None:
    """Describe the first joint of `q` (N x dof or dof) outside [lower, upper] - margin."""
    q = np.atleast_2d(q)
    lo, hi = np.asarray(lower) + margin, np.asarray(upper) - margin
    for j, name in enumerate(names):
        bad = np.flatnonzero((q[:, j] < lo[j]) | (q[:, j] > hi[j]))
        if bad.size:
            return f'joint {name} = {q[bad[0], j]:.3f} rad outside [{lo[j]:.3f}, {hi[j]:.3f}]'
    return None


def velocity_violation(names, max_velocity, qd: np.ndarray) -> str | None:
    """Describe the first joint velocity of `qd` (N x dof) above its limit, if any."""
    qd = np.atleast_2d(qd)
    for j, name in enumerate(names):
        peak = float(np.max(np.abs(qd[:, j])))
        if peak > max_velocity[j]:
            return f'joint {name} speed {peak:.2f} rad/s over {max_velocity[j]:.2f}'
    return None
