# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The sim graph as data: which nodes, with which config files and parameters.

The launch files build their nodes from these descriptions (`NodeSpec.launch_action`), and
`icpi demo` and the tests start the same descriptions as separate processes (`ros2 launch`
cannot be installed from PyPI), so the two cannot drift apart; test/static checks the launch
files against them.
"""

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from icpi_ros.core.paths import config_file
from icpi_ros.process.local_llm import DEFAULT_HOST, SERVING, SMOLLM2, free_port, model_alias
from icpi_ros.process.node_processes import DomainLease, NodeProcess, ProcessGraph

READY = r'\]: ready'


PACKAGE = 'icpi_ros'


@dataclass(frozen=True)
class NodeSpec:
    """One node process: executable, parameter files (config/) and parameter overrides.

    Parameter values may be launch substitutions (LaunchConfiguration) when a launch file
    builds the graph; `argv` needs plain values.
    """

    executable: str
    params_files: tuple[str, ...] = ()  # names in config/, or paths
    params: dict = field(default_factory=dict)
    remappings: tuple[tuple[str, str], ...] = ()
    ready = READY  # the output line that says the node is up
    starts_first = False  # the others start once this one is ready

    @property
    def name(self) -> str:
        """Process name (the node's executable)."""
        return self.executable

    def argv(self, log_level: str = 'info') -> list[str]:
        """Command line of the node."""
        args = [self.executable, '--ros-args', '--log-level', log_level]
        for name in self.params_files:
            args += ['--params-file', str(config_file(name))]
        for key, value in self.params.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            if text:  # an empty string leaves the node's default (also empty)
                args += ['-p', f'{key}:={text}']
        for source, target in self.remappings:
            args += ['-r', f'{source}:={target}']
        return args

    def launch_parameters(self, typed: Callable[[Any, str], Any]) -> dict[str, Any]:
        """Return the parameter overrides for launch_ros, typed as the node declares them.

        launch_ros writes a plain `str` to its params file as a YAML string, so every value
        that is not already a Python value of the declared type (a string from a launch
        argument, a substitution) goes through `typed(value, type_name)` (launch_ros's
        `ParameterValue`); PARAMETER_TYPES names the types. An empty plain string leaves the
        node's default.
        """
        out = {}
        for name, value in self.params.items():
            kind = PARAMETER_TYPES[name]
            if isinstance(value, str) and value == '':
                continue
            if kind == 'string' and isinstance(value, str):
                out[name] = value
            elif isinstance(value, bool | int | float | list | tuple):  # a Python value
                out[name] = float(value) if kind == 'double' else value
            else:
                out[name] = typed(value, kind)
        return out

    def launch_action(self, log_level: Any = 'info') -> Any:
        """Return the same node as a launch_ros `Node` action (needs a full ROS 2 install)."""
        from launch.substitutions import TextSubstitution
        from launch_ros.actions import Node
        from launch_ros.parameter_descriptions import ParameterValue

        def typed(value: Any, kind: str) -> Any:
            # A plain str is a scalar to ParameterValue (refused for a non-str type); as a
            # substitution it is coerced (YAML for bool and lists, float('0') for a double).
            text = TextSubstitution(text=value) if isinstance(value, str) else value
            return ParameterValue(text, value_type=launch_value_type(kind))

        return Node(
            package=PACKAGE,
            executable=self.executable,
            name=self.executable,
            output='screen',
            parameters=[
                *(str(config_file(name)) for name in self.params_files),
                self.launch_parameters(typed),
            ],
            remappings=list(self.remappings),
            ros_arguments=['--log-level', log_level],
        )

    def launched(self, workdir: Path) -> 'NodeSpec':
        """Return this node as `ros2 launch` starts it, for a graph started without launch.

        Its overrides go to a params file written as launch_ros writes one (yaml.dump under
        `/**`, after the config files), typed as `launch_action` types them
        (`coerce_like_launch`).
        """
        params = self.launch_parameters(coerce_like_launch)
        path = Path(workdir).resolve() / f'launch_params_{self.executable}_{id(self):x}.yaml'
        path.write_text(yaml.dump({'/**': {'ros__parameters': params}}, default_flow_style=False))
        return NodeSpec(self.executable, (*self.params_files, str(path)), {}, self.remappings)


# The type each node declares (rcl_interfaces ParameterType names) for every parameter the
# graph descriptions pass; test/static checks it against the nodes' declare() calls.
PARAMETER_TYPES: dict[str, str] = {
    'use_sim_time': 'bool',
    'tasks_file': 'string',
    'calibration_file': 'string',
    'improver': 'string',
    'llm.base_url': 'string',
    'llm.model': 'string',
    'runs_dir': 'string',
    'kinematics_file': 'string',
    'joint_names': 'string_array',
    'controller_topic': 'string',
    'dry_run': 'bool',
    'realtime_factor': 'double',
    'headless': 'bool',
    'task': 'string',
    'joint_speed_limits': 'double_array',
    'workspace_min': 'double_array',
    'workspace_max': 'double_array',
    'max_joint_speed': 'double',
}


def coerce_like_launch(value: Any, kind: str) -> Any:
    """Type a launch-argument string as launch's `ParameterValue(value, value_type=...)` does.

    float/int: the number (`0` -> 0.0); bool and arrays: YAML, checked; str: unchanged.
    """
    text = str(value)
    scalar = kind.removesuffix('_array')
    if kind in ('double', 'integer'):
        return float(text) if kind == 'double' else int(text)
    if kind == 'string':
        return text
    loaded = yaml.safe_load({'1': 'true', '0': 'false'}.get(text, text) if kind == 'bool' else text)
    python = {'bool': bool, 'integer': int, 'double': float, 'string': str}[scalar]
    items = loaded if kind.endswith('_array') and isinstance(loaded, list) else [loaded]
    if kind.endswith('_array') != isinstance(loaded, list) or not all(
        isinstance(x, python) for x in items
    ):
        raise ValueError(f'cannot convert {text!r} to {kind}')
    return loaded


def launch_value_type(kind: str) -> Any:
    """Return the launch_ros `value_type` of a ParameterType name: bool, List[str]..."""
    import typing

    scalar = {'bool': bool, 'integer': int, 'double': float, 'string': str}
    if kind.endswith('_array'):
        return typing.List[scalar[kind.removesuffix('_array')]]  # noqa: UP006 (launch wants it)
    return scalar[kind]


@dataclass(frozen=True)
class LocalLLMSpec:
    """The embedded local LLM (`icpi llm serve`), started and serving before the nodes start.

    `port` and `model` may be launch substitutions only for `launch_action`.
    """

    port: Any
    model: Any = SMOLLM2
    executable = 'icpi'
    name = 'local_llm'
    ready = SERVING
    starts_first = True

    @property
    def base_url(self) -> str:
        """The planner's `llm.base_url` for this server."""
        return f'http://{DEFAULT_HOST}:{self.port}/v1'

    @property
    def alias(self) -> str:
        """The planner's `llm.model`: the name the server answers to."""
        return model_alias(str(self.model))

    def argv(self, log_level: str = 'info') -> list[str]:
        """Command line of the server (its log level is its own)."""
        return [self.executable, *(str(a) for a in self._arguments())]

    def _arguments(self) -> list[Any]:
        return ['llm', 'serve', '--port', self.port, '--model', self.model]

    def launch_action(self, log_level: Any = 'info') -> Any:
        """Return the server as a launch `ExecuteProcess` (needs a full ROS 2 install)."""
        from launch.actions import ExecuteProcess
        from launch_ros.substitutions import ExecutableInPackage

        return ExecuteProcess(
            cmd=[ExecutableInPackage(self.executable, PACKAGE), *self._arguments()],
            name=self.name,
            output='screen',
        )


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
    """Return the nodes shared by the sim and real bringups: tracker, planner, executor, loop.

    `config_files` (e.g. real_roll.yaml, with a section per node) are read after the nodes'
    own; `overrides` (node -> parameters) win over both. Empty `llm_*` leave the planner's.
    """
    common = {'use_sim_time': use_sim_time, 'tasks_file': tasks_file}
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
            {**common, 'improver': improver, 'llm.base_url': llm_base_url, 'llm.model': llm_model},
        ),
        ('trial_executor', (), common),
        ('improvement_loop', (), {**common, 'runs_dir': runs_dir}),
    ]
    return [
        NodeSpec(
            name,
            (*files, *config_files),
            {**params, **extra.get(name, {})},
            camera_remappings if name == 'trajectory_tracker' else (),
        )
        for name, files, params in specs
    ]


