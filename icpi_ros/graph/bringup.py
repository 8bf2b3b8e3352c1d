# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Bring a described graph up without ros2 launch: its specs as processes, stopped with SIGINT.

`Bringup` starts the specs of graph/description.py (`spec.argv`) on a ROS_DOMAIN_ID of its own
(a `DomainLease`), waits for each ready line, and stops every process with SIGINT; `icpi
demo`, the whole-graph tests and the benchmarks use it.
"""

import os
import time
from collections.abc import Callable
from pathlib import Path

from icpi_ros.graph.spec import LocalLLMSpec, NodeSpec
from icpi_ros.process.node_processes import DomainLease, NodeProcess, ProcessGraph


class Bringup:
    """Start the nodes of a graph as processes; stop them all with SIGINT."""

    def __init__(
        self,
        specs: list[NodeSpec | LocalLLMSpec],
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
        """Start every node and wait until each says it is ready.

        A spec that `starts_first` (the local LLM) is waited for before the next starts.
        """
        deadline = time.monotonic() + timeout_s
        started, waiting = [], []
        for spec in self.specs:
            started.append(self.graph.start(spec.name, spec.argv(self.log_level)))
            waiting.append((spec, started[-1]))
            if spec.starts_first:
                self._wait_ready(waiting, deadline, on_ready)
        self._wait_ready(waiting, deadline, on_ready)
        return started

    @staticmethod
    def _wait_ready(waiting: list, deadline: float, on_ready: Callable | None) -> None:
        """Wait for each (spec, process) of `waiting` to print its ready line; empty the list."""
        for spec, process in waiting:
            process.wait_for_output(spec.ready, max(1.0, deadline - time.monotonic()))
            if on_ready is not None:
                on_ready(spec)
        waiting.clear()

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
