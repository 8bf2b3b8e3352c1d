# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Reading a language model's answer to the ICPI prompt: the grammar of an accepted delta.

Real models wrap the numbers they are asked for in prose, labels, fences, brackets and
reasoning. An answer is read in these steps, and accepted only when step 5 finds a line:

1. Cut off: a `finish_reason` of `length` (or `content_filter`) refuses the answer, whatever
   it holds: a truncated list of numbers may look complete.
2. Reasoning is dropped: `<think>...</think>` blocks (also `<thinking>`, `<reasoning>`);
   a separate `reasoning_content` field is recorded, never parsed. A block that is opened and
   never closed refuses the answer (it is all reasoning).
3. Unicode minus signs (U+2212, U+2012, U+2013, U+FE63, U+FF0D) become `-`; code-fence lines
   (```` ``` ```` or ```` ```text ````), backticks and `*` emphasis are removed.
4. Each line, in order, is reduced to a candidate: the text after its last arrow (`->`, `→`,
   `=>`) if it has one; without a list marker (`-`, `*`, `1.`); without a leading label that
   ends in `:` or `=` and holds no digit (`Δθ:`, `Answer:`, `delta_theta =`, `The change
   is:`); without enclosing brackets (`[...]`, `(...)`, `{...}`); without a trailing `.`,
   `,` or `;`. The candidate is split on commas and white space.
5. The first candidate that consists of exactly dim(θ) numbers is the answer. Numbers are
   decimals with an optional sign and exponent (`0.01`, `-2E-3`, `+.5`).

Refused, with the reason: an answer cut off (1) or all reasoning (2); no line of exactly dim(θ)
numbers, e.g. a different count on every line, or words mixed into the number line
(`0.01 0.02 0.03 because`); a number line with a non-finite value (`nan`, `inf`, `1e999`); a
change larger than `max_step_ranges` times the parameter's range.

Accepted (dim(θ) = 3): `0.01 -0.02 0.03`, `Δθ: 0.01, -0.02, 0.03`, `[0.01, -0.02, 0.03]`,
`-> 0.01 -0.02 0.03`, `0.01 −0.02 0.03.`, a fenced block, `<think>...</think>` then the
numbers, a sentence and then the numbers on the next line, a full example line
`0.05 0.1 0.3 | 0.04 -0.01 -> 0.01 -0.02 0.03`.
"""

import re

import numpy as np

from icpi_ros.core.errors import IcpiError
from icpi_ros.core.tasks import TaskSpec

# A proposed change larger than this many times a parameter's full range is absurd.
MAX_STEP_RANGES = 1.0
CUT_OFF_REASONS = ('length', 'content_filter')

_REASONING = re.compile(r'<(think|thinking|reasoning)>.*?</\1>', re.DOTALL | re.IGNORECASE)
_UNCLOSED = re.compile(r'<(think|thinking|reasoning)>', re.IGNORECASE)
_MINUS = str.maketrans({'\u2212': '-', '\u2012': '-', '\u2013': '-', '\ufe63': '-', '\uff0d': '-'})
_FENCE = re.compile(r'^\s*```[\w+-]*\s*$')
_ARROW = re.compile(r'->|→|=>')
_LABEL = re.compile(r'^[^\d\[\](){}+\-.]{0,80}?[:=]\s*')
_MARKER = re.compile(r'^\s*(?:[-*•]\s+|\d+[.)]\s+)')
_BRACKETS = re.compile(r'^\s*[\[({]\s*(.*?)\s*[\])}]\s*$')
_NUMBER = re.compile(r'^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$')
_NON_FINITE = re.compile(r'^[+-]?(nan|inf|infinity)$', re.IGNORECASE)


class ResponseRejected(IcpiError, ValueError):
    """The model's answer holds no usable delta (the message says why)."""


def _shown(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + '...')


def _candidate(line: str) -> list[str]:
    arrows = list(_ARROW.finditer(line))
    if arrows:
        line = line[arrows[-1].end() :]
    line = _MARKER.sub('', line, count=1)
    line = _LABEL.sub('', line.strip(), count=1).strip().rstrip('.,;').strip()
    inner = _BRACKETS.match(line)
    if inner:
        line = inner.group(1).rstrip('.,;')
    return [t for t in re.split(r'[\s,]+', line) if t]


def strip_reasoning(text: str) -> str:
    """Return `text` without its reasoning blocks (step 2); raise if one is left open."""
    body = _REASONING.sub('\n', text)
    if _UNCLOSED.search(body):
        raise ResponseRejected('the answer is unfinished reasoning (a block that never closes)')
    return body


def parse_delta(
    text: str,
    task: TaskSpec,
    finish_reason: str | None = None,
    max_step_ranges: float = MAX_STEP_RANGES,
) -> np.ndarray:
    """Read the delta of `task`'s parameters from a model's answer (the module's grammar).

    Raises:
        ResponseRejected: the answer was cut off, holds no line of exactly dim(theta) finite
            numbers, or proposes an absurd change.

    """
    dim = task.theta_dim
    if finish_reason in CUT_OFF_REASONS:
        raise ResponseRejected(f'the answer was cut off (finish_reason {finish_reason!r})')
    body = strip_reasoning(text).translate(_MINUS).replace('`', '').replace('*', '')
    counts: list[int] = []
    delta = None
    for line in body.splitlines():
        if _FENCE.match(line) or not line.strip():
            continue
        tokens = _candidate(line)
        if not tokens:
            continue
        numeric = [bool(_NUMBER.match(t) or _NON_FINITE.match(t)) for t in tokens]
        if not all(numeric):
            counts.append(-1)
            continue
        counts.append(len(tokens))
        if len(tokens) == dim:
            delta = np.array([float(t) for t in tokens])
            break
    if delta is None:
        seen = sorted({c for c in counts if c >= 0})
        found = [f'lines of {", ".join(map(str, seen))} numbers'] if seen else []
        if -1 in counts:
            found.append('words among the numbers')
        raise ResponseRejected(
            f'expected a line of exactly {dim} numbers; got '
            f'{" and ".join(found) or "an empty answer"} in {_shown(text)}'
        )
    if not np.all(np.isfinite(delta)):
        raise ResponseRejected(f'not finite: {_shown(text)}')
    limit = max_step_ranges * (task.theta_high - task.theta_low)
    too_big = np.flatnonzero(np.abs(delta) > limit)
    if too_big.size:
        i = int(too_big[0])
        raise ResponseRejected(
            f'change of {task.parameters[i].name} ({delta[i]:g}) exceeds {limit[i]:g}, '
            f'{max_step_ranges:g} x its range'
        )
    return delta
