# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Core bringup shared by the sim and real-robot launch files.

Starts the nodes that are the same on a real robot and in simulation: the trajectory tracker
and the planner (the trial executor joins them when it is implemented).
Needs a full ROS 2 install (launch, launch_ros); without one, the `icpi` command starts the
same graph (see README).
"""

from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    """Return the core graph: the nodes shared by the sim and real bringups."""
    share = FindPackageShare('icpi_ros')
    use_sim_time = LaunchConfiguration('use_sim_time')
    log_level = LaunchConfiguration('log_level')
    tasks_file = LaunchConfiguration('tasks_file')
    improver = LaunchConfiguration('improver')
    calibration_file = LaunchConfiguration('calibration_file')

    return LaunchDescription(
        [
            DeclareLaunchArgument(
                'use_sim_time',
                default_value='false',
                description='Use the simulator /clock (true in the sim bringup).',
            ),
            DeclareLaunchArgument(
                'log_level',
                default_value='info',
                description='Log level of every node (debug, info, warn, error).',
            ),
            DeclareLaunchArgument(
                'tasks_file',
                default_value=PathJoinSubstitution([share, 'config', 'tasks.yaml']),
                description='Task definitions: parameter bounds, outcome space, goal ranges.',
            ),
            DeclareLaunchArgument(
                'calibration_file',
                default_value='',
                description='Camera pose in the table frame, from `icpi calibrate` (required '
                'for tracking).',
            ),
            DeclareLaunchArgument(
                'improver',
                default_value='auto',
                description='Default improver of the planner (auto: llm with an endpoint, '
                'else knn_linear).',
            ),
            Node(
                package='icpi_ros',
                executable='trajectory_tracker',
                name='trajectory_tracker',
                output='screen',
                parameters=[
                    PathJoinSubstitution([share, 'config', 'tracker.yaml']),
                    {'use_sim_time': use_sim_time, 'calibration_file': calibration_file},
                ],
                arguments=['--ros-args', '--log-level', log_level],
            ),
            Node(
                package='icpi_ros',
                executable='icpi_planner',
                name='icpi_planner',
                output='screen',
                parameters=[
                    {
                        'use_sim_time': use_sim_time,
                        'tasks_file': tasks_file,
                        'improver': improver,
                    }
                ],
                arguments=['--ros-args', '--log-level', log_level],
            ),
            Node(
                package='icpi_ros',
                executable='trial_executor',
                name='trial_executor',
                output='screen',
                parameters=[{'use_sim_time': use_sim_time, 'tasks_file': tasks_file}],
                arguments=['--ros-args', '--log-level', log_level],
            ),
            Node(
                package='icpi_ros',
                executable='improvement_loop',
                name='improvement_loop',
                output='screen',
                parameters=[{'use_sim_time': use_sim_time, 'tasks_file': tasks_file}],
                arguments=['--ros-args', '--log-level', log_level],
            ),
        ]
    )
