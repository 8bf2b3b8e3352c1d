# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Sim-only bringup: the MuJoCo sim bridge plus the core bringup on simulated time.

A thin wrapper over bringup.launch.py: the bridge stands in for the arm, its controller and
the camera on the same topics, and publishes /clock. It renders offscreen (no window).
"""

from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    """Return the sim-only graph: the core bringup on simulated time."""
    share = FindPackageShare('icpi_ros')
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                'realtime_factor',
                default_value='1.0',
                description='Simulated seconds per wall second; 0.0 runs as fast as possible.',
            ),
            DeclareLaunchArgument(
                'log_level',
                default_value='info',
                description='Log level of every node (debug, info, warn, error).',
            ),
            DeclareLaunchArgument(
                'calibration_file',
                description='Camera pose from `icpi calibrate --sim slide-gc --out FILE`.',
            ),
            DeclareLaunchArgument(
                'improver',
                default_value='auto',
                description='Default improver of the planner (auto: llm with an endpoint, '
                'else knn_linear).',
            ),
            Node(
                package='icpi_ros',
                executable='sim_bridge',
                name='sim_bridge',
                output='screen',
                parameters=[
                    PathJoinSubstitution([share, 'config', 'sim.yaml']),
                    {'realtime_factor': LaunchConfiguration('realtime_factor')},
                ],
                arguments=['--ros-args', '--log-level', LaunchConfiguration('log_level')],
            ),
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(
                    PathJoinSubstitution([share, 'launch', 'bringup.launch.py'])
                ),
                launch_arguments={
                    'use_sim_time': 'true',
                    'log_level': LaunchConfiguration('log_level'),
                    'improver': LaunchConfiguration('improver'),
                    'calibration_file': LaunchConfiguration('calibration_file'),
                }.items(),
            ),
        ]
    )
