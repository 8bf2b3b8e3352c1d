# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The ICPI prompt: k example lines `theta | e -> delta`, the query last.

The model completes a numeric pattern; it is told the units but not the physics. Numbers are
fixed-precision decimals in SI units, separated by single spaces, which keeps a k = 20 prompt
under 1,000 tokens for three parameters. Example lines that are the robot's own experience
(episode memory, icpi_ros.core.episode_memory) start with `EPISODE_MARK`, and the system
message says so; without such lines the prompt is as before. How answers are read:
icpi_ros.core.answers.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from icpi_ros.core.dataset import ImprovementDataset
from icpi_ros.core.retrieval import ENCODING_BLOCKS, ExampleRows, check_encoding
from icpi_ros.core.tasks import TaskSpec

DEFAULT_DECIMALS = 4
ARROW = '->'
# Starts an example line from the robot's own trials in this episode.
EPISODE_MARK = '*'
# Rough GPT-style token count: numbers split into runs of up to 3 digits, words, symbols.
_TOKEN = re.compile(r'\d{1,3}|[A-Za-z]+|[^\sA-Za-z\d]')


@dataclass(frozen=True)
class Prompt:
    """Chat messages of one query, and the text lines for the run record."""

    messages: list[dict[str, str]]
    lines: list[str]
    # Example lines (0-based) from the episode's own trials, marked with EPISODE_MARK.
    episode_lines: tuple[int, ...] = ()

    @property
    def text(self) -> str:
        """All messages as one string (for size estimates and records)."""
        return '\n'.join(m['content'] for m in self.messages)

    @property
    def completion_text(self) -> str:
        """The example lines and the query line as one raw prompt (the completions form)."""
        return '\n'.join(self.lines)


def estimate_tokens(text: str) -> int:
    """Estimate the tokens of `text` for GPT-4-family tokenisers (no tokenizer offline)."""
    return len(_TOKEN.findall(text))


def _numbers(values: np.ndarray, decimals: int) -> str:
    return ' '.join(f'{v:.{decimals}f}' for v in np.atleast_1d(values))


def _left_side(blocks: dict[str, np.ndarray], encoding: str, decimals: int) -> str:
    return ' | '.join(_numbers(blocks[b], decimals) for b in ENCODING_BLOCKS[encoding])


def system_message(task: TaskSpec, encoding: str, marked: bool = False) -> str:
    """Instructions: what the columns are and the exact answer format.

    Args:
        task: the task (parameter names and units, outcome names).
        encoding: 'error' or 'raw' (the columns).
        marked: some example lines are marked as the robot's own trials (say what the mark
            means).

    Returns:
        The system message.

    """
    theta = ', '.join(f'{p.name} ({p.unit})' for p in task.parameters)
    outcome = ', '.join(task.outcome_names)
    if encoding == 'error':
        columns = f'parameters | error = outcome - goal ({outcome}, {task.outcome_unit})'
    else:
        columns = (
            f'parameters | outcome ({outcome}, {task.outcome_unit}) | goal ({outcome}, '
            f'{task.outcome_unit})'
        )
    own = (
        f"Lines starting with {EPISODE_MARK} are from this robot's own trials in this episode. "
        if marked
        else ''
    )
    return (
        f'You improve a robot motion. Parameters: {theta}. Each line reads: {columns} '
        f'{ARROW} the parameter change that reaches the goal. {own}Complete the last line. '
        f'Answer with exactly {task.theta_dim} numbers separated by spaces and nothing else.'
    )


def build_prompt(
    task: TaskSpec,
    dataset: ImprovementDataset | ExampleRows,
    indices: np.ndarray,
    theta: np.ndarray,
    error: np.ndarray,
    goal: np.ndarray | None = None,
    encoding: str = 'error',
    decimals: int = DEFAULT_DECIMALS,
    from_episode: Sequence[bool] = (),
) -> Prompt:
    """Build the example lines in the given order (farthest first), then the query line.

    Args:
        task: the task.
        dataset: the examples (a dataset, or retrieved rows).
        indices: the rows of `dataset` to show, in order.
        theta: the query's theta.
        error: the query's relative error.
        goal: the query's goal (needed by the raw encoding).
        encoding: 'error' or 'raw'.
        decimals: digits after the point of every number.
        from_episode: per shown row, whether it is the robot's own experience (marked);
            empty: none is.

    Returns:
        The prompt: chat messages and the text lines.

    Raises:
        InvalidInput: an unknown encoding.

    """
    check_encoding(encoding)
    blocks = dataset.blocks()
    marked = [i for i, own in enumerate(from_episode) if own]
    lines = [
        f'{_left_side({b: v[i] for b, v in blocks.items()}, encoding, decimals)} {ARROW} '
        f'{_numbers(dataset.delta_theta[i], decimals)}'
        for i in indices
    ]
    for line in marked:
        lines[line] = f'{EPISODE_MARK} {lines[line]}'
    query = {'theta': theta, 'error': error}
    if goal is not None:
        query.update(outcome=goal + error, goal=goal)
    lines.append(f'{_left_side(query, encoding, decimals)} {ARROW}')
    messages = [
        {'role': 'system', 'content': system_message(task, encoding, bool(marked))},
        {'role': 'user', 'content': '\n'.join(lines)},
    ]
    return Prompt(messages=messages, lines=lines, episode_lines=tuple(marked))
