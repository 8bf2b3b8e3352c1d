# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Thin rclpy nodes that wire the core to topics, services and actions."""
