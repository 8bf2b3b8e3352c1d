# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The sim graph as data: which nodes, with which config files and parameters.

The launch files build their nodes from these descriptions (`NodeSpec.launch_action`), and
`icpi demo` and the tests start the same descriptions as separate processes (`ros2 launch`
cannot be installed from PyPI), so the two cannot drift apart; test/static checks the launch
files against them.
"""

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from icpi_ros.core.paths import config_file
from icpi_ros.node_processes import DomainLease, NodeProcess, ProcessGraph

READY = r'\]: ready'


PACKAGE = 'icpi_ros'


@dataclass(frozen=True)
class NodeSpec:
    """One node process: executable, parameter files (config/) and parameter overrides.

    Parameter values may be launch substitutions (LaunchConfiguration) when a launch file
    builds the graph; `argv` needs plain values.
    """

    executable: str
    params_files: tuple[str, ...] = ()
    params: dict = field(default_factory=dict)

    def argv(self, log_level: str = 'info') -> list[str]:
        """Command line of the node."""
        args = [self.executable, '--ros-args', '--log-level', log_level]
        for name in self.params_files:
            args += ['--params-file', str(config_file(name))]
        for key, value in self.params.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            if text:  # an empty string leaves the node's default (also empty)
                args += ['-p', f'{key}:={text}']
        return args

    def launch_action(self, log_level: Any = 'info') -> Any:
        """Return the same node as a launch_ros `Node` action (needs a full ROS 2 install)."""
        from launch_ros.actions import Node

        return Node(
            package=PACKAGE,
            executable=self.executable,
            name=self.executable,
            output='screen',
            parameters=[*(str(config_file(name)) for name in self.params_files), self.params],
            arguments=['--ros-args', '--log-level', log_level],
        )


# Arguments of the core graph: name -> (default, description). The launch files declare
# them from here; `icpi demo` and the tests pass the same names to core_graph().
CORE_ARGUMENTS: dict[str, tuple[str, str]] = {
    'use_sim_time': ('false', 'Use the /clock topic (true in the sim bringup).'),
    'log_level': ('info', 'Log level of every node (debug, info, warn, error).'),
    'tasks_file': ('', 'Task definitions YAML; empty: the package config/tasks.yaml.'),
    'calibration_file': ('', 'Camera pose in the table frame from `icpi calibrate` (required).'),
    'improver': (
        'auto',
        'Default improver of the planner (auto: llm with an endpoint, else knn_linear).',
    ),
    'runs_dir': ('', 'Where run records go; empty: $ICPI_RUNS_DIR, else ./runs.'),
}
SIM_ARGUMENTS: dict[str, tuple[str, str]] = {
    'realtime_factor': ('1.0', 'Simulated seconds per wall second; 0.0 runs as fast as possible.'),
    'headless': (
        'true',
        'Render offscreen only; false also opens a MuJoCo viewer window (needs a display).',
    ),
}


def core_graph(
    calibration_file: Any,
    improver: Any = 'auto',
    runs_dir: Any = '',
    use_sim_time: Any = False,
    tasks_file: Any = '',
) -> list[NodeSpec]:
    """Return the nodes shared by the sim and real bringups: tracker, planner, executor, loop."""
    common = {'use_sim_time': use_sim_time, 'tasks_file': tasks_file}
    return [
        NodeSpec(
            'trajectory_tracker',
            ('tracker.yaml',),
            {'use_sim_time': use_sim_time, 'calibration_file': calibration_file},
        ),
        NodeSpec('icpi_planner', (), {**common, 'improver': improver}),
        NodeSpec('trial_executor', (), common),
        NodeSpec('improvement_loop', (), {**common, 'runs_dir': runs_dir}),
    ]


def sim_bridge(realtime_factor: Any = 1.0, headless: Any = True) -> NodeSpec:
    """Return the MuJoCo bridge: the arm, its controller and the camera, on /clock."""
    return NodeSpec(
        'sim_bridge', ('sim.yaml',), {'realtime_factor': realtime_factor, 'headless': headless}
    )


def sim_graph(
    calibration_file: Path | str,
    improver: str = 'auto',
    realtime_factor: float = 0.0,
    runs_dir: Path | str = '',
) -> list[NodeSpec]:
    """Return the sim-only bringup: the bridge and the core graph on simulated time."""
    return [
        sim_bridge(realtime_factor),
        *core_graph(str(calibration_file), improver, str(runs_dir), use_sim_time=True),
    ]


class Bringup:
    """Start the nodes of a graph as processes; stop them all with SIGINT."""

    def __init__(
        self,
        specs: list[NodeSpec],
        workdir: Path,
        log_level: str = 'info',
        domain_id: int | None = None,
    ) -> None:
        self._lease = DomainLease() if domain_id is None else None
        domain = self._lease.domain_id if self._lease else domain_id
        self.graph = ProcessGraph(domain, workdir, Path.cwd())
        self.specs = specs
        self.log_level = log_level

    @property
    def domain_id(self) -> int:
        """ROS_DOMAIN_ID of the graph."""
        return self.graph.domain_id

    def start(
        self, on_ready: Callable[[NodeSpec], None] | None = None, timeout_s: float = 60.0
    ) -> list[NodeProcess]:
        """Start every node and wait until each says it is ready."""
        started = []
        for spec in self.specs:
            started.append(self.graph.start(spec.executable, spec.argv(self.log_level)))
        deadline = time.monotonic() + timeout_s
        for spec, process in zip(self.specs, started, strict=True):
            process.wait_for_output(READY, max(1.0, deadline - time.monotonic()))
            if on_ready is not None:
                on_ready(spec)
        return started

    def environment(self) -> dict[str, str]:
        """Variables that put a client on this graph's domain."""
        return {k: self.graph.env[k] for k in ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE')}

    def stop(self) -> list[str]:
        """SIGINT every node; return the problems (a non-zero exit or a traceback)."""
        try:
            return self.graph.shutdown()
        finally:
            if self._lease is not None:
                self._lease.release()


def use_graph_environment(bringup: Bringup) -> None:
    """Point this process's ROS client at the bringup's domain (before rclpy.init)."""
    os.environ.update(bringup.environment())
