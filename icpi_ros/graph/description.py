# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The graphs as data: which nodes, with which config files, parameters and launch arguments.

The launch files build their nodes from these descriptions (`NodeSpec.launch_action`), and
`icpi demo` and the tests start the same descriptions as separate processes (`Bringup`;
`ros2 launch` cannot be installed from PyPI), so the two cannot drift apart; test/static
checks the launch files against them.
"""

from pathlib import Path
from typing import Any

from icpi_ros.graph.spec import LocalLLMSpec, NodeSpec
from icpi_ros.process.local_llm import SMOLLM2, free_port


def local_llm_server(port: Any = 0, model: Any = SMOLLM2) -> LocalLLMSpec:
    """Return the local LLM server on `port` (0: a port free now)."""
    return LocalLLMSpec(free_port() if port in (0, '0') else port, model)


# Arguments of the core graph: name -> (default, description); default None: required. The
# launch files declare them from here; `icpi demo` and the tests pass the same names to
# core_graph().
CORE_ARGUMENTS: dict[str, tuple[str | None, str]] = {
    'use_sim_time': ('false', 'Use the /clock topic (true in the sim bringup).'),
    'log_level': ('info', 'Log level of every node (debug, info, warn, error).'),
    'tasks_file': ('', 'Task definitions YAML; empty: the package config/tasks.yaml.'),
    'calibration_file': (None, 'Camera pose in the table frame from `icpi calibrate` (required).'),
    'improver': (
        'auto',
        'Default improver of the planner (auto: llm with an endpoint, else knn_linear).',
    ),
    'runs_dir': ('', 'Where run records go; empty: $ICPI_RUNS_DIR, else ./runs.'),
    'llm_base_url': (
        '',
        'OpenAI-compatible endpoint; empty: OPENAI_BASE_URL or OpenAI '
        '(the key only from OPENAI_API_KEY).',
    ),
    'llm_model': ('', 'LLM model; empty: ICPI_LLM_MODEL or the default.'),
}
SIM_ARGUMENTS: dict[str, tuple[str | None, str]] = {
    'realtime_factor': (
        '1.0',
        'Simulated seconds per wall second; 0 (or 0.0): as fast as possible.',
    ),
    'headless': (
        'true',
        'Render offscreen only; false also opens a MuJoCo viewer window (needs a display).',
    ),
    'local_llm': (
        'false',
        'Also start the embedded local LLM (`icpi llm serve`, needs `make setup-llm`) and '
        'point the planner at it (llm_base_url, llm_model).',
    ),
    'local_llm_port': ('8765', 'Port of the local LLM server on 127.0.0.1.'),
    'local_llm_model': ('smollm2', 'Model of the local LLM: smollm2 or a .gguf path.'),
}


def core_graph(
    calibration_file: Any,
    improver: Any = 'auto',
    runs_dir: Any = '',
    use_sim_time: Any = False,
    tasks_file: Any = '',
    config_files: tuple[str, ...] = (),
    overrides: dict[str, dict] | None = None,
    camera_remappings: tuple[tuple[str, str], ...] = (),
    llm_base_url: Any = '',
    llm_model: Any = '',
) -> list[NodeSpec]:
    """Return the nodes of the sim and real graphs: tracker, planner, executor, loop, recorder.

    `config_files` (e.g. real_roll.yaml, with a section per node) are read after the nodes'
    own; `overrides` (node -> parameters) win over both. Empty `llm_*` leave the planner's and
    the loop's (closed-loop PromptPO asks the LLM from the loop).
    """
    common = {'use_sim_time': use_sim_time, 'tasks_file': tasks_file}
    llm = {'llm.base_url': llm_base_url, 'llm.model': llm_model}  # the loop's: closed-loop promptpo
    extra = overrides or {}
    specs = [
        (
            'trajectory_tracker',
            ('tracker.yaml',),
            {'use_sim_time': use_sim_time, 'calibration_file': calibration_file},
        ),
        (
            'icpi_planner',
            (),
            {**common, 'improver': improver, **llm},
        ),
        ('trial_executor', (), common),
        ('improvement_loop', (), {**common, 'runs_dir': runs_dir, **llm}),
        ('run_recorder', (), {'use_sim_time': use_sim_time}),
    ]
    return [
        NodeSpec(
            name,
            (*files, *config_files),
            {**params, **extra.get(name, {})},
            camera_remappings if name in ('trajectory_tracker', 'run_recorder') else (),
        )
        for name, files, params in specs
    ]


# Arguments of the real-robot graph (launch/real_roll.launch.py) beyond the core's.
REAL_ARGUMENTS: dict[str, tuple[str | None, str]] = {
    'config_file': (
        'real_roll.yaml',
        'Parameters of the real cell, a section per node (config/real_roll.yaml or a path).',
    ),
    'kinematics_file': ('', "URDF or MJCF of the arm; empty: the config file's."),
    'joint_names': (
        '',
        'Arm joints base to tool, e.g. "[j1, j2, j3, j4]"; empty: the config file\'s.',
    ),
    'controller_topic': (
        '',
        "JointTrajectory topic of the joint_trajectory_controller; empty: the config file's.",
    ),
    'image_topic': ('/camera/image_raw', 'Camera image topic (rgb8 or bgr8).'),
    'camera_info_topic': ('/camera/camera_info', 'CameraInfo topic of that camera.'),
    'dry_run': ('false', 'Plan, check and publish ~/planned_trajectory; never move the arm.'),
}


def real_graph(
    calibration_file: str,
    config_file: str = 'real_roll.yaml',
    improver: str = 'auto',
    runs_dir: str = '',
    tasks_file: str = '',
    kinematics_file: str = '',
    joint_names: str = '',
    controller_topic: str = '',
    image_topic: str = '/camera/image_raw',
    camera_info_topic: str = '/camera/camera_info',
    llm_base_url: str = '',
    llm_model: str = '',
    dry_run: bool | str = False,
    use_sim_time: bool = False,
) -> list[NodeSpec]:
    """Return the real-robot graph: the core graph configured by `config_file`.

    Empty strings keep the config file's values. `use_sim_time` is for a simulated stand-in.
    """
    executor = {
        'kinematics_file': kinematics_file,
        'joint_names': joint_names,
        'controller_topic': controller_topic,
        'dry_run': dry_run,
    }
    return core_graph(
        calibration_file,
        improver,
        runs_dir,
        use_sim_time,
        tasks_file,
        config_files=(config_file,),
        overrides={'trial_executor': executor},
        camera_remappings=(
            ('/camera/image_raw', image_topic),
            ('/camera/camera_info', camera_info_topic),
        ),
        llm_base_url=llm_base_url,
        llm_model=llm_model,
    )


def sim_bridge(realtime_factor: Any = 1.0, headless: Any = True) -> NodeSpec:
    """Return the MuJoCo bridge: the arm, its controller and the camera, on /clock."""
    return NodeSpec(
        'sim_bridge', ('sim.yaml',), {'realtime_factor': realtime_factor, 'headless': headless}
    )


def sim_graph(
    calibration_file: Path | str,
    improver: str = 'auto',
    realtime_factor: float = 0.0,
    runs_dir: Path | str = '',
    local_llm: bool = False,
    local_llm_port: int = 0,
    local_llm_model: str = SMOLLM2,
) -> list[NodeSpec | LocalLLMSpec]:
    """Return the sim-only graph: the bridge and the core graph on simulated time.

    `local_llm`: first the local LLM server (port 0: a free one), the planner pointed at it.
    """
    specs: list[NodeSpec | LocalLLMSpec] = [sim_bridge(realtime_factor)]
    llm = {}
    if local_llm:
        server = local_llm_server(local_llm_port, local_llm_model)
        specs.insert(0, server)
        llm = {'llm_base_url': server.base_url, 'llm_model': server.alias}
    return [
        *specs,
        *core_graph(str(calibration_file), improver, str(runs_dir), use_sim_time=True, **llm),
    ]
