# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""One process of the graph as data: a node (`NodeSpec`) or the local LLM (`LocalLLMSpec`).

A spec gives its command line (`argv`, for a graph started as processes) and its launch action
(`launch_action`, for the launch files), so the two cannot drift apart. Parameters reach
launch_ros typed as the nodes declare them (`PARAMETER_TYPES`).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from icpi_ros.core.paths import config_file
from icpi_ros.process.local_llm import DEFAULT_HOST, SERVING, SMOLLM2, model_alias

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
