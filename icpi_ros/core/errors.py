# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The base of every icpi_ros exception, and the two kinds the `icpi` command reports.

Each exception stays in the module whose concept it names (`validation.InvalidInput`,
`motion.PlanRejected`, `llm.LLMError`, ...) and derives from `IcpiError`, keeping the
built-in base it had (`ValueError`, `RuntimeError`) so that code catching that still does.
`except IcpiError` catches every exception the project raises on purpose.

The `icpi` command (`cli.main`) decides by class what an exception that reaches it means:
`Rejected` exits with EXIT_REJECTED, `Failed` with EXIT_FAILED, each with its message and no
traceback; any other exception keeps its traceback.
"""


class IcpiError(Exception):
    """Base of every exception icpi_ros raises on purpose."""


class Rejected(IcpiError, ValueError):
    """Input from outside that cannot be used: the message names the field and the reason."""


class Failed(IcpiError, RuntimeError):
    """The work ran and gave no usable result (a planner step, an LLM endpoint)."""
