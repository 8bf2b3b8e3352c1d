# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The MuJoCo simulator of one task, and the fast trial path used by datasets and benchmarks."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import mujoco
import numpy as np

from icpi_ros.core.arm import ArmSpec
from icpi_ros.core.builtin_plugin import AXIS
from icpi_ros.core.motion import JointPlan, plan_motion
from icpi_ros.core.scoring import Score
from icpi_ros.core.sim.scenes import (
    CAMERA_HEIGHT,
    CAMERA_WIDTH,
    markers_xml,
    scene_xml,
    sim_object_of,
)
from icpi_ros.core.tasks import TaskSpec
from icpi_ros.core.vision.calibration import MarkerLayout
from icpi_ros.core.vision.camera import CameraModel

# MuJoCo cameras look along -z with y up; the optical frame looks along +z with y down.
_MJ_TO_OPTICAL = np.diag([1.0, -1.0, -1.0])


FRAME_RATE_HZ = 30.0


@dataclass
class TrialRecord:
    """One simulated trial, scored on the object's ground-truth trajectory."""

    task: str
    theta: np.ndarray  # executed (clipped) parameters
    theta_clipped: bool
    goal: np.ndarray
    outcome: np.ndarray
    error: np.ndarray  # outcome - goal
    cost: float
    times: np.ndarray  # (F,) s, frame times
    object_positions: np.ndarray  # (F, 3) table frame, ground truth
    tip_positions: np.ndarray  # (F, 3) tool tip, ground truth
    planned_tip: np.ndarray  # (F, 3) tool tip the plan asked for at the same times
    wall_s: float
    seed: int
    frames: list[np.ndarray] = field(default_factory=list)  # RGB images when rendered
    # A closed-loop trial: the episode's distance, effort, safety events, failure, deadlines.
    closed_loop: dict = field(default_factory=dict)

    def score(self) -> Score:
        """Return the outcome, error and cost (what the improvement loop takes of a trial)."""
        return Score(self.outcome, self.error, self.cost)

    def as_dict(self) -> dict:
        """JSON-friendly summary (without trajectories and frames)."""
        extra = {'closed_loop': self.closed_loop} if self.closed_loop else {}
        return {
            'task': self.task,
            'theta': self.theta.tolist(),
            'theta_clipped': self.theta_clipped,
            'goal': self.goal.tolist(),
            'outcome': self.outcome.tolist(),
            'error': self.error.tolist(),
            'cost': self.cost,
            'seed': self.seed,
            'wall_s': self.wall_s,
            **extra,
        }


