# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The sim graph as data: which nodes, with which config files and parameters.

`icpi bringup` and `icpi demo` start it as separate processes (ros2 launch is not installable
from PyPI); test/static checks that launch/sim.launch.py starts the same executables.
"""

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from icpi_ros.core.paths import config_file
from icpi_ros.node_processes import DomainLease, NodeProcess, ProcessGraph

READY = r'\]: ready'


@dataclass(frozen=True)
class NodeSpec:
    """One node process: executable, parameter files (config/) and parameter overrides."""

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
            args += ['-p', f'{key}:={text}']
        return args


def sim_graph(
    calibration_file: Path | str,
    improver: str = 'auto',
    realtime_factor: float = 0.0,
    runs_dir: Path | str = '',
) -> list[NodeSpec]:
    """Return the sim-only bringup: bridge, tracker, planner, executor and loop on sim time."""
    sim = {'use_sim_time': True}
    return [
        NodeSpec('sim_bridge', ('sim.yaml',), {'realtime_factor': realtime_factor}),
        NodeSpec(
            'trajectory_tracker',
            ('tracker.yaml',),
            {**sim, 'calibration_file': str(calibration_file)},
        ),
        NodeSpec('icpi_planner', (), {**sim, 'improver': improver}),
        NodeSpec('trial_executor', (), sim),
        NodeSpec('improvement_loop', (), {**sim, 'runs_dir': str(runs_dir)}),
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
