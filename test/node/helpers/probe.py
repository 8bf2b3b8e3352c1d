# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Shared by the test-only probe scripts in this folder."""

import time

import rclpy
from rclpy.node import Node


def spin_until(node: Node, done, what: str, timeout_s: float = 30.0) -> None:
    """Spin `node` until `done()` is true; raise TimeoutError naming `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f'timed out after {timeout_s} s waiting for {what}')
        rclpy.spin_once(node, timeout_sec=0.05)
