# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The ICPI prompt: k example lines `theta | e -> delta`, the query last; and strict parsing.

The model completes a numeric pattern; it is told the units but not the physics. Numbers are
fixed-precision decimals in SI units, separated by single spaces, which keeps a k = 20 prompt
under 1,000 tokens for three parameters.
"""

import re
from dataclasses import dataclass

import numpy as np

from icpi_ros.core.dataset import ImprovementDataset
from icpi_ros.core.retrieval import ENCODING_BLOCKS, check_encoding
from icpi_ros.core.tasks import TaskSpec

DEFAULT_DECIMALS = 4
# A proposed change larger than this many times a parameter's full range is absurd.
MAX_STEP_RANGES = 1.0
ARROW = '->'
_NUMBER = re.compile(r'^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$')
# Rough GPT-style token count: numbers split into runs of up to 3 digits, words, symbols.
_TOKEN = re.compile(r'\d{1,3}|[A-Za-z]+|[^\sA-Za-z\d]')


class ResponseRejected(ValueError):
    """The model's answer is not exactly dim(theta) finite, plausible numbers."""


@dataclass(frozen=True)
class Prompt:
    """Chat messages of one query, and the text lines for the run record."""

    messages: list[dict[str, str]]
    lines: list[str]

    @property
    def text(self) -> str:
        """All messages as one string (for size estimates and records)."""
        return '\n'.join(m['content'] for m in self.messages)


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


def parse_delta(text: str, task: TaskSpec, max_step_ranges: float = MAX_STEP_RANGES) -> np.ndarray:
    """Parse the answer: exactly dim(theta) finite numbers, each a plausible change.

    Accepted: the numbers alone, separated by spaces or commas, optionally after the arrow.
    Anything else (words, a different count, NaN, inf, a change larger than
    `max_step_ranges` times the parameter's range) raises ResponseRejected.
    """
    body = text.strip()
    if body.startswith(ARROW):
        body = body[len(ARROW) :].strip()
    tokens = [t for t in re.split(r'[\s,]+', body) if t]
    shown = text if len(text) <= 80 else text[:77] + '...'
    if len(tokens) != task.theta_dim:
        raise ResponseRejected(f'expected {task.theta_dim} numbers, got {shown!r}')
    bad = [t for t in tokens if not _NUMBER.match(t)]
    if bad:
        raise ResponseRejected(f'{bad[0]!r} is not a number in {shown!r}')
    delta = np.array([float(t) for t in tokens])
    if not np.all(np.isfinite(delta)):
        raise ResponseRejected(f'not finite: {shown!r}')
    limit = max_step_ranges * (task.theta_high - task.theta_low)
    too_big = np.flatnonzero(np.abs(delta) > limit)
    if too_big.size:
        i = int(too_big[0])
        raise ResponseRejected(
            f'change of {task.parameters[i].name} ({delta[i]:g}) exceeds {limit[i]:g}, '
            f'{max_step_ranges:g} x its range'
        )
    return delta
