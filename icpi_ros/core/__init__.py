# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The ROS-free core: tasks, validation, improvers and planning.

Nothing under this package imports rclpy or any ROS message type, so it can be used and
tested on a machine without ROS (the `icpi` command, datasets, benchmarks).
"""
