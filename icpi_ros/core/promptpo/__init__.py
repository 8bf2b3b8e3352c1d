# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""PromptPO: the LLM writes policies as Python code, run in a sandbox, tried on the robot.

- `improver`: the `promptpo` improver (rounds of candidates, one trial each).
- `task_source`: the task rendered as Python source for the prompt.
- `sandbox`: the parent side of the sandbox (process, limits, protocol, validation);
  `sandbox_child` runs in the child (by file path, importing nothing from icpi_ros);
  `sandbox_kernel`: bubblewrap namespaces and the seccomp filter.

Nothing is imported here: the sandbox child and the planner import only what they need.
"""
