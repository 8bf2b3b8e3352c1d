# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Sim-only bringup: the MuJoCo sim bridge plus the core bringup on simulated time.

The bridge stands in for the arm, its controller and the camera on the same topics and
publishes /clock; it renders offscreen (`headless:=false` also opens a viewer window).
`local_llm:=true` also starts the embedded local LLM (`icpi llm serve`, `make setup-llm`) on
`local_llm_port` and points the planner at it; the planner retries a request that comes
before the server answers (llm.max_retries). Same nodes as `icpi_ros.graph.description.sim_graph`,
which `icpi demo` starts without ros2 launch.
"""

from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

from icpi_ros.graph.description import CORE_ARGUMENTS, SIM_ARGUMENTS, local_llm_server, sim_bridge
from launch import LaunchDescription

# Passed through to bringup.launch.py; use_sim_time is always true here.
FORWARDED = [name for name in CORE_ARGUMENTS if name != 'use_sim_time']


def _core(context):
    forwarded = {name: LaunchConfiguration(name) for name in FORWARDED}
    actions = []
    if IfCondition(LaunchConfiguration('local_llm')).evaluate(context):
        server = local_llm_server(
            port=LaunchConfiguration('local_llm_port').perform(context),
            model=LaunchConfiguration('local_llm_model').perform(context),
        )
        forwarded.update(llm_base_url=server.base_url, llm_model=server.alias)
        actions.append(server.launch_action())
    core = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            PathJoinSubstitution([FindPackageShare('icpi_ros'), 'launch', 'bringup.launch.py'])
        ),
        launch_arguments={'use_sim_time': 'true', **forwarded}.items(),
    )
    return [*actions, core]


def generate_launch_description() -> LaunchDescription:
    """Return the sim-only graph: the bridge and the core bringup on simulated time."""
    declared = {**SIM_ARGUMENTS, **{name: CORE_ARGUMENTS[name] for name in FORWARDED}}
    arguments = [
        DeclareLaunchArgument(name, default_value=default, description=description)
        for name, (default, description) in declared.items()
    ]
    value = {name: LaunchConfiguration(name) for name in declared}
    bridge = sim_bridge(value['realtime_factor'], value['headless'])
    return LaunchDescription(
        [*arguments, bridge.launch_action(value['log_level']), OpaqueFunction(function=_core)]
    )
