# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Fixtures of the node tests."""

import pytest
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor


@pytest.fixture
def node(ros_graph, monkeypatch):
    """An rclpy node in the test process, on the graph's domain, and its executor."""
    monkeypatch.setenv('ROS_DOMAIN_ID', str(ros_graph.domain_id))
    monkeypatch.setenv('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    context = Context()
    rclpy.init(context=context)
    test_node = rclpy.create_node('node_test', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(test_node)
    try:
        yield test_node, executor
    finally:
        executor.shutdown()
        test_node.destroy_node()
        rclpy.try_shutdown(context=context)
