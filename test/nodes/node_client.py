# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Shared by the node tests that talk to a graph from the test process itself."""

import contextlib
import time
from collections.abc import Callable, Iterator

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor


class NodeClient:
    """An rclpy node in the test process, on the graph's domain, spun on demand."""

    def __init__(self, context: Context, name: str) -> None:
        self.node = rclpy.create_node(name, context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)

    def spin_until(self, future, timeout: float = 20.0):
        """Spin until `future` is done (fail after `timeout` s); return its result."""
        self.executor.spin_until_future_complete(future, timeout_sec=timeout)
        assert future.done(), 'no answer in time'
        return future.result()

    def call(self, client, request, attempts: int = 4, each_s: float = 5.0):
        """Call a service whose request is safe to repeat; resend it while unanswered.

        A request (or its answer) sent before the service has matched this client back is
        lost (seen in CI: no answer in 20 s), although `wait_for_service` said it was there.
        """
        for _ in range(attempts):
            future = client.call_async(request)
            self.executor.spin_until_future_complete(future, timeout_sec=each_s)
            if future.done():
                return future.result()
            client.remove_pending_request(future)
        raise AssertionError(f'no answer in {attempts * each_s:g} s ({attempts} requests)')

    def spin(self, seconds: float) -> None:
        """Spin for `seconds` (the subscriptions' callbacks run)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.02)

    def close(self) -> None:
        """Stop spinning and destroy the node."""
        self.executor.shutdown()
        self.node.destroy_node()


@contextlib.contextmanager
def client_on(domain_id: int, monkeypatch, make: Callable[[Context], NodeClient]) -> Iterator:
    """Yield `make(context)` on the graph's ROS_DOMAIN_ID; close it and its context after."""
    monkeypatch.setenv('ROS_DOMAIN_ID', str(domain_id))
    monkeypatch.setenv('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    context = Context()
    rclpy.init(context=context)
    client = make(context)
    try:
        yield client
    finally:
        client.close()
        rclpy.try_shutdown(context=context)
