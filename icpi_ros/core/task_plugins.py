# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The task plugin interface: what a package contributes to the tasks icpi_ros knows.

A plugin is a `TaskPlugin` named by a Python entry point in the group `icpi_ros.tasks`
(`[project.entry-points."icpi_ros.tasks"] flick = "icpi_flick:PLUGIN"`). Its tasks file has
the schema of config/tasks.yaml; its tasks may use its own motion kinds (`MotionPrimitive`:
theta -> tool path), outcome kinds (`OutcomeExtractor`: object trajectory -> outcome), cost
kinds (`CostFunction`) and simulated objects (`SimObject`: MJCF the sim scene includes), and
the built-in ones. The built-in tasks are the plugin `icpi_ros` (core/builtin_plugin.py),
loaded through this same interface. A plugin that cannot be loaded is refused: its tasks are
missing, and the reason is kept (`refused`) and said when one of them is asked for.
"""

import functools
import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from icpi_ros.core.validation import InvalidInput

ENTRY_POINT_GROUP = 'icpi_ros.tasks'
BUILTIN = 'icpi_ros'


@dataclass(frozen=True)
class MotionPrimitive:
    """A motion kind: theta -> tool tip path (table frame), or a closed-loop motion.

    `tool_path(motion, theta, t)` returns the tip's points (len(t), 3) at times `t` (s from the
    trial's start, the arm at `motion.home` at t = 0); `stroke(motion, theta)` the start and
    end time of the part that acts on the object. A closed-loop kind has neither (its policy
    commands the tool at every step: core/closed_loop.py). `settings` names the numbers the
    kind reads from a task's `motion:` mapping (in `motion.settings`), besides the common
    `home`, `tool_pitch`, `approach_time`, `pause`; `touches_object` kinds also read
    `object_start`, `contact_height` and `contact_offset`. The settings and theta's names are
    the task's: `motion.setting(name)` reads one.
    """

    name: str
    tool_path: Callable[[Any, np.ndarray, np.ndarray], np.ndarray] | None
    stroke: Callable[[Any, np.ndarray], tuple[float, float]] | None
    touches_object: bool = True
    settings: tuple[str, ...] = ()
    theta_dim: int | None = None  # None: any number of parameters
    # The functions whose source shows an LLM how theta moves the tool (PromptPO's task
    # source), in an order that defines each before its use; default: tool_path alone.
    source_functions: tuple[Callable, ...] = ()

    def __post_init__(self) -> None:
        if not self.source_functions and self.tool_path is not None:
            object.__setattr__(self, 'source_functions', (self.tool_path,))

    @property
    def closed_loop(self) -> bool:
        """Whether the kind is a closed-loop motion (no planned path)."""
        return self.tool_path is None


@dataclass(frozen=True)
class OutcomeExtractor:
    """An outcome kind: the object's trajectory -> the task's outcome vector.

    `extract(task, times, points)` gets the times (s) and positions (N, 3, table frame) of
    the object where it was seen (ground truth in sim, tracked on a robot) and returns a
    vector of `len(task.outcome_names)` values. `goal_marker(task, goal)` says where the sim
    shows a goal (table frame), or None. `names`: the outcome names the kind accepts (None:
    any).
    """

    name: str
    extract: Callable[[Any, np.ndarray, np.ndarray], np.ndarray]
    goal_marker: Callable[[Any, np.ndarray], np.ndarray | None] = lambda task, goal: None
    names: tuple[str, ...] | None = None


@dataclass(frozen=True)
class SceneContext:
    """What a SimObject's MJCF may need of the scene it goes into."""

    marker_rgba: str  # 'r g b a' of the marker colour the camera tracker segments
    tip_in_tool: tuple[float, float, float]  # the tool tip in the tool body's frame (m)


@dataclass(frozen=True)
class SimObject:
    """A simulated object kind (a task's `sim_object:`): its MJCF and how it is seen.

    `body_xml(task, context)` returns MJCF that must contain a geom named `object` (what the
    tool tip touches: one contact pair tip-object), a site named `object` (the tracked point,
    the ground truth) and a marker geom in `context.marker_rgba` (what the camera tracker
    sees). A free object is one `<body>` with a `<freejoint name="NAME"/>` (NAME: this kind's
    name) placed at the task's `motion.object_start`, and goes into the world; an `on_tool`
    object (the rope) is attached to the tool body at `context.tip_in_tool`. `marker_plane`:
    (nx, ny, nz, offset), the plane the visible marker moves in (table frame); `camera`: the
    simulated camera that watches it ('top' or 'side').
    """

    name: str
    body_xml: Callable[[Any, SceneContext], str]
    marker_plane: tuple[float, float, float, float]
    on_tool: bool = False
    camera: str = 'top'
    timestep: float = 0.001  # s, the physics step of its scene


