# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The ROS graph: its description, bringing it up as processes, a client and the demo."""
