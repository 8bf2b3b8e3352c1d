# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""A Python client for a running icpi_ros graph (used by the `icpi` command and scripts)."""

import time
from collections.abc import Sequence

import rclpy
from icpi_interfaces.srv import NextPolicy
from rclpy.node import Node


class GraphUnavailable(RuntimeError):
    """A server did not appear, or did not answer, within the timeout."""


class ICPIClient:
    """Talks to the planner (and, later, the improvement loop) of a running graph."""

    def __init__(self, planner: str = '/icpi_planner', node_name: str = 'icpi_client') -> None:
        self._owns_context = not rclpy.ok()
        if self._owns_context:
            rclpy.init()
        self.node = Node(node_name)
        self._planner = planner.rstrip('/')
        self._next_policy = self.node.create_client(NextPolicy, f'{self._planner}/next_policy')

    def next_policy(
        self,
        task: str,
        theta: Sequence[float],
        error: Sequence[float] = (),
        outcome: Sequence[float] = (),
        goal: Sequence[float] = (),
        improver: str = '',
        timeout_s: float = 10.0,
    ) -> NextPolicy.Response:
        """Ask the planner for the next policy; the request is validated by the planner."""
        deadline = time.monotonic() + timeout_s
        self._wait_for(self._next_policy, deadline)
        request = NextPolicy.Request(
            task=task,
            theta=[float(v) for v in theta],
            error=[float(v) for v in error],
            outcome=[float(v) for v in outcome],
            goal=[float(v) for v in goal],
            improver=improver,
        )
        future = self._next_policy.call_async(request)
        rclpy.spin_until_future_complete(
            self.node, future, timeout_sec=max(0.0, deadline - time.monotonic())
        )
        if not future.done():
            self._next_policy.remove_pending_request(future)
            raise GraphUnavailable(f'{self._next_policy.srv_name} did not answer in {timeout_s} s')
        return future.result()

    def _wait_for(self, client, deadline: float) -> None:
        while not client.wait_for_service(
            timeout_sec=min(1.0, max(0.0, deadline - time.monotonic()))
        ):
            if time.monotonic() >= deadline:
                raise GraphUnavailable(
                    f'service {client.srv_name} is not available; is the graph running '
                    f'on ROS_DOMAIN_ID the same as this shell?'
                )
            self.node.get_logger().info(f'waiting for {client.srv_name} ...')

    def close(self) -> None:
        """Destroy the node (and the ROS context, if this client created it)."""
        self.node.destroy_node()
        if self._owns_context:
            rclpy.try_shutdown()

    def __enter__(self) -> 'ICPIClient':
        return self

    def __exit__(self, *exc) -> None:
        self.close()