@dataclass(frozen=True)
class CostFunction:
    """A cost kind (a task's `cost:`): lower is better.

    `function(outcome, goal)` returns the cost of a trial; with `uses_effort`,
    `function(outcome, goal, effort, effort_weight)` (effort: the closed-loop command's
    integral, m^2/s; the task's `effort_weight` is then required). PromptPO shows the LLM
    its source.
    """

    name: str
    function: Callable[..., float]
    uses_effort: bool = False


@dataclass(frozen=True)
class TaskPlugin:
    """What a package adds: a tasks file, motion and outcome kinds, shipped datasets."""

    name: str
    tasks_file: Path | None = None
    motions: tuple[MotionPrimitive, ...] = ()
    outcomes: tuple[OutcomeExtractor, ...] = ()
    costs: tuple[CostFunction, ...] = ()
    objects: tuple[SimObject, ...] = ()
    # Folder with the shipped improvement datasets of its tasks (`<task>.json`), if any.
    datasets_dir: Path | None = None


@dataclass
class PluginRegistry:
    """The loaded plugins with their motion and outcome kinds, and the refused ones."""

    plugins: dict[str, TaskPlugin] = field(default_factory=dict)
    motions: dict[str, tuple[str, MotionPrimitive]] = field(default_factory=dict)
    outcomes: dict[str, tuple[str, OutcomeExtractor]] = field(default_factory=dict)
    costs: dict[str, tuple[str, CostFunction]] = field(default_factory=dict)
    objects: dict[str, tuple[str, SimObject]] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # plugin name -> why

    def add(self, plugin: TaskPlugin, origin: str, key: str = '') -> None:
        """Register `plugin` (from `origin`, for messages); refuse it whole on any problem.

        A refusal is kept under `key` (the entry point's name), else the plugin's name.
        """
        try:
            problem = _problems(plugin, self)
        except Exception as exc:  # a plugin object of the wrong shape
            problem = f'not a TaskPlugin ({type(exc).__name__}: {exc})'
        if problem:
            self.refused[key or getattr(plugin, 'name', '') or origin] = f'{origin}: {problem}'
            return
        self.plugins[plugin.name] = plugin
        for motion in plugin.motions:
            self.motions[motion.name] = (plugin.name, motion)
        for outcome in plugin.outcomes:
            self.outcomes[outcome.name] = (plugin.name, outcome)
        for cost in plugin.costs:
            self.costs[cost.name] = (plugin.name, cost)
        for obj in plugin.objects:
            self.objects[obj.name] = (plugin.name, obj)

    @staticmethod
    def _pick(table: dict[str, tuple[str, Any]], kind: Any, refusal: Callable[[str], str]):
        """Return `table[kind]`'s piece, or raise InvalidInput(refusal(the known kinds))."""
        if kind not in table:
            raise InvalidInput(refusal(', '.join(table)))
        return table[kind][1]

    def motion(self, kind: Any, where: str) -> MotionPrimitive:
        """Return the motion kind `kind`, or raise InvalidInput naming `where` and the kinds."""
        return self._pick(
            self.motions, kind, lambda known: f'{where}.kind: expected one of {known}, got {kind!r}'
        )

    def outcome(self, kind: Any, where: str) -> OutcomeExtractor:
        """Return the outcome kind `kind`, or raise InvalidInput naming `where` and the kinds."""
        return self._pick(
            self.outcomes,
            kind,
            lambda known: f'{where}.kind: expected one of {known}, got {kind!r}',
        )

    def cost(self, kind: Any, where: str) -> CostFunction:
        """Return the cost kind `kind`, or raise InvalidInput naming `where` and the kinds."""
        return self._pick(
            self.costs, kind, lambda known: f'{where}: unknown cost {kind!r}; known: {known}'
        )

    def sim_object(self, kind: Any, where: str) -> SimObject:
        """Return the object kind `kind`, or raise InvalidInput naming `where` and the kinds."""
        return self._pick(
            self.objects, kind, lambda known: f'{where}: expected one of {known}, got {kind!r}'
        )

    def refusal_note(self) -> str:
        """Return a sentence on the refused plugins ('' when none), for an unknown-task error."""
        if not self.refused:
            return ''
        said = '; '.join(f'{name} ({why})' for name, why in sorted(self.refused.items()))
        return f'; refused plugins: {said}'