class Simulator:
    """MuJoCo model and state of one task's scene."""

    def __init__(
        self,
        task: TaskSpec,
        arm: ArmSpec | None = None,
        markers: MarkerLayout | None = None,
    ):
        self.task = task
        self.arm = arm or ArmSpec()
        self.kind = sim_object_of(task)
        assets, bodies, files = markers_xml(markers)
        xml = scene_xml(task, self.arm, markers=bodies, assets=assets)
        self.model = mujoco.MjModel.from_xml_string(xml, files)
        self.data = mujoco.MjData(self.model)
        m = self.model
        joints = [m.joint(n) for n in self.arm.joint_names]
        self.arm_qpos = np.array([m.jnt_qposadr[j.id] for j in joints])
        self.arm_dof = np.array([m.jnt_dofadr[j.id] for j in joints])
        self.pos_act = np.array([m.actuator(f'p_{n}').id for n in self.arm.joint_names])
        self.vel_act = np.array([m.actuator(f'v_{n}').id for n in self.arm.joint_names])
        self.object_site = m.site('object').id
        self.tip_site = m.site('tip').id
        self.goal_mocap = m.body_mocapid[m.body('goal').id]
        # The axes a tracking check compares on: the outcome's, or all for a non-positional one.
        named = all(n in AXIS for n in task.outcome_names)
        self.outcome_axes = [AXIS[n] for n in task.outcome_names] if named else [0, 1, 2]
        self.camera = self.kind.camera
        self._renderer: mujoco.Renderer | None = None
        self._object_qpos = self._object_dof = None
        if not self.kind.on_tool:
            free = m.joint(task.sim_object)
            self._object_qpos = m.jnt_qposadr[free.id]
            self._object_dof = m.jnt_dofadr[free.id]

    @property
    def timestep(self) -> float:
        """Physics step, s."""
        return float(self.model.opt.timestep)

    def reset(self, goal: np.ndarray, seed: int = 0, start_noise_m: float = 0.0) -> None:
        """Arm at home, object at rest at its start (jittered by `seed` if asked), goal shown."""
        mujoco.mj_resetData(self.model, self.data)
        home = self.arm.inverse(np.array(self.task.motion.home), self.task.motion.tool_pitch)
        self.data.qpos[self.arm_qpos] = home
        self.data.ctrl[self.pos_act] = home
        self.data.ctrl[self.vel_act] = 0.0
        if self._object_qpos is not None and start_noise_m > 0:
            jitter = np.random.default_rng(seed).normal(0.0, start_noise_m, 2)
            self.data.qpos[self._object_qpos : self._object_qpos + 2] += jitter
        marker = self.task.goal_marker(goal)
        # A goal that is no place (a plugin's outcome) is shown below the table.
        self.data.mocap_pos[self.goal_mocap] = marker if marker is not None else (0.0, 0.0, -1.0)
        mujoco.mj_forward(self.model, self.data)

    def object_position(self) -> np.ndarray:
        """Ground-truth position of the tracked point (puck top, ball centre, rope tip)."""
        return self.data.site_xpos[self.object_site].copy()

    def tip_position(self) -> np.ndarray:
        """Ground-truth tool tip position."""
        return self.data.site_xpos[self.tip_site].copy()

    def joint_positions(self) -> np.ndarray:
        """Arm joint positions, rad."""
        return self.data.qpos[self.arm_qpos].copy()

    def joint_velocities(self) -> np.ndarray:
        """Arm joint velocities, rad/s."""
        return self.data.qvel[self.arm_dof].copy()

    def planar_state(self) -> dict[str, list[float]]:
        """Ground truth on the table: object and tool tip [x, y] and velocities [vx, vy]."""
        tip_velocity = np.zeros(6)  # angular, then linear, in the world frame
        mujoco.mj_objectVelocity(
            self.model, self.data, mujoco.mjtObj.mjOBJ_SITE, self.tip_site, tip_velocity, 0
        )
        dof = self._object_dof
        return {
            'puck': [float(v) for v in self.object_position()[:2]],
            'puck_vel': [float(v) for v in self.data.qvel[dof : dof + 2]],
            'tool': [float(v) for v in self.tip_position()[:2]],
            'tool_vel': [float(v) for v in tip_velocity[3:5]],
        }

    def drive_tip(self, start: np.ndarray, velocity: np.ndarray, duration: float) -> np.ndarray:
        """Move the tool tip's target from `start` [x, y] at `velocity` [vx, vy] for `duration`.

        The target is integrated every physics step at the task's contact height and tool
        pitch, turned into joint targets by the arm's inverse kinematics (velocities by
        central differences, as `plan_motion` does) and handed to the servos.

        Returns:
            The target [x, y] at the end.

        Raises:
            Unreachable: a target out of the arm's reach (the workspace box keeps it in).
        """
        dt = self.timestep
        n = max(1, int(round(duration / dt)))
        velocity = np.asarray(velocity, dtype=float)
        xy = np.asarray(start, dtype=float) + np.arange(1, n + 1)[:, None] * dt * velocity
        motion = self.task.motion
        tip = np.column_stack([xy, np.full(n, motion.contact_height)])
        step = np.array([*velocity, 0.0]) * 1e-4
        q = self.arm.inverse(tip, motion.tool_pitch)
        qd = (
            self.arm.inverse(tip + step, motion.tool_pitch)
            - self.arm.inverse(tip - step, motion.tool_pitch)
        ) / 2e-4
        for k in range(n):
            self.data.ctrl[self.pos_act] = q[k]
            self.data.ctrl[self.vel_act] = qd[k]
            mujoco.mj_step(self.model, self.data)
        return xy[-1].copy()

    def set_targets(self, q: np.ndarray, qd: np.ndarray) -> None:
        """Servo targets: position and velocity (feed-forward) per arm joint."""
        self.data.ctrl[self.pos_act] = q
        self.data.ctrl[self.vel_act] = qd

    def step(self, n: int = 1) -> None:
        """Advance physics by `n` steps."""
        mujoco.mj_step(self.model, self.data, nstep=n)

    def render(self) -> np.ndarray:
        """RGB image (H, W, 3) from the task's camera; needs MUJOCO_GL=egl or osmesa."""
        if self._renderer is None:
            self._renderer = mujoco.Renderer(self.model, CAMERA_HEIGHT, CAMERA_WIDTH)
        self._renderer.update_scene(self.data, self.camera)
        return self._renderer.render()

    def camera_model(self) -> CameraModel:
        """Exact intrinsics and extrinsics of the task's camera (pixel centres at integers)."""
        cam = self.model.camera(self.camera).id
        fovy = np.radians(float(self.model.cam_fovy[cam]))
        f = 0.5 * CAMERA_HEIGHT / np.tan(fovy / 2)
        k = np.array([[f, 0, CAMERA_WIDTH / 2 - 0.5], [0, f, CAMERA_HEIGHT / 2 - 0.5], [0, 0, 1]])
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_camlight(self.model, self.data)
        rotation = self.data.cam_xmat[cam].reshape(3, 3) @ _MJ_TO_OPTICAL
        return CameraModel(
            CAMERA_WIDTH, CAMERA_HEIGHT, k, np.zeros(5), rotation, self.data.cam_xpos[cam].copy()
        )

    def marker_plane(self) -> tuple[np.ndarray, float]:
        """Plane (normal, offset) the visible marker moves in, for the tracker."""
        *normal, offset = self.kind.marker_plane
        return np.array(normal, dtype=float), float(offset)

    def close(self) -> None:
        """Release the renderer's GL context (before interpreter exit, to keep it quiet)."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def run_plan(
        self,
        plan: JointPlan,
        duration: float,
        on_frame: Callable[[float], None] | None = None,
        frame_rate_hz: float = FRAME_RATE_HZ,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Execute `plan` for `duration` s; return frame times, object and tip positions."""
        dt = self.timestep
        n_steps = int(round(duration / dt))
        step_times = np.arange(n_steps) * dt
        q_targets, qd_targets = plan.sample(step_times)
        frame_every = max(1, int(round(1.0 / (frame_rate_hz * dt))))
        times, objects, tips = [], [], []
        for k in range(n_steps + 1):
            if k % frame_every == 0 or k == n_steps:
                t = k * dt
                times.append(t)
                objects.append(self.object_position())
                tips.append(self.tip_position())
                if on_frame is not None:
                    on_frame(t)
            if k == n_steps:
                break
            self.data.ctrl[self.pos_act] = q_targets[k]
            self.data.ctrl[self.vel_act] = qd_targets[k]
            mujoco.mj_step(self.model, self.data)
        return np.array(times), np.array(objects), np.array(tips)


