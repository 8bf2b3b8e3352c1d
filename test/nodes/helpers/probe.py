# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Shared by the test-only probe scripts in this folder."""

import contextlib
import time
from collections.abc import Iterator

import rclpy
from rclpy.node import Node


def spin_until(node: Node, done, what: str, timeout_s: float = 30.0) -> None:
    """Spin `node` until `done()` is true; raise TimeoutError naming `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f'timed out after {timeout_s} s waiting for {what}')
        rclpy.spin_once(node, timeout_sec=0.05)


@contextlib.contextmanager
def probe_node(name: str) -> Iterator[Node]:
    """Init rclpy, yield a node called `name`; destroy it and shut rclpy down on the way out."""
    rclpy.init()
    node = Node(name)
    try:
        yield node
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
