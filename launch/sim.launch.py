# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Sim-only bringup: the core bringup on simulated time, headless by default.

A thin wrapper over bringup.launch.py; the MuJoCo sim bridge joins here once it exists.
"""

from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    """Return the sim-only graph: the core bringup on simulated time."""
    share = FindPackageShare('icpi_ros')
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                'headless',
                default_value='true',
                description='Render offscreen only (no viewer window).',
            ),
            DeclareLaunchArgument(
                'log_level',
                default_value='info',
                description='Log level of every node (debug, info, warn, error).',
            ),
            DeclareLaunchArgument(
                'improver',
                default_value='random_shooting',
                description='Default improver of the planner.',
            ),
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(
                    PathJoinSubstitution([share, 'launch', 'bringup.launch.py'])
                ),
                launch_arguments={
                    'use_sim_time': 'true',
                    'log_level': LaunchConfiguration('log_level'),
                    'improver': LaunchConfiguration('improver'),
                }.items(),
            ),
        ]
    )