class TrialRunner:
    """Runs trials of one task on the fast path (ground truth), reusing one simulator."""

    def __init__(self, task: TaskSpec, arm: ArmSpec | None = None, start_noise_m: float = 0.0):
        self.task = task
        self.sim = Simulator(task, arm)
        self.start_noise_m = start_noise_m

    def run(
        self,
        theta: np.ndarray,
        goal: np.ndarray | None = None,
        seed: int = 0,
        render: bool = False,
    ) -> TrialRecord:
        """Clip theta, plan, check, simulate and score one trial.

        A closed-loop task (motion kind push) runs one episode of its reference controller
        with the gains theta (`closed_loop.rollout`), rendered at the control rate if asked.

        Raises:
            PlanRejected: the clipped theta still gives a plan that violates the arm's limits.

        """
        start = time.perf_counter()
        task = self.task
        requested = task.check_theta(theta)
        theta_exec, clipped = task.clip(requested)
        goal_vec = task.check_goal(task.default_goal if goal is None else goal)
        if task.closed_loop is not None:
            return self._run_closed_loop(theta_exec, clipped, goal_vec, seed, render, start)
        plan = plan_motion(task.motion, self.sim.arm, theta_exec, task.trial_duration_s)
        self.sim.reset(goal_vec, seed, self.start_noise_m)
        frames: list[np.ndarray] = []
        on_frame = (lambda t: frames.append(self.sim.render())) if render else None
        times, objects, tips = self.sim.run_plan(plan, task.trial_duration_s, on_frame)
        outcome = task.outcome_of(times, objects)
        error = outcome - goal_vec
        planned = np.stack([np.interp(times, plan.times, plan.tip[:, i]) for i in range(3)], -1)
        return TrialRecord(
            task=task.name,
            theta=theta_exec,
            theta_clipped=clipped,
            goal=goal_vec,
            outcome=outcome,
            error=error,
            cost=float(np.linalg.norm(error)),
            times=times,
            object_positions=objects,
            tip_positions=tips,
            planned_tip=planned,
            wall_s=time.perf_counter() - start,
            seed=seed,
            frames=frames,
        )

    def _run_closed_loop(
        self,
        theta: np.ndarray,
        clipped: bool,
        goal: np.ndarray,
        seed: int,
        render: bool,
        start: float,
    ) -> TrialRecord:
        from icpi_ros.core.closed_loop import rollout
        from icpi_ros.core.controllers import reference_controller

        frames: list[np.ndarray] = []
        on_step = (lambda t: frames.append(self.sim.render())) if render else None
        policy = reference_controller(self.task, theta)
        episode = rollout(self.task, policy, goal, seed, self.sim, on_step)
        outcome = np.array(episode.outcome)
        height = self.task.motion.contact_height
        summary = episode.as_dict()
        return TrialRecord(
            task=self.task.name,
            theta=theta,
            theta_clipped=clipped,
            goal=goal,
            outcome=outcome,
            error=outcome - goal,
            cost=episode.cost,
            times=np.array(episode.times),
            object_positions=np.array(episode.object_path),
            tip_positions=np.array(episode.tool_path),
            planned_tip=np.array([[x, y, height] for x, y in episode.target_path]),
            wall_s=time.perf_counter() - start,
            seed=seed,
            frames=frames,
            closed_loop={
                k: summary[k]
                for k in ('distance', 'effort', 'safety_events', 'failed', 'missed_deadlines')
            },
        )

    def close(self) -> None:
        """Release rendering resources."""
        self.sim.close()


def run_trial(
    task: TaskSpec,
    theta: np.ndarray,
    goal: np.ndarray | None = None,
    seed: int = 0,
    render: bool = False,
) -> TrialRecord:
    """One trial on a fresh simulator (use TrialRunner for many trials of one task)."""
    runner = TrialRunner(task)
    try:
        return runner.run(theta, goal, seed, render)
    finally:
        runner.close()
