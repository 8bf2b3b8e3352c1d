# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The trial executor's parameters, declared in one place: `declare_params(node)`.

`dry_run` and `publish_plan` may be set at run time: TrialExecutorParams holds their start-up
values; the node keeps the current ones (`TrialExecutor._on_parameters_set`) and each trial
reads them once, when it starts. Every other parameter is read-only.
"""

from dataclasses import dataclass

from rclpy.node import Node

from icpi_ros.core.arm import ArmSpec
from icpi_ros.core.kinematics import ModelKinematics
from icpi_ros.core.safety import SafetyLimits
from icpi_ros.nodes.runtime import declare

RESET_MODES = ('service', 'operator', 'none')
# Parameters that may change at run time; each trial reads them once, when it starts.
RUNTIME_FLAGS = ('dry_run', 'publish_plan')


@dataclass(frozen=True)
class ArmParams:
    """Which arm the executor plans for: the built-in one, or a URDF / MJCF file."""

    kinematics_file: str
    joint_names: tuple[str, ...]
    tip_frame: str
    home_joints: tuple[float, ...]  # (0.0,): zeros
    joint_speed_limits: tuple[float, ...]  # (0.0,): the built-in values / 3.0 rad/s

    @property
    def source(self) -> str:
        """Where the arm comes from, for the log: 'built-in' or the file."""
        return self.kinematics_file or 'built-in'

    def build(self) -> ArmSpec | ModelKinematics:
        """Return the arm (kinematics, limits) these parameters describe.

        Raises:
            InvalidInput: a kinematics file that cannot be loaded or does not fit the names.

        """
        if not self.kinematics_file:
            return ArmSpec(joint_names=self.joint_names)
        speed = self.joint_speed_limits
        return ModelKinematics(
            self.kinematics_file,
            self.joint_names,
            self.tip_frame,
            speed if any(speed) else 3.0,
            home=self.home_joints if any(self.home_joints) else None,
        )


@dataclass(frozen=True)
class TrialExecutorParams:
    """Every trial_executor parameter, as declared at start-up."""

    tasks_file: str
    controller_topic: str
    reset_service: str
    tracker_service: str
    start_delay_s: float
    trial_timeout_s: float
    service_timeout_s: float
    arm: ArmParams
    limits: SafetyLimits
    dry_run: bool  # start-up value; settable at run time
    publish_plan: bool  # start-up value; settable at run time
    require_enable: bool
    reset_mode: str
    reset_timeout_s: float
    start_tolerance_rad: float
    joint_states_topic: str
    tracked_point_topic: str
    control_lead_s: float
    observation_max_age_s: float


def declare_params(node: Node) -> TrialExecutorParams:
    """Declare the trial executor's parameters on `node` and return their values.

    Raises:
        InvalidInput: a value outside its choices, or cell limits that do not make sense.

    """
    return TrialExecutorParams(
        tasks_file=declare(
            node, 'tasks_file', '', 'Task definitions; empty: package config.', read_only=True
        ),
        controller_topic=declare(
            node,
            'controller_topic',
            '/arm_controller/joint_trajectory',
            'JointTrajectory topic of the arm controller (joint_trajectory_controller).',
            read_only=True,
        ),
        reset_service=declare(
            node,
            'reset_service',
            '/sim_bridge/reset',
            'ResetScene service called before every trial; empty: no reset.',
            read_only=True,
        ),
        tracker_service=declare(
            node,
            'tracker_service',
            '/trajectory_tracker/get_trajectory',
            'GetTrajectory service of the tracker.',
            read_only=True,
        ),
        start_delay_s=declare(
            node,
            'start_delay_s',
            0.3,
            'The trajectory starts this long after it is sent (robot clock, s).',
            read_only=True,
            float_range=(0.05, 5.0),
        ),
        trial_timeout_s=declare(
            node,
            'trial_timeout_s',
            60.0,
            'Wall-clock limit of one trial, from goal to result (s).',
            read_only=True,
            float_range=(1.0, 3600.0),
        ),
        service_timeout_s=declare(
            node,
            'service_timeout_s',
            10.0,
            'Wall-clock limit of one service call (s).',
            read_only=True,
            float_range=(0.1, 600.0),
        ),
        arm=_declare_arm(node),
        limits=_declare_limits(node),
        dry_run=declare(
            node,
            'dry_run',
            False,
            'Plan, check and log trials; send nothing to the arm. Settable at run time: '
            'applies from the next trial.',
        ),
        publish_plan=declare(
            node,
            'publish_plan',
            False,
            'Also publish each planned trajectory on ~/planned_trajectory (always in dry run). '
            'Settable at run time: applies from the next trial.',
        ),
        require_enable=declare(
            node,
            'require_enable',
            False,
            'Refuse trials until ~/enable is called (true on a real robot); ~/abort disables.',
            read_only=True,
        ),
        reset_mode=declare(
            node,
            'reset_mode',
            'service',
            'Between trials: service (call reset_service, e.g. the sim), operator (wait for '
            '~/confirm_reset) or none.',
            read_only=True,
            choices=RESET_MODES,
        ),
        reset_timeout_s=declare(
            node,
            'reset_timeout_s',
            300.0,
            'Wall-clock limit of the operator reset (s).',
            read_only=True,
            float_range=(1.0, 86400.0),
        ),
        start_tolerance_rad=declare(
            node,
            'start_tolerance_rad',
            0.0,
            'Refuse a trial when a joint is further than this from the plan start (0: no check; '
            'needs joint_states_topic).',
            read_only=True,
            float_range=(0.0, 3.2),
        ),
        joint_states_topic=declare(
            node,
            'joint_states_topic',
            '/joint_states',
            'JointState topic of the arm (the start-pose check; the tool state of closed-loop '
            'trials).',
            read_only=True,
        ),
        tracked_point_topic=declare(
            node,
            'tracked_point_topic',
            '/trajectory_tracker/point',
            "PointStamped topic of the tracker's live object position (closed-loop trials).",
            read_only=True,
        ),
        control_lead_s=declare(
            node,
            'control_lead_s',
            0.04,
            'Closed loop: each step is computed and sent this long before its start (robot '
            "clock, s); shorter than the task's control period.",
            read_only=True,
            float_range=(0.005, 1.0),
        ),
        observation_max_age_s=declare(
            node,
            'observation_max_age_s',
            0.25,
            'Closed loop: the oldest tracked point or joint state a step may use (robot clock, '
            's); older, the arm holds and the trial fails.',
            read_only=True,
            float_range=(0.01, 10.0),
        ),
    )


def _declare_arm(node: Node) -> ArmParams:
    """Declare the arm's parameters (the kinematics file and what it needs)."""
    return ArmParams(
        kinematics_file=declare(
            node,
            'kinematics_file',
            '',
            'URDF or MJCF of the arm (MuJoCo is the kinematics engine); empty: built-in arm.',
            read_only=True,
        ),
        joint_names=tuple(
            declare(
                node,
                'joint_names',
                list(ArmSpec().joint_names),
                'Arm joints, base to tool, as named by the controller and the kinematics file.',
                read_only=True,
            )
        ),
        tip_frame=declare(
            node, 'tip_frame', 'tip', 'Site, body or geom of the tool tip.', read_only=True
        ),
        home_joints=tuple(
            declare(
                node,
                'home_joints',
                [0.0],
                'IK seed: the arm near the task home pose (one value per joint; [0.0]: zeros).',
                read_only=True,
            )
        ),
        joint_speed_limits=tuple(
            declare(
                node,
                'joint_speed_limits',
                [0.0],
                'Per-joint speed limits of the arm (rad/s; [0.0]: built-in arm values / 3.0).',
                read_only=True,
            )
        ),
    )


def _declare_limits(node: Node) -> SafetyLimits:
    """Declare the cell's envelope (workspace box, joint speed and acceleration, stroke)."""
    return SafetyLimits(
        workspace_min=tuple(
            declare(
                node,
                'workspace_min',
                [-1.0, -1.0, -0.05],
                'Tool tip box, low corner (table frame, m).',
                read_only=True,
            )
        ),
        workspace_max=tuple(
            declare(
                node,
                'workspace_max',
                [1.5, 1.0, 1.0],
                'Tool tip box, high corner (table frame, m).',
                read_only=True,
            )
        ),
        max_joint_speed=declare(
            node,
            'max_joint_speed',
            20.0,
            'Cell limit on every joint speed (rad/s).',
            read_only=True,
            float_range=(0.01, 100.0),
        ),
        max_joint_accel=declare(
            node,
            'max_joint_accel',
            1000.0,
            'Cell limit on every joint acceleration (rad/s^2).',
            read_only=True,
            float_range=(0.1, 100000.0),
        ),
        max_stroke_m=declare(
            node,
            'max_stroke_m',
            0.5,
            'Longest stroke allowed (m).',
            read_only=True,
            float_range=(0.001, 5.0),
        ),
    )
