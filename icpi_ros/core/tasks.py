# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Task definitions: policy parameters with bounds, outcome space and goals (config/tasks.yaml)."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from icpi_ros.core.closed_loop import ClosedLoopConfig
from icpi_ros.core.motion import MotionConfig
from icpi_ros.core.task_plugins import (
    BUILTIN,
    OutcomeExtractor,
    PluginRegistry,
    check_outcome,
    plugin_registry,
    task_files,
)
from icpi_ros.core.validation import InvalidInput, as_vector

SUPPORTED_VERSION = 1


@dataclass(frozen=True)
class Parameter:
    """One policy parameter: its name, unit and closed bounds."""

    name: str
    unit: str
    low: float
    high: float


@dataclass(frozen=True)
class TaskSpec:
    """A task: parametric policy theta, outcome space and goal range."""

    name: str
    description: str
    goal_conditioned: bool
    parameters: tuple[Parameter, ...]
    outcome_names: tuple[str, ...]
    outcome_unit: str
    default_goal: tuple[float, ...]
    goal_low: tuple[float, ...]
    goal_high: tuple[float, ...]
    cost: str
    trial_duration_s: float
    motion: MotionConfig
    # Object simulated for this task (puck, ball, rope); None for real-robot-only tasks.
    sim_object: str | None = None
    # Plane the tracked marker moves in, table frame: (nx, ny, nz, offset) with n . p = offset;
    # None: the tracker's configured plane.
    marker_plane: tuple[float, float, float, float] | None = None
    # Closed-loop tasks (motion kind push): control rate, episode, command limits; else None.
    closed_loop: ClosedLoopConfig | None = None
    # Cost euclidean_effort: s/m on the effort (sum of |velocity command|^2 dt, m^2/s).
    effort_weight: float = 0.0
    # How the outcome is read from the object's trajectory (`outcome.kind`), and the plugin
    # that defines the task (core/task_plugins.py; the built-in tasks are `icpi_ros`'s).
    outcome_kind: str = 'final_position'
    plugin: str = BUILTIN
    extractor: OutcomeExtractor | None = field(default=None, compare=False, repr=False)

    @property
    def theta_dim(self) -> int:
        """Number of policy parameters."""
        return len(self.parameters)

    @property
    def outcome_dim(self) -> int:
        """Dimension of the outcome (and goal, and error) space."""
        return len(self.outcome_names)

    @property
    def theta_low(self) -> np.ndarray:
        """Lower bounds of theta."""
        return np.array([p.low for p in self.parameters])

    @property
    def theta_high(self) -> np.ndarray:
        """Upper bounds of theta."""
        return np.array([p.high for p in self.parameters])

    def theta_middle(self) -> np.ndarray:
        """Return the middle of the parameter bounds."""
        return 0.5 * (self.theta_low + self.theta_high)

    def clip(self, theta: np.ndarray) -> tuple[np.ndarray, bool]:
        """Clip theta to the bounds; also say whether anything had to be clipped."""
        clipped = np.clip(theta, self.theta_low, self.theta_high)
        return clipped, bool(np.any(clipped != theta))

    def check_theta(self, values: Iterable[float], name: str = 'theta') -> np.ndarray:
        """Validate a theta vector (length, finite); bounds are enforced by `clip`."""
        return as_vector(name, values, self.theta_dim)

    def check_outcome(self, values: Iterable[float], name: str) -> np.ndarray:
        """Validate a vector of the outcome space (outcome, goal or error)."""
        return as_vector(name, values, self.outcome_dim)

    def outcome_of(self, times: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Return the outcome of an object trajectory (times, points (N, 3) where seen).

        Raises:
            InvalidInput: the outcome kind returned the wrong size or a non-finite value.

        """
        extractor = self._extractor()
        value = extractor.extract(self, np.asarray(times, float), np.asarray(points, float))
        return check_outcome(extractor, self, value)

    def goal_marker(self, goal: np.ndarray) -> np.ndarray | None:
        """Return where the simulation shows `goal` (table frame), or None."""
        return self._extractor().goal_marker(self, np.asarray(goal, float))

    def _extractor(self) -> OutcomeExtractor:
        """Return the outcome kind: as parsed, else looked up (a TaskSpec built without one)."""
        return self.extractor or plugin_registry().outcome(self.outcome_kind, self.name)

    def check_goal(self, values: Iterable[float]) -> np.ndarray:
        """Validate a goal: the outcome space's length, finite, inside the goal range."""
        goal = self.check_outcome(values, 'goal')
        outside = (goal < np.array(self.goal_low)) | (goal > np.array(self.goal_high))
        if np.any(outside):
            i = int(np.flatnonzero(outside)[0])
            raise InvalidInput(
                f'goal[{i}] ({self.outcome_names[i]}) = {goal[i]:g} {self.outcome_unit} is outside '
                f'the range [{self.goal_low[i]:g}, {self.goal_high[i]:g}] of task {self.name!r}'
            )
        return goal


def _field(raw: Mapping[str, Any], key: str, where: str) -> Any:
    if not isinstance(raw, Mapping) or key not in raw:
        raise InvalidInput(f'{where}: missing field {key!r}')
    return raw[key]


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f'{where}: expected a number, got {value!r}')
    if not np.isfinite(value):
        raise InvalidInput(f'{where}: must be finite, got {value!r}')
    return float(value)