def _problems(plugin: TaskPlugin, registry: PluginRegistry) -> str:
    """Say what is wrong with `plugin` beside the plugins in `registry` ('' if nothing)."""
    if not isinstance(plugin, TaskPlugin):
        return f'expected a TaskPlugin (icpi_ros.core.task_plugins), got {type(plugin).__name__}'
    if not plugin.name or not isinstance(plugin.name, str):
        return 'name: expected a non-empty string'
    if plugin.name in registry.plugins:
        return f'name: plugin {plugin.name!r} is already loaded'
    if plugin.tasks_file is not None and not Path(plugin.tasks_file).is_file():
        return f'tasks_file: {plugin.tasks_file} does not exist'
    for label, items, kind, known in (
        ('motions', plugin.motions, MotionPrimitive, registry.motions),
        ('outcomes', plugin.outcomes, OutcomeExtractor, registry.outcomes),
        ('costs', plugin.costs, CostFunction, registry.costs),
        ('objects', plugin.objects, SimObject, registry.objects),
    ):
        for i, item in enumerate(items):
            if not isinstance(item, kind):
                return f'{label}[{i}]: expected a {kind.__name__}, got {type(item).__name__}'
            if item.name in known:
                return (
                    f'{label}[{i}]: kind {item.name!r} is already defined by plugin '
                    f'{known[item.name][0]!r}'
                )
        if len({item.name for item in items}) != len(items):
            return f'{label}: a kind is defined twice'
    for i, motion in enumerate(plugin.motions):
        if (motion.tool_path is None) != (motion.stroke is None):
            return f'motions[{i}] ({motion.name}): give both tool_path and stroke, or neither'
    return ''


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    return sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)


@functools.cache
def plugin_registry() -> PluginRegistry:
    """Return the registry: the built-in plugin, then every installed entry point by name."""
    from icpi_ros.core.builtin_plugin import PLUGIN

    registry = PluginRegistry()
    registry.add(PLUGIN, 'icpi_ros.core.builtin_plugin:PLUGIN')
    for entry in _entry_points():
        origin = f'entry point {entry.name!r} ({entry.value})'
        try:
            loaded = entry.load()
        except Exception as exc:  # any import error of third-party code
            registry.refused[entry.name] = f'{origin}: cannot be loaded: {exc!r}'
            continue
        if callable(loaded) and not isinstance(loaded, TaskPlugin):
            try:
                loaded = loaded()  # a factory
            except Exception as exc:
                registry.refused[entry.name] = f'{origin}: its factory failed: {exc}'
                continue
        registry.add(loaded, origin, entry.name)
    return registry


def task_files() -> list[tuple[str, Path]]:
    """Return (plugin name, tasks file) of every loaded plugin that has one, built-in first."""
    return [
        (name, Path(plugin.tasks_file))
        for name, plugin in plugin_registry().plugins.items()
        if plugin.tasks_file is not None
    ]


def check_outcome(extractor: OutcomeExtractor, task: Any, value: Any) -> np.ndarray:
    """Validate what an extractor returned: finite, one value per outcome name.

    Raises:
        InvalidInput: the wrong size or a non-finite value, naming the kind and the task.

    """
    out = np.asarray(value, dtype=float).reshape(-1)
    if out.shape != (len(task.outcome_names),) or not np.all(np.isfinite(out)):
        raise InvalidInput(
            f'outcome kind {extractor.name!r} of task {task.name!r} returned {value!r}: '
            f'expected {len(task.outcome_names)} finite values ({", ".join(task.outcome_names)})'
        )
    return out


def shipped_datasets_dir(plugin: str) -> Path | None:
    """Return the folder with the datasets that plugin `plugin` ships (built-in: data/), if any."""
    loaded = plugin_registry().plugins.get(plugin)
    return None if loaded is None or loaded.datasets_dir is None else Path(loaded.datasets_dir)


def theta_corners(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Return the 2^d corners of the box [low, high] (d = len(low)), one a row."""
    d = len(low)
    picks = (np.arange(2**d)[:, None] >> np.arange(d)) & 1
    return np.where(picks == 1, np.asarray(high, float), np.asarray(low, float))
