# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Closed-loop control: the policy protocol and the failed-step exception (issue 19).

An observation is a dict of plain floats (`puck`, `puck_vel`, `tool`, `tool_vel`, `goal`:
[x, y] lists in the table frame; `time_left`: seconds); an action is `[vx, vy]` (m/s).
"""

from collections.abc import Sequence
from typing import Protocol

from icpi_ros.core.errors import IcpiError


class ClosedLoopPolicy(Protocol):
    """What a rollout drives: reset once per episode, then one act() per control step."""

    def reset(self, goal: list[float]) -> None:
        """Start an episode towards `goal` ([x, y], table frame)."""

    def act(self, obs: dict) -> Sequence[float]:
        """Return the tool's planar velocity command [vx, vy] (m/s) for observation `obs`."""


class StepFailed(IcpiError):
    """A policy's step failed (late, crashed, bad action); the message says why."""
