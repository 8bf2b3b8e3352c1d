# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Real-robot bringup for roll-gc-real: the core graph driving a real arm and camera.

The lab supplies the arm (ros2_control joint_trajectory_controller), its URDF or MJCF, and a
camera driver; config/real_roll.yaml (or `config_file:=`) holds the cell's parameters, and
every launch argument that is not empty overrides them. The nodes come from
`icpi_ros.graph.description.real_graph`, the description the tests start against the simulated
stand-in. Nothing moves before `/trial_executor/enable` is called; see docs/real_robot.md.
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration

from icpi_ros.graph.description import CORE_ARGUMENTS, REAL_ARGUMENTS, real_graph
from launch import LaunchDescription

# The core's arguments without use_sim_time (the robot's clock is the time base).
DECLARED = {
    **{name: spec for name, spec in CORE_ARGUMENTS.items() if name != 'use_sim_time'},
    **REAL_ARGUMENTS,
}


def _nodes(context):
    value = {name: LaunchConfiguration(name).perform(context) for name in DECLARED}
    specs = real_graph(
        calibration_file=value['calibration_file'],
        config_file=value['config_file'],
        improver=value['improver'],
        runs_dir=value['runs_dir'],
        tasks_file=value['tasks_file'],
        kinematics_file=value['kinematics_file'],
        joint_names=value['joint_names'],
        controller_topic=value['controller_topic'],
        image_topic=value['image_topic'],
        camera_info_topic=value['camera_info_topic'],
        llm_base_url=value['llm_base_url'],
        llm_model=value['llm_model'],
        dry_run=value['dry_run'],
    )
    return [spec.launch_action(value['log_level']) for spec in specs]


def generate_launch_description() -> LaunchDescription:
    """Return the real-robot graph: tracker, planner, executor and loop on the robot's clock."""
    arguments = [
        DeclareLaunchArgument(name, default_value=default, description=description)
        for name, (default, description) in DECLARED.items()
    ]
    return LaunchDescription([*arguments, OpaqueFunction(function=_nodes)])
