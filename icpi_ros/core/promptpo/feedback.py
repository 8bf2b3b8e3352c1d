# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The LLM-written `Feedback` summariser of closed-loop PromptPO, run in the sandbox.

As the PromptPO authors do, the LLM writes once a small class that turns one trajectory into
a few named statistics, shown in later prompts next to each episode's cost:

    class Feedback:
        def summarise(self, episode):   # `summarize` is accepted too
            ...
            return {'final_distance': ..., 'max_speed': ...}

`episode` is the episode as a JSON-friendly dict (`ClosedLoopEpisode.as_dict()`: at least
`observations`, a list of observation dicts, and `actions`, a list of [vx, vy]). The class
runs in a child of its own with the layers of the policy process (`policy_process`): the
static check (a top-level `class Feedback` with `summarise`), the restricted runtime, the
process limits, the kernel isolation, and validation here: at most `MAX_STATISTICS` names,
each a short identifier, each value a finite number.
"""

import math
import re

from icpi_ros.core.promptpo.policy_process import SandboxedObject, SandboxFailed
from icpi_ros.core.promptpo.sandbox import SandboxLimits

MAX_STATISTICS = 20
MAX_NAME_CHARS = 40
NAME = re.compile(rf'[A-Za-z_][A-Za-z0-9_]{{0,{MAX_NAME_CHARS - 1}}}')
# Start-up, then the one call, each within timeout_s.
FEEDBACK_LIMITS = SandboxLimits(timeout_s=2.0, cpu_s=1.0)


def validate_summary(value: object) -> dict[str, float]:
    """Check a summary: 1 to MAX_STATISTICS short identifier names, each a finite number.

    Raises:
        ValueError: naming what is wrong.

    """
    if not isinstance(value, dict):
        got = 'nothing (None)' if value is None else f'a {type(value).__name__}'
        raise ValueError(f'expected a dict of named numbers, got {got}')
    if not 0 < len(value) <= MAX_STATISTICS:
        raise ValueError(f'expected 1 to {MAX_STATISTICS} statistics, got {len(value)}')
    out = {}
    for name, v in value.items():
        if not NAME.fullmatch(name):
            raise ValueError(
                f'bad name {name[:MAX_NAME_CHARS]!r}: an identifier of at most '
                f'{MAX_NAME_CHARS} characters'
            )
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f'{name} is a {type(v).__name__}, not a number')
        if not math.isfinite(v):
            raise ValueError(f'not finite: {name} = {v}')
        out[name] = float(v)
    return out


def summarise_trajectory(
    source: str, episode: dict, limits: SandboxLimits | None = None
) -> dict[str, float]:
    """Run the LLM's `Feedback().summarise(episode)` in a one-shot sandbox; validate it.

    Args:
        source: the code defining `class Feedback` with `summarise(self, episode)`.
        episode: the trajectory as a JSON-friendly dict (observations, actions, ...).
        limits: the child's limits (default `FEEDBACK_LIMITS`).

    Returns:
        The statistics, name -> finite float, in the order the code gave them.

    Raises:
        SandboxFailed: the code was refused, failed, or returned a bad summary; `stage`
            says where and the message why (redacted).

    """
    limits = limits or FEEDBACK_LIMITS
    feedback = SandboxedObject(
        source, 'Feedback', {'summarise': ('summarise', 'summarize')}, ('summarise',), limits
    )
    try:
        value = feedback.call('summarise', [episode], limits.timeout_s)
        try:
            return validate_summary(value)
        except ValueError as exc:
            feedback.stop(f'bad summary: {exc}', 'validation')
            raise SandboxFailed(feedback.failure, feedback.stage) from None
    finally:
        feedback.close()