# Arguments of the real-robot bringup (launch/real_roll.launch.py) beyond the core's.
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
    """Return the real-robot bringup: the core graph configured by `config_file`.

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
    """Return the sim-only bringup: the bridge and the core graph on simulated time.

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


class Bringup:
    """Start the nodes of a graph as processes; stop them all with SIGINT."""

    def __init__(
        self,
        specs: list[NodeSpec | LocalLLMSpec],
        workdir: Path,
        log_level: str = 'info',
        domain_id: int | None = None,
    ) -> None:
        self._lease = DomainLease() if domain_id is None else None
        domain = self._lease.domain_id if self._lease else domain_id
        self.graph = ProcessGraph(domain, workdir, Path.cwd())
        self.specs = specs
        self.log_level = log_level

    @property
    def domain_id(self) -> int:
        """ROS_DOMAIN_ID of the graph."""
        return self.graph.domain_id

    def start(
        self, on_ready: Callable[[NodeSpec], None] | None = None, timeout_s: float = 60.0
    ) -> list[NodeProcess]:
        """Start every node and wait until each says it is ready.

        A spec that `starts_first` (the local LLM) is waited for before the next starts.
        """
        deadline = time.monotonic() + timeout_s
        started, waiting = [], []
        for spec in self.specs:
            started.append(self.graph.start(spec.name, spec.argv(self.log_level)))
            waiting.append((spec, started[-1]))
            if spec.starts_first:
                self._wait_ready(waiting, deadline, on_ready)
        self._wait_ready(waiting, deadline, on_ready)
        return started

    @staticmethod
    def _wait_ready(waiting: list, deadline: float, on_ready: Callable | None) -> None:
        """Wait for each (spec, process) of `waiting` to print its ready line; empty the list."""
        for spec, process in waiting:
            process.wait_for_output(spec.ready, max(1.0, deadline - time.monotonic()))
            if on_ready is not None:
                on_ready(spec)
        waiting.clear()

    def environment(self) -> dict[str, str]:
        """Variables that put a client on this graph's domain."""
        return {k: self.graph.env[k] for k in ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE')}

    def stop(self) -> list[str]:
        """SIGINT every node; return the problems (a non-zero exit or a traceback)."""
        try:
            return self.graph.shutdown()
        finally:
            if self._lease is not None:
                self._lease.release()


def use_graph_environment(bringup: Bringup) -> None:
    """Point this process's ROS client at the bringup's domain (before rclpy.init)."""
    os.environ.update(bringup.environment())
