# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The sim bridge's parameters, declared in one place: `declare_params(node)`.

`realtime_factor` and `idle_rate_hz` may be set at run time: SimBridgeParams holds their
start-up values; the node keeps the current ones, which the physics thread reads at every
step (`SimBridge._on_parameters_set`). Every other parameter is read-only.
"""

from dataclasses import dataclass

from rclpy.node import Node

from icpi_ros.core.sim.pacing import IDLE_AFTER_S, SETTLE_S
from icpi_ros.core.tasks import TaskRegistry, load_tasks
from icpi_ros.nodes.runtime import declare


@dataclass(frozen=True)
class SimBridgeParams:
    """Every sim_bridge parameter, as declared at start-up, and the tasks file's tasks."""

    tasks_file: str
    tasks: TaskRegistry  # loaded from tasks_file: `task` is one of its simulated tasks
    task: str
    realtime_factor: float  # start-up value; settable at run time
    camera_rate_hz: float
    publish_camera: bool
    state_rate_hz: float
    seed: int
    idle_rate_hz: float  # start-up value; settable at run time
    trial_active_topic: str
    headless: bool


def declare_params(node: Node) -> SimBridgeParams:
    """Declare the sim bridge's parameters on `node` and return their values.

    The tasks file is loaded on the way: the scene loaded at start is one of its tasks.

    Raises:
        InvalidInput: a tasks file that cannot be read, a task that is not simulated.

    """
    tasks_file = declare(
        node,
        'tasks_file',
        '',
        'Task definitions (YAML); empty: config/tasks.yaml.',
        read_only=True,
    )
    tasks = load_tasks(tasks_file or None)
    return SimBridgeParams(
        tasks_file=tasks_file,
        tasks=tasks,
        task=declare(
            node,
            'task',
            'slide-gc',
            'Scene loaded at start (ResetScene switches).',
            read_only=True,
            choices=sorted(n for n, t in tasks.items() if t.sim_object),
        ),
        realtime_factor=declare(
            node,
            'realtime_factor',
            1.0,
            'Simulated seconds per wall second; 0: as fast as possible.',
            float_range=(0.0, 100.0),
        ),
        camera_rate_hz=declare(
            node,
            'camera_rate_hz',
            30.0,
            'Camera frame rate (simulated time).',
            read_only=True,
            float_range=(1.0, 120.0),
        ),
        publish_camera=declare(
            node, 'publish_camera', True, 'Render and publish camera images.', read_only=True
        ),
        state_rate_hz=declare(
            node,
            'state_rate_hz',
            100.0,
            'Rate of /clock, /joint_states and /sim/object_pose.',
            read_only=True,
            float_range=(10.0, 1000.0),
        ),
        seed=declare(
            node, 'seed', 0, 'Seed of the initial scene.', read_only=True, int_range=(0, 2**31 - 1)
        ),
        idle_rate_hz=declare(
            node,
            'idle_rate_hz',
            2.0,
            f'When no trial is active, no trajectory runs (nor ended < {SETTLE_S:g} s ago) and no '
            f'reset is pending for {IDLE_AFTER_S:g} s: /clock, /joint_states, /sim/object_pose '
            'and the camera are published at this rate and the simulation runs at most at real '
            'time; full rates resume at once when a trial starts, a trajectory or a reset '
            'comes. 0: never idle.',
            float_range=(0.0, 30.0),
        ),
        trial_active_topic=declare(
            node,
            'trial_active_topic',
            '/trial_executor/trial_active',
            'std_msgs/Bool, true while a trial runs (the trial executor publishes it).',
            read_only=True,
        ),
        headless=declare(
            node,
            'headless',
            True,
            'Render offscreen only; false also opens a MuJoCo viewer window (needs a display).',
            read_only=True,
        ),
    )