def _numbers(value: Any, length: int, where: str) -> tuple[float, ...]:
    if not isinstance(value, list) or len(value) != length:
        raise InvalidInput(f'{where}: expected a list of {length} numbers, got {value!r}')
    return tuple(_number(v, f'{where}[{i}]') for i, v in enumerate(value))


def parse_task(
    name: str, raw: Mapping[str, Any], registry: PluginRegistry | None = None
) -> TaskSpec:
    """Build a TaskSpec from its YAML mapping; errors name the task and the field.

    Motion and outcome kinds are looked up in `registry` (default: the installed plugins).
    """
    registry = registry or plugin_registry()
    where = f'tasks.{name}'
    params_raw = _field(raw, 'parameters', where)
    if not isinstance(params_raw, list) or not params_raw:
        raise InvalidInput(f'{where}.parameters: expected a non-empty list')
    parameters = []
    for i, p in enumerate(params_raw):
        pw = f'{where}.parameters[{i}]'
        low = _number(_field(p, 'low', pw), f'{pw}.low')
        high = _number(_field(p, 'high', pw), f'{pw}.high')
        if not low < high:
            raise InvalidInput(f'{pw}: low ({low:g}) must be below high ({high:g})')
        parameters.append(Parameter(str(_field(p, 'name', pw)), str(p.get('unit', '')), low, high))

    outcome = _field(raw, 'outcome', where)
    names = _field(outcome, 'names', f'{where}.outcome')
    if not isinstance(names, list) or not names:
        raise InvalidInput(f'{where}.outcome.names: expected a non-empty list')
    extractor = registry.outcome(outcome.get('kind', 'final_position'), f'{where}.outcome')
    if extractor.names is not None and not set(map(str, names)) <= set(extractor.names):
        raise InvalidInput(
            f'{where}.outcome.names: outcome kind {extractor.name!r} takes names among '
            f'{", ".join(extractor.names)}, got {names!r}'
        )
    dim = len(names)
    goal = _field(raw, 'goal', where)
    low = _numbers(_field(goal, 'low', f'{where}.goal'), dim, f'{where}.goal.low')
    high = _numbers(_field(goal, 'high', f'{where}.goal'), dim, f'{where}.goal.high')
    default = _numbers(_field(goal, 'default', f'{where}.goal'), dim, f'{where}.goal.default')
    if any(lo > hi for lo, hi in zip(low, high, strict=False)):
        raise InvalidInput(f'{where}.goal: low must not exceed high')
    if any(not lo <= d <= hi for lo, d, hi in zip(low, default, high, strict=False)):
        raise InvalidInput(f'{where}.goal.default: must lie inside [low, high]')

    cost = str(raw.get('cost', 'euclidean'))
    cost_kind = registry.cost(cost, f'{where}.cost')
    duration = _number(_field(raw, 'trial_duration_s', where), f'{where}.trial_duration_s')
    if duration <= 0:
        raise InvalidInput(f'{where}.trial_duration_s: must be positive')

    effort_weight = 0.0
    if cost_kind.uses_effort:
        effort_weight = _number(_field(raw, 'effort_weight', where), f'{where}.effort_weight')
        if effort_weight < 0:
            raise InvalidInput(f'{where}.effort_weight: must be at least 0')

    sim_object = raw.get('sim_object')
    if sim_object is not None:
        registry.sim_object(sim_object, f'{where}.sim_object')

    motion = MotionConfig.parse(name, _field(raw, 'motion', where), registry)
    wanted = motion.primitive.theta_dim
    if wanted is not None and len(parameters) != wanted:
        raise InvalidInput(
            f'{where}.parameters: motion kind {motion.kind!r} takes {wanted} parameters, '
            f'got {len(parameters)}'
        )
    closed_loop = None
    if motion.primitive.closed_loop:
        closed_loop = ClosedLoopConfig.parse(name, raw['motion'])
        if sim_object not in (None, 'puck'):
            raise InvalidInput(f'{where}.sim_object: a push task pushes a puck')
        if dim != 2:
            raise InvalidInput(f'{where}.outcome.names: a push task ends at the puck [x, y]')
        if duration < closed_loop.episode_s:
            raise InvalidInput(
                f'{where}.trial_duration_s: must be at least motion.episode_s '
                f'({closed_loop.episode_s:g} s)'
            )
        if not closed_loop.limits.inside(motion.home[:2]):
            raise InvalidInput(f'{where}.motion.home: outside motion.workspace')

    marker_plane = None
    if 'tracking' in raw:
        tw = f'{where}.tracking'
        normal = _numbers(_field(raw['tracking'], 'plane_normal', tw), 3, f'{tw}.plane_normal')
        if np.linalg.norm(normal) < 1e-9:
            raise InvalidInput(f'{tw}.plane_normal: must not be zero')
        offset = _number(_field(raw['tracking'], 'plane_offset', tw), f'{tw}.plane_offset')
        marker_plane = (*normal, offset)

    return TaskSpec(
        name=name,
        description=str(raw.get('description', '')),
        goal_conditioned=bool(raw.get('goal_conditioned', False)),
        parameters=tuple(parameters),
        outcome_names=tuple(str(n) for n in names),
        outcome_unit=str(outcome.get('unit', '')),
        default_goal=default,
        goal_low=low,
        goal_high=high,
        cost=cost,
        trial_duration_s=duration,
        motion=motion,
        sim_object=sim_object,
        marker_plane=marker_plane,
        closed_loop=closed_loop,
        effort_weight=effort_weight,
        outcome_kind=extractor.name,
        extractor=extractor,
    )


