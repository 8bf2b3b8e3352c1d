# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""PromptPO's messages to the LLM and the code read out of its answers.

Each round's prompt holds the task as Python source (`task_source`), the episode's goal, the
trials at this goal (the latest `FEEDBACK_TRIALS`), the last round's results (cost and error
per candidate, or why it was discarded) and the best code so far.
"""

import re

import numpy as np

from icpi_ros.core.promptpo.sandbox import SandboxLimits
from icpi_ros.core.promptpo.state import Episode
from icpi_ros.core.promptpo.task_source import render_task_source
from icpi_ros.core.tasks import TaskSpec

# Trials listed in the prompt: the most recent ones (the best is always shown with its code).
FEEDBACK_TRIALS = 40
DECIMALS = 4
_DISCARDED = 'a candidate that breaks one is discarded'
_FENCED = re.compile(r'```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)```', re.DOTALL | re.IGNORECASE)


def extract_code(text: str, bare_marker: str = 'def policy') -> list[str]:
    """Return the fenced code blocks of an answer (or the whole answer if it is bare code).

    Args:
        text: the model's answer.
        bare_marker: an answer without fences that contains this is taken as bare code.

    Returns:
        Each block's code, ending with a newline; empty when the answer holds no code.

    """
    blocks = [block.strip('\n') + '\n' for block in _FENCED.findall(text) if block.strip()]
    if not blocks and bare_marker in text:
        blocks = [text.strip('\n') + '\n']
    return blocks


def _vec(values: np.ndarray) -> str:
    return '[' + ', '.join(f'{v:.{DECIMALS}f}' for v in values) + ']'


def code_rules(max_code_bytes: int, broken: str = _DISCARDED) -> str:
    """Return the sandbox's rules for LLM-written code, as stated to the model.

    Args:
        max_code_bytes: the largest source the sandbox accepts.
        broken: what becomes of code that breaks a rule.

    Returns:
        One sentence, without a final full stop.

    """
    return (
        f'Rules, enforced by a sandbox ({broken}): import only '
        'math and numpy (numpy.linalg, numpy.random, numpy.fft); no files, no other modules, '
        'no names starting with an underscore after a dot or with two underscores (methods '
        'such as __init__ excepted), plain classes only (no metaclass); '
        f'at most {max_code_bytes} bytes'
    )


def system_message(task: TaskSpec, n: int, limits: SandboxLimits) -> str:
    """Return the system message: what to write, the sandbox's rules and the answer format.

    Args:
        task: the task whose theta the policies return.
        n: the number of candidates asked for.
        limits: the sandbox's limits, stated to the model.

    Returns:
        The message text.

    """
    names = ', '.join(f'{p.name} ({p.unit})' for p in task.parameters)
    return (
        'You write robot control policies as Python code. The user shows the task as a Python '
        'module: the policy parameters theta and their bounds, how theta moves the robot, and '
        'the cost function. Write the missing function `policy(goal)` (or a class `Policy` '
        'whose method `act(self, goal)` is called): it returns theta, a '
        f'list of {task.theta_dim} floats ({names}). Every candidate is run once on the robot '
        "at this episode's goal and you are told its outcome and cost (lower is better); use "
        'all trials to improve.\n'
        f'{code_rules(limits.max_code_bytes)}; return within {limits.timeout_s:g} s using '
        f'at most {limits.memory_mb:g} MB. theta is clipped to the bounds.\n'
        f'Answer with {n} different candidates, each a complete program in its own ```python '
        'block.'
    )


def _trials_block(episode: Episode) -> str:
    shown = episode.trials[-FEEDBACK_TRIALS:]
    skipped = len(episode.trials) - len(shown)
    older = f' ({skipped} older ones not shown)' if skipped else ''
    lines = [
        f'Trials at this goal, oldest first{older}: (theta, outcome, cost).',
        '```python',
        'TRIALS = [',
    ]
    for trial in shown:
        lines.append(
            f'    ({_vec(trial.theta)}, {_vec(trial.outcome)}, {trial.cost:.{DECIMALS}f}),'
            f'  # {trial.source}'
        )
    lines += [']', '```']
    return '\n'.join(lines)


def _round_block(episode: Episode) -> str:
    lines = [f'Round {episode.round} results:']
    for candidate in episode.candidates:
        if candidate.status == 'scored':
            error = _vec(candidate.error)
            what = f'cost {candidate.cost:.{DECIMALS}f}, error (outcome - goal) {error}'
            if candidate.result.clipped:
                what += f', theta clipped to the bounds: {_vec(candidate.result.theta)}'
        elif candidate.status == 'rejected':
            what = f'discarded, no trial: {candidate.reason}'
        else:
            what = 'not executed'
        lines.append(f'- candidate {candidate.index} (code {candidate.sha}): {what}')
    return '\n'.join(lines)


def _best_block(episode: Episode) -> str:
    best = episode.best
    return (
        f'Best policy so far: {best.label()}, cost {best.cost:.{DECIMALS}f} '
        f'{episode.task.outcome_unit}.\n'
        f'```python\n{best.code}```'
    )


def round_messages(episode: Episode, n: int, limits: SandboxLimits) -> list[dict[str, str]]:
    """Return the chat messages asking for the next round.

    Args:
        episode: the episode so far (its trials, last round and best candidate).
        n: the number of candidates asked for.
        limits: the sandbox's limits, stated to the model.

    Returns:
        The system message and one user message: task source, goal, trials, the last
        round's results (if any) and the best code so far (if any).

    """
    parts = [
        f'The task:\n```python\n{render_task_source(episode.task)}```',
        f"This episode's goal: GOAL = {_vec(episode.goal)}",
        _trials_block(episode),
    ]
    if episode.candidates:
        parts.append(_round_block(episode))
    if episode.best is not None:
        parts.append(_best_block(episode))
    parts.append(f'Write {n} candidate policies for round {episode.round + 1}.')
    return [
        {'role': 'system', 'content': system_message(episode.task, n, limits)},
        {'role': 'user', 'content': '\n\n'.join(parts)},
    ]


def retry_message(rejected: list[dict], n: int) -> str:
    """Return the follow-up after an answer in which no candidate gave a usable theta.

    Args:
        rejected: the reports of the rejected candidates ('candidate', 'reason').
        n: the number of candidates asked for.

    Returns:
        The user message listing the reasons.

    """
    reasons = '\n'.join(f'- candidate {r["candidate"]}: {r["reason"]}' for r in rejected)
    return (
        f'None of these candidates gave a usable theta:\n{reasons}\n'
        f'Write {n} new candidates that follow the rules, each in its own ```python block.'
    )
