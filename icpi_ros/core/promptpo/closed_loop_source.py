# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""A closed-loop task described as Python source, for an LLM that writes controllers (PromptPO).

The closed-loop counterpart of `task_source`: the observation of one control step, the action
and its limits, and the cost, all generated. The goal range comes from the TaskSpec
(config/tasks.yaml); the control rate, episode length and command limits from the task's
motion settings (with their fields' comments); the observation fields, the policy interface
and the episode record from the closed-loop module (`icpi_ros.core.closed_loop`:
`OBSERVATION_FIELDS`, `ClosedLoopPolicy`, `ClosedLoopEpisode`, its docstring), and the cost
from the real cost function, read with `inspect`, with the imports of their modules that
they use (so the source runs). Nothing here restates them by hand.
"""

import ast
import importlib
import inspect
import pprint
from collections.abc import Mapping
from types import ModuleType

from icpi_ros.core.promptpo.task_source import goal_block, motion_block
from icpi_ros.core.scoring import COST_FUNCTIONS
from icpi_ros.core.tasks import TaskSpec

CLOSED_LOOP_MODULE = 'icpi_ros.core.closed_loop'
_MOTION_INTRO = (
    "# This task's motion settings (icpi_ros.core.motion, reduced to its values): the control",
    '# rate, the episode length and the limits every action is clipped to.',
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


def _imports(objects: list[object]) -> list[str]:
    """Return the import lines of the objects' modules that bind a name their source uses."""
    used = {
        node.id
        for obj in objects
        for node in ast.walk(ast.parse(_source(obj)))
        if isinstance(node, ast.Name)
    }
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


def _literal(value: object) -> str:
    """Return the observation fields as Python source, a mapping one entry per line."""
    if not isinstance(value, Mapping):
        return pprint.pformat(value, width=90, sort_dicts=False)
    return '{\n' + ''.join(f'    {k!r}: {v!r},\n' for k, v in value.items()) + '}'


def render_closed_loop_source(task: TaskSpec, contract: ModuleType | None = None) -> str:
    """Return a closed-loop task as a Python module: goals, limits, observation, cost, stub.

    Args:
        task: the task (its goal range, motion settings and cost).
        contract: the module with `OBSERVATION_FIELDS`, `ClosedLoopPolicy` and
            `ClosedLoopEpisode` (default: `icpi_ros.core.closed_loop`).

    Returns:
        The source: a module that runs (the policy stub raises NotImplementedError).

    Raises:
        AttributeError: the contract lacks one of those names.
        OSError: the source of one of them cannot be read.

    """
    contract = contract or closed_loop_contract()
    fields = _literal(contract.OBSERVATION_FIELDS)
    header = inspect.getdoc(contract) or ''
    cost = COST_FUNCTIONS[task.cost]
    shown = [contract.ClosedLoopPolicy, contract.ClosedLoopEpisode, cost]
    parts = [
        f'"""Task {task.name}: {task.description}\n\n{header}\n"""',
        '',
        *_imports(shown),
        '',
        '# The goal of an episode, table frame.',
        *goal_block(task),
        '',
        *motion_block(task, _MOTION_INTRO),
        '',
        '# The observation of one control step: a dict with these keys, in this order.',
        f'OBSERVATION_FIELDS = {fields}',
        '',
        '',
        _source(contract.ClosedLoopPolicy),
        '',
        '# What an episode records (its as_dict() is what a Feedback class summarises).',
        _source(contract.ClosedLoopEpisode),
        '',
        f'# The cost of an episode (config: cost: {task.cost}); lower is better.',
        _source(cost),
        '',
        POLICY_STUB,
    ]
    return '\n'.join(parts)
