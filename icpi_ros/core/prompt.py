# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The ICPI prompt: k example lines `theta | e -> delta`, the query last.

The model completes a numeric pattern; it is told the units but not the physics. Numbers are
fixed-precision decimals in SI units, separated by single spaces, which keeps a k = 20 prompt
under 1,000 tokens for three parameters. How answers are read: icpi_ros.core.answers.
"""

import re
from dataclasses import dataclass

import numpy as np

from icpi_ros.core.dataset import ImprovementDataset
from icpi_ros.core.retrieval import ENCODING_BLOCKS, check_encoding
from icpi_ros.core.tasks import TaskSpec

DEFAULT_DECIMALS = 4
ARROW = '->'
# Rough GPT-style token count: numbers split into runs of up to 3 digits, words, symbols.
_TOKEN = re.compile(r'\d{1,3}|[A-Za-z]+|[^\sA-Za-z\d]')


@dataclass(frozen=True)
class Prompt:
    """Chat messages of one query, and the text lines for the run record."""

    messages: list[dict[str, str]]
    lines: list[str]

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


def system_message(task: TaskSpec, encoding: str) -> str:
    """Instructions: what the columns are and the exact answer format."""
    theta = ', '.join(f'{p.name} ({p.unit})' for p in task.parameters)
    outcome = ', '.join(task.outcome_names)
    if encoding == 'error':
        columns = f'parameters | error = outcome - goal ({outcome}, {task.outcome_unit})'
    else:
        columns = (
            f'parameters | outcome ({outcome}, {task.outcome_unit}) | goal ({outcome}, '
            f'{task.outcome_unit})'
        )
    return (
        f'You improve a robot motion. Parameters: {theta}. Each line reads: {columns} '
        f'{ARROW} the parameter change that reaches the goal. Complete the last line. '
        f'Answer with exactly {task.theta_dim} numbers separated by spaces and nothing else.'
    )


def build_prompt(
    task: TaskSpec,
    dataset: ImprovementDataset,
    indices: np.ndarray,
    theta: np.ndarray,
    error: np.ndarray,
    goal: np.ndarray | None = None,
    encoding: str = 'error',
    decimals: int = DEFAULT_DECIMALS,
) -> Prompt:
    """Build the example lines in the given order (farthest first), then the query line."""
    check_encoding(encoding)
    blocks = dataset.blocks()
    lines = [
        f'{_left_side({b: v[i] for b, v in blocks.items()}, encoding, decimals)} {ARROW} '
        f'{_numbers(dataset.delta_theta[i], decimals)}'
        for i in indices
    ]
    query = {'theta': theta, 'error': error}
    if goal is not None:
        query.update(outcome=goal + error, goal=goal)
    lines.append(f'{_left_side(query, encoding, decimals)} {ARROW}')
    messages = [
        {'role': 'system', 'content': system_message(task, encoding)},
        {'role': 'user', 'content': '\n'.join(lines)},
    ]
    return Prompt(messages=messages, lines=lines)
