# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""PromptPO: the LLM writes policies as Python code, run in a sandbox, tried on the robot.

- `improver`: the `promptpo` improver (rounds of candidates, one trial each).
- `state`: one episode's rounds, candidates, trials and best candidate.
- `prompting`: the messages to the LLM and the code read out of its answers.
- `task_source`: the task rendered as Python source for the prompt.
- `sandbox`: the parent side of the sandbox (process, limits, protocol, validation);
  `static_check`: layer 1, before any process; `sandbox_child` runs in the child (by file
  path, importing nothing from icpi_ros); `sandbox_kernel`: bubblewrap and seccomp.

Nothing is imported here: the sandbox child and the planner import only what they need.
"""
