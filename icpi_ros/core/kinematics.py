# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Kinematics of a real arm from its model file (URDF or MJCF), with MuJoCo as the engine.

`ModelKinematics` offers what motion planning needs from an arm (`ArmSpec` is the built-in
one): joint names, forward kinematics, inverse kinematics for a tool-tip position and tool
pitch, and limit checks. MuJoCo loads both URDF and MJCF; joint limits come from the model,
speed limits from the caller (URDF velocity limits are not kept by MuJoCo). The inverse is
numerical (damped least squares, warm-started along the path), for arms with four or more
joints; the task gives 4 constraints (position + pitch) and extra joints stay near the
previous point's solution.
"""

from collections.abc import Sequence
from pathlib import Path

import mujoco
import numpy as np

from icpi_ros.core.arm import Unreachable, limit_violation, velocity_violation
from icpi_ros.core.validation import InvalidInput

IK_TOLERANCE = 1e-6  # m and rad
IK_MAX_ITERATIONS = 100
IK_DAMPING = 1e-4
MOVING_JOINTS = (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))


class ModelKinematics:
    """An arm loaded from a URDF or MJCF file; the tool tip is a site, body or geom."""

    def __init__(
        self,
        path: Path | str,
        joint_names: Sequence[str],
        tip_frame: str = 'tip',
        max_velocity: float | Sequence[float] = 3.0,
        home: Sequence[float] | None = None,
        limit_margin: float = 0.02,
    ) -> None:
        path = Path(path)
        if not path.is_file():
            raise InvalidInput(f'kinematics file {path} does not exist')
        try:
            self.model = mujoco.MjModel.from_xml_path(str(path))
        except ValueError as exc:
            raise InvalidInput(f'kinematics file {path}: MuJoCo cannot load it: {exc}') from None
        self.data = mujoco.MjData(self.model)
        self.joint_names = tuple(joint_names)
        if len(self.joint_names) < 4:
            raise InvalidInput('joint_names: an arm needs at least 4 joints (position + pitch)')
        self._qpos, lower, upper = [], [], []
        for name in self.joint_names:
            j = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, name)
            if j < 0:
                known = [self.model.joint(i).name for i in range(self.model.njnt)]
                raise InvalidInput(f'joint {name!r} is not in {path.name}; it has {known}')
            if int(self.model.jnt_type[j]) not in MOVING_JOINTS:
                raise InvalidInput(f'joint {name!r} must be a revolute or prismatic joint')
            self._qpos.append(int(self.model.jnt_qposadr[j]))
            limited = bool(self.model.jnt_limited[j])
            lo, hi = self.model.jnt_range[j] if limited else (-np.inf, np.inf)
            lower.append(lo)
            upper.append(hi)
        self.lower, self.upper = np.array(lower), np.array(upper)
        self.limit_margin = limit_margin
        speeds = np.broadcast_to(np.asarray(max_velocity, dtype=float), (self.dof,))
        if np.any(speeds <= 0) or not np.all(np.isfinite(speeds)):
            raise InvalidInput('max joint velocity must be positive and finite')
        self.max_velocity = tuple(float(v) for v in speeds)
        self._tip = self._find_frame(tip_frame, path)
        self.home = np.zeros(self.dof) if home is None else np.asarray(home, dtype=float)
        if self.home.shape != (self.dof,):
            raise InvalidInput(f'home: expected {self.dof} joint values')

    @property
    def dof(self) -> int:
        """Number of joints used."""
        return len(self.joint_names)

    def _find_frame(self, name: str, path: Path) -> tuple[str, int]:
        for kind, obj in (
            ('site', mujoco.mjtObj.mjOBJ_SITE),
            ('body', mujoco.mjtObj.mjOBJ_BODY),
            ('geom', mujoco.mjtObj.mjOBJ_GEOM),
        ):
            i = mujoco.mj_name2id(self.model, obj, name)
            if i >= 0:
                return kind, i
        raise InvalidInput(f'tip frame {name!r}: no site, body or geom of that name in {path}')

    def _pose(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.data.qpos[self._qpos] = q
        mujoco.mj_kinematics(self.model, self.data)
        kind, i = self._tip
        if kind == 'site':
            return self.data.site_xpos[i].copy(), self.data.site_xmat[i].reshape(3, 3)
        if kind == 'body':
            return self.data.xpos[i].copy(), self.data.xmat[i].reshape(3, 3)
        return self.data.geom_xpos[i].copy(), self.data.geom_xmat[i].reshape(3, 3)

    def _tip_and_pitch(self, q: np.ndarray) -> np.ndarray:
        position, rotation = self._pose(q)
        # The tool points along the tip frame's x axis; its pitch is measured in the vertical
        # plane through the base's z axis and the tip: 0 pointing outwards, pi/2 down.
        axis = rotation[:, 0]
        radial = position[:2] / max(np.hypot(position[0], position[1]), 1e-9)
        return np.array([*position, np.arctan2(-axis[2], axis[:2] @ radial)])

    def forward(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return tool tip positions (..., 3) and tool pitches (...) for joints `q`."""
        q = np.asarray(q, dtype=float)
        flat = q.reshape(-1, self.dof)
        out = np.array([self._tip_and_pitch(row) for row in flat])
        return out[:, :3].reshape(*q.shape[:-1], 3), out[:, 3].reshape(q.shape[:-1])

    def _solve(self, target: np.ndarray, q: np.ndarray) -> np.ndarray:
        eps = 1e-6
        for _ in range(IK_MAX_ITERATIONS):
            residual = self._tip_and_pitch(q) - target
            if np.max(np.abs(residual)) < IK_TOLERANCE:
                return q
            jac = np.empty((4, self.dof))
            for j in range(self.dof):
                step = np.zeros(self.dof)
                step[j] = eps
                jac[:, j] = (self._tip_and_pitch(q + step) - self._tip_and_pitch(q - step)) / (
                    2 * eps
                )
            lhs = jac @ jac.T + IK_DAMPING * np.eye(4)
            # Projected onto the joint limits: the solution must lie inside them anyway.
            q = np.clip(q - jac.T @ np.linalg.solve(lhs, residual), self.lower, self.upper)
        raise Unreachable(
            f'tool tip {np.round(target[:3], 3).tolist()} with pitch {target[3]:.3f} rad is '
            f'out of reach (inverse kinematics did not converge)'
        )

    def inverse(self, tip: np.ndarray, pitch: float) -> np.ndarray:
        """Return joints (..., dof) for tool tips (..., 3) at tool pitch `pitch`.

        Points are solved in order, each from the previous solution (the first from `home`),
        so a path gives a continuous joint path. Raises Unreachable.
        """
        tip = np.asarray(tip, dtype=float)
        flat = tip.reshape(-1, 3)
        q = self.home.copy()
        out = np.empty((len(flat), self.dof))
        for k, point in enumerate(flat):
            q = self._solve(np.array([*point, pitch]), q)
            out[k] = q
        return out.reshape(*tip.shape[:-1], self.dof)

    def limit_violation(self, q: np.ndarray) -> str | None:
        """Describe the first joint of `q` (N x dof or dof) outside its limits, if any."""
        return limit_violation(self.joint_names, self.lower, self.upper, self.limit_margin, q)

    def velocity_violation(self, qd: np.ndarray) -> str | None:
        """Describe the first joint velocity of `qd` (N x dof) above its limit, if any."""
        return velocity_violation(self.joint_names, self.max_velocity, qd)
