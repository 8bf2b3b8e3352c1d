# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""A task described as Python source, for an LLM that writes policies (PromptPO).

Everything is generated: the constants from the TaskSpec (config/tasks.yaml), the motion
settings with the comments of MotionConfig's fields (`settings_lines`, also used by
`closed_loop_source`), and the source of the functions the robot really runs (theta -> tool
path: the motion kind's `source_functions`, a plugin's too) and of the task's cost function
(icpi_ros.core.scoring), read with `inspect`. Nothing here restates them by hand.
"""

import dataclasses
import inspect
import re

from icpi_ros.core.scoring import cost_function
from icpi_ros.core.tasks import TaskSpec

# MotionConfig fields that a kind touching no object on the table (a swing) does not use.
_NO_OBJECT = ('object_start', 'contact_height', 'contact_offset')
_THETA_INTRO = (
    "# How theta moves the tool: this task's motion settings (a MotionConfig of",
    '# icpi_ros.core.motion, reduced to its values), read by the functions below.',
)


def _vector(values) -> str:
    return '[' + ', '.join(f'{float(v):g}' for v in values) + ']'


def _literal(value) -> str:
    """Return a setting as Python source: numbers in short form, tuples element by element."""
    if isinstance(value, str | bool):
        return repr(value)
    if isinstance(value, tuple | list):
        return f'({", ".join(_literal(v) for v in value)})'
    return f'{value:g}'


def _field_comments(config_class: type) -> dict[str, str]:
    """Return the end-of-line comment of each field of a settings class, from its source."""
    source = inspect.getsource(config_class)
    found = re.findall(r'^\s+(\w+): [^=#\n]+#\s*(.+)$', source, flags=re.MULTILINE)
    return dict(found)


def settings_lines(
    name: str,
    value: object,
    constructor: str = 'SimpleNamespace',
    skip: tuple[str, ...] = (),
    indent: str = '',
) -> list[str]:
    """Return a dataclass instance as Python source, one field a line with its comment.

    Args:
        name: the name it is assigned to.
        value: the dataclass instance (fields that are dataclasses are written likewise).
        constructor: the callable that builds it in the source.
        skip: fields left out.
        indent: the indentation (a nested instance is a keyword argument).

    Returns:
        `name = constructor(`, a line per field (`field=value,  # its comment`), `)`.

    """
    comments = _field_comments(type(value))
    lines = [f'{indent}{name}={constructor}(' if indent else f'{name} = {constructor}(']
    for f in dataclasses.fields(value):
        if f.name in skip:
            continue
        item = getattr(value, f.name)
        comment = f'  # {comments[f.name]}' if f.name in comments else ''
        if dataclasses.is_dataclass(item):
            nested = settings_lines(f.name, item, constructor, indent=indent + '    ')
            lines += [nested[0] + comment, *nested[1:-1], nested[-1] + ',']
        else:
            lines.append(f'{indent}    {f.name}={_literal(item)},{comment}')
    lines.append(f'{indent})')
    return lines


def motion_block(task: TaskSpec, intro: tuple[str, ...] = _THETA_INTRO) -> list[str]:
    """Return the lines of the task's motion settings, with the comments of their fields."""
    primitive = task.motion.primitive
    skip = ('primitive',) + (() if primitive.touches_object else _NO_OBJECT)
    skip += () if task.motion.settings else ('settings',)
    return [
        *intro,
        'MotionConfig = SimpleNamespace',
        *settings_lines('motion', task.motion, 'MotionConfig', skip),
    ]


def goal_block(task: TaskSpec) -> list[str]:
    """Return the lines that state the task's goal range (and whether it is drawn per episode)."""
    if task.goal_conditioned:
        note = 'GOAL_CONDITIONED = True  # each episode draws a goal in [GOAL_LOW, GOAL_HIGH]'
    else:
        note = 'GOAL_CONDITIONED = False  # the goal is always DEFAULT_GOAL'
    return [
        note,
        f'DEFAULT_GOAL = np.array({_vector(task.default_goal)})',
        f'GOAL_LOW = np.array({_vector(task.goal_low)})',
        f'GOAL_HIGH = np.array({_vector(task.goal_high)})',
    ]


def render_task_source(task: TaskSpec) -> str:
    """Return the task as a Python module: constants, motion, cost function, policy stub."""
    params = task.parameters
    theta_doc = ', '.join(f'{p.name} ({p.unit})' for p in params)
    goal_doc = ', '.join(task.outcome_names)
    thing = task.sim_object or 'object'
    primitive = task.motion.primitive
    header = inspect.getdoc(inspect.getmodule(primitive.tool_path)) or ''
    cost = cost_function(task)
    parts = [
        f'"""Task {task.name}: {task.description}\n\n{header}\n"""',
        '',
        'from types import SimpleNamespace',
        '',
        'import numpy as np',
        '',
        '# Policy parameters theta, in this order; clipped to [THETA_LOW, THETA_HIGH] before the',
        '# robot moves.',
        f'THETA_NAMES = {tuple(p.name for p in params)!r}',
        f'THETA_UNITS = {tuple(p.unit for p in params)!r}',
        f'THETA_LOW = np.array({_vector(task.theta_low)})',
        f'THETA_HIGH = np.array({_vector(task.theta_high)})',
        '',
        f'# Outcome of a trial ({thing}): ({goal_doc}) in {task.outcome_unit}, table frame (z up);',
        '# the cost compares it with the goal.',
        f'OUTCOME_NAMES = {task.outcome_names!r}',
        f'OUTCOME_UNIT = {task.outcome_unit!r}',
        *goal_block(task),
        f'TRIAL_DURATION_S = {task.trial_duration_s:g}',
        '',
        *motion_block(task),
        '',
        '',
        *(inspect.getsource(fn).rstrip() + '\n\n' for fn in primitive.source_functions),
        f"tool_path = {primitive.tool_path.__name__}  # theta -> the tool tip's path",
        '',
        '',
        f'# The cost of a trial (config: cost: {task.cost}); lower is better.',
        inspect.getsource(cost).rstrip(),
        '',
        '',
        'def policy(goal: np.ndarray) -> list[float]:',
        f'    """Return theta = [{theta_doc}] for goal = [{goal_doc}] ({task.outcome_unit}).',
        '',
        '    To be written: called once per trial, the returned theta is clipped to the bounds.',
        '    """',
        '    raise NotImplementedError',
        '',
    ]
    return '\n'.join(parts)
