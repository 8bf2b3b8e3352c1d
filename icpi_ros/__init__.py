# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""icpi_ros: in-context policy improvement for dynamic manipulation over ROS 2."""

__version__ = '0.1.0'
