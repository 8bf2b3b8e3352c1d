# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Core bringup shared by the sim and real-robot launch files.

The nodes that are the same on a real robot and in simulation: trajectory tracker, planner,
trial executor and improvement loop. They come from `icpi_ros.graph.description.core_graph`, the
description `icpi demo` starts without ros2 launch, so the two cannot drift apart.
"""

from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration

from icpi_ros.graph.description import CORE_ARGUMENTS, core_graph
from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    """Return the core graph: the nodes shared by the sim and real bringups."""
    arguments = [
        DeclareLaunchArgument(name, default_value=default, description=description)
        for name, (default, description) in CORE_ARGUMENTS.items()
    ]
    value = {name: LaunchConfiguration(name) for name in CORE_ARGUMENTS}
    nodes = core_graph(
        calibration_file=value['calibration_file'],
        improver=value['improver'],
        runs_dir=value['runs_dir'],
        use_sim_time=value['use_sim_time'],
        tasks_file=value['tasks_file'],
        llm_base_url=value['llm_base_url'],
        llm_model=value['llm_model'],
    )
    return LaunchDescription(
        [*arguments, *(spec.launch_action(value['log_level']) for spec in nodes)]
    )
