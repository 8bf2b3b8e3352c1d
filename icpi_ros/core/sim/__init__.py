# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""MuJoCo simulation of the tasks: scenes, the simulator and the fast trial path."""