class TaskRegistry(Mapping[str, TaskSpec]):
    """The tasks of the installed plugins (or one tasks file), by name with a helpful error."""

    def __init__(
        self, tasks: Mapping[str, TaskSpec], source: str = '<memory>', refused: str = ''
    ) -> None:
        self._tasks = dict(tasks)
        self.source = source
        self._refused = refused  # a sentence on refused plugins, said for an unknown task

    def __getitem__(self, name: str) -> TaskSpec:
        try:
            return self._tasks[name]
        except KeyError:
            known = ', '.join(sorted(self._tasks))
            raise InvalidInput(
                f'unknown task {name!r}; known tasks: {known}{self._refused}'
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    def __iter__(self):
        return iter(self._tasks)

    def __len__(self) -> int:
        return len(self._tasks)


def read_tasks_file(
    path: Path, registry: PluginRegistry | None = None, plugin: str = BUILTIN
) -> dict[str, TaskSpec]:
    """Read and validate one tasks file (the schema of config/tasks.yaml).

    Args:
        path: the file.
        registry: where its motion and outcome kinds are looked up (default: installed).
        plugin: the plugin the file belongs to (its tasks say so; errors name it).

    Returns:
        Its tasks by name.

    Raises:
        InvalidInput: unreadable, not YAML, a wrong version, or a task with a bad field
            (the message names the file, the task and the field).

    """
    where = f'tasks file {path}' + (f' (plugin {plugin})' if plugin != BUILTIN else '')
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise InvalidInput(f'cannot read tasks file {path}: {exc.strerror}') from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f'{where} is not valid YAML: {exc}') from None
    if not isinstance(raw, Mapping):
        raise InvalidInput(f'{where}: expected a mapping at the top level')
    if raw.get('version') != SUPPORTED_VERSION:
        raise InvalidInput(
            f'{where}: version {raw.get("version")!r} is not supported '
            f'(expected {SUPPORTED_VERSION})'
        )
    tasks_raw = raw.get('tasks')
    if not isinstance(tasks_raw, Mapping) or not tasks_raw:
        raise InvalidInput(f'{where}: expected a non-empty mapping under "tasks"')
    try:
        return {
            str(n): replace(parse_task(str(n), t, registry), plugin=plugin)
            for n, t in tasks_raw.items()
        }
    except InvalidInput as exc:
        raise InvalidInput(f'{where}: {exc}') from None


def load_tasks(path: Path | str | None = None) -> TaskRegistry:
    """Load and validate the tasks: of one file, or (default) of every installed plugin.

    The built-in plugin's file is the package's config/tasks.yaml. A plugin whose tasks file
    is broken is refused like one that does not load; a task name defined by two plugins is
    an error that names both.
    """
    registry = plugin_registry()
    if path is not None:
        return TaskRegistry(read_tasks_file(Path(path), registry), source=str(path))
    tasks: dict[str, TaskSpec] = {}
    refused = dict(registry.refused)
    for plugin, file in task_files():
        try:
            found = read_tasks_file(file, registry, plugin)
        except InvalidInput as exc:
            if plugin == BUILTIN:
                raise
            refused[plugin] = str(exc)
            continue
        for name, task in found.items():
            if name in tasks:
                raise InvalidInput(
                    f'task {name!r} is defined twice: by plugin {tasks[name].plugin!r} and '
                    f'by plugin {plugin!r} ({file}); rename one'
                )
            tasks[name] = task
    note = PluginRegistry(refused=refused).refusal_note()
    sources = ', '.join(str(file) for _, file in task_files())
    return TaskRegistry(tasks, source=sources, refused=note)


def require_simulated(task: TaskSpec, where: str = '') -> TaskSpec:
    """Return `task` if it has a simulation (a sim object); the one guard of the sim paths.

    Args:
        task: the task to run in simulation.
        where: the setting that named the task, put before the message (e.g. 'tasks').

    Returns:
        The same task.

    Raises:
        InvalidInput: a real-robot task (no `sim_object`).

    """
    if task.sim_object is None:
        prefix = f'{where}: ' if where else ''
        raise InvalidInput(
            f'{prefix}task {task.name!r} is not a sim task (a real-robot task: it has no '
            'simulation)'
        )
    return task
