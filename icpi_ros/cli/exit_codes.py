# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Exit codes of the `icpi` commands, one meaning each across every subcommand."""

EXIT_OK = 0
# `icpi demo` only (its code from before these): the graph did not start, the run failed, or
# a node did not stop cleanly.
EXIT_DEMO_FAILED = 1
EXIT_REJECTED = 2  # bad input, refused with the reason
EXIT_UNAVAILABLE = 3  # nothing answered: no graph, no planner, no sandbox
EXIT_FAILED = 4  # the work ran and failed (a run, a step, a server)
EXIT_INTERRUPTED = 130  # Ctrl-C, partial results kept
