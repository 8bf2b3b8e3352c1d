# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""A closed-loop task described as Python source, for an LLM that writes controllers (PromptPO).

The closed-loop counterpart of `task_source`, all generated: the goal range and the motion
settings from the TaskSpec (config/tasks.yaml, with their fields' comments); the control
rate, episode length and command limits from the task's closed-loop settings
(`TaskSpec.closed_loop`), with the source of the classes among them that do something (the
command check); from the closed-loop module (`icpi_ros.core.closed_loop`) its docstring,
`OBSERVATION_FIELDS` (and the source of the type of its entries), the source of
`ClosedLoopPolicy` and `ClosedLoopEpisode`; and the real cost function with the functions of
its module it calls and the task's values of its other parameters. The imports and the
upper-case constants of their modules that this source uses come along, so the module runs
(an exception class it raises, such as StepFailed, is only named). Nothing is restated by
hand.
"""

import ast
import dataclasses
import importlib
import inspect
import pprint
from collections.abc import Callable, Mapping
from types import ModuleType

from icpi_ros.core.promptpo.task_source import goal_block, motion_block, settings_lines
from icpi_ros.core.scoring import cost_function
from icpi_ros.core.tasks import TaskSpec
from icpi_ros.core.validation import InvalidInput

CLOSED_LOOP_MODULE = 'icpi_ros.core.closed_loop'
_MOTION_INTRO = ("# This task's motion settings (icpi_ros.core.motion, reduced to its values).",)
_CLOSED_LOOP_INTRO = (
    "# This task's closed-loop settings (TaskSpec.closed_loop, reduced to its values): the",
    '# control rate, the episode length and the limits every command is checked against.',
)
POLICY_STUB = '''class Policy:
    """To be written: the controller, a ClosedLoopPolicy.

    reset(goal) is called at the start of every episode; act(obs) at every control step with
    the observation (a dict with the keys OBSERVATION_FIELDS), and it returns the action.
    """

    def reset(self, goal):
        raise NotImplementedError

    def act(self, obs):
        raise NotImplementedError
'''


def closed_loop_contract() -> ModuleType:
    """Return the closed-loop module whose definitions the task source shows.

    Returns:
        `icpi_ros.core.closed_loop`.

    Raises:
        ModuleNotFoundError: the closed-loop module is not installed.

    """
    return importlib.import_module(CLOSED_LOOP_MODULE)


def _source(obj: object) -> str:
    return inspect.getsource(obj).rstrip() + '\n'


def _names(obj: object) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(_source(obj))) if isinstance(n, ast.Name)}


def _imports(objects: list[object]) -> list[str]:
    """Return the import lines of the objects' modules that bind a name their source uses."""
    used = set().union(*(_names(obj) for obj in objects))
    plain = {'import numpy as np'}  # the goal and motion blocks' own
    names: dict[str, set[str]] = {'types': {'SimpleNamespace'}}
    for module in dict.fromkeys(inspect.getmodule(obj) for obj in objects):
        for node in ast.parse(inspect.getsource(module)).body:
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            bound = [a for a in node.names if (a.asname or a.name).split('.')[0] in used]
            if isinstance(node, ast.Import):
                plain.update(ast.unparse(ast.Import([a])) for a in bound)
            elif node.module == '__future__' or bound:
                key = '.' * node.level + (node.module or '')
                kept = node.names if node.module == '__future__' else bound
                names.setdefault(key, set()).update(ast.unparse(a) for a in kept)
    future = [f'from __future__ import {", ".join(sorted(names.pop("__future__")))}'] if (
        '__future__' in names
    ) else []  # fmt: skip
    froms = [f'from {m} import {", ".join(sorted(n))}' for m, n in sorted(names.items())]
    return future + froms + sorted(plain)


def _constants(objects: list[object]) -> list[str]:
    """Return the module-level constants (UPPER_CASE numbers and strings) the objects use."""
    found: dict[str, str] = {}
    for obj in objects:
        module = inspect.getmodule(obj)
        for name in sorted(_names(obj)):
            value = getattr(module, name, None)
            if name.isupper() and isinstance(value, int | float | str) and value is not True:
                found.setdefault(name, f'{name} = {value!r}')
    return list(found.values())


def _literal(value: object) -> str:
    """Return the observation fields as Python source, a mapping one entry per line."""
    if not isinstance(value, Mapping):
        return pprint.pformat(value, width=90, sort_dicts=False)
    return '{\n' + ''.join(f'    {k!r}: {v!r},\n' for k, v in value.items()) + '}'


def _is_own(cls: type) -> bool:
    return cls.__module__ != 'builtins'


def _acting_classes(settings: object) -> list[type]:
    """Return the classes of the nested settings that define public methods (e.g. a check)."""
    found: list[type] = []
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if dataclasses.is_dataclass(value):
            cls = type(value)
            if any(inspect.isfunction(v) and not n.startswith('_') for n, v in vars(cls).items()):
                found.append(cls)
            found += _acting_classes(value)
    return found


def _cost_parts(task: TaskSpec, cost: Callable) -> tuple[list[object], list[str]]:
    """Return the functions of the cost's module it calls, and its task-valued parameters."""
    module = inspect.getmodule(cost)
    called = [
        obj
        for name in sorted(_names(cost))
        if inspect.isfunction(obj := getattr(module, name, None))
        and obj is not cost
        and inspect.getmodule(obj) is module
    ]
    values = [
        f"{p} = {getattr(task, p)!r}  # the task's {p} (config/tasks.yaml)"
        for p in inspect.signature(cost).parameters
        if hasattr(task, p)
    ]
    return called, values


def render_closed_loop_source(task: TaskSpec, contract: ModuleType | None = None) -> str:
    """Return a closed-loop task as a Python module: goals, limits, observation, cost, stub.

    Args:
        task: a closed-loop task (its goal range, motion and closed-loop settings, cost).
        contract: the module with `OBSERVATION_FIELDS`, `ClosedLoopPolicy` and
            `ClosedLoopEpisode` (default: `icpi_ros.core.closed_loop`).

    Returns:
        The source: a module that runs (the policy stub raises NotImplementedError).

    Raises:
        InvalidInput: the task has no closed-loop settings.
        AttributeError: the contract lacks one of those names.

    """
    settings = getattr(task, 'closed_loop', None)
    if settings is None:
        raise InvalidInput(f'task {task.name!r} is not a closed-loop task (motion kind push)')
    contract = contract or closed_loop_contract()
    fields = contract.OBSERVATION_FIELDS
    entry_types = [t for t in dict.fromkeys(map(type, dict(fields).values())) if _is_own(t)]
    cost = cost_function(task)
    called, values = _cost_parts(task, cost)
    classes = [*_acting_classes(settings), *entry_types]
    shown = [*classes, contract.ClosedLoopPolicy, contract.ClosedLoopEpisode, *called, cost]
    parts = [
        f'"""Task {task.name}: {task.description}\n\n{inspect.getdoc(contract) or ""}\n"""',
        '',
        *_imports(shown),
        '',
        *_constants(shown),
        '',
        '# The goal of an episode, table frame.',
        *goal_block(task),
        '',
        *motion_block(task, _MOTION_INTRO),
        '',
        *_CLOSED_LOOP_INTRO,
        *settings_lines('closed_loop', settings),
        '',
        '',
        *(_source(cls) + '\n' for cls in classes),
        '# The observation of one control step: a dict with these keys, in this order.',
        f'OBSERVATION_FIELDS = {_literal(fields)}',
        '',
        '',
        _source(contract.ClosedLoopPolicy),
        '',
        '# What an episode records (its as_dict() is what a Feedback class summarises).',
        _source(contract.ClosedLoopEpisode),
        '',
        *(_source(fn) + '\n' for fn in called),
        f'# The cost of an episode (config: cost: {task.cost}), of its outcome and goal and of',
        "# the episode's other numbers and the task's values below; lower is better.",
        *values,
        _source(cost),
        '',
        POLICY_STUB,
    ]
    return '\n'.join(parts)
