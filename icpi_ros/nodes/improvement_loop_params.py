# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The improvement loop's parameters, declared in one place: `declare_params(node)`.

All are read-only. `llm.*` and `promptpo.sandbox` are the planner's (the same declarations):
the loop itself asks the LLM in closed-loop PromptPO (promptpo on a closed-loop task).
"""

from dataclasses import dataclass

from rclpy.node import Node

from icpi_ros.core.llm import LLMConfig
from icpi_ros.nodes.icpi_planner_params import declare_llm, declare_promptpo_sandbox
from icpi_ros.nodes.runtime import declare


@dataclass(frozen=True)
class ImprovementLoopParams:
    """Every improvement_loop parameter, as declared at start-up."""

    tasks_file: str
    runs_dir: str
    executor_action: str
    planner_service: str
    trial_timeout_s: float
    planner_timeout_s: float
    llm: LLMConfig  # llm.*: closed-loop PromptPO's endpoint
    promptpo_sandbox: str  # closed-loop PromptPO: isolation of the Feedback class


def declare_params(node: Node) -> ImprovementLoopParams:
    """Declare the loop's parameters on `node` and return their values."""
    return ImprovementLoopParams(
        tasks_file=declare(
            node, 'tasks_file', '', 'Task definitions; empty: package config.', read_only=True
        ),
        runs_dir=declare(
            node,
            'runs_dir',
            '',
            'Where run records go; empty: $ICPI_RUNS_DIR, else ./runs.',
            read_only=True,
        ),
        executor_action=declare(
            node,
            'executor_action',
            '/trial_executor/execute_trial',
            'ExecuteTrial action of the trial executor.',
            read_only=True,
        ),
        planner_service=declare(
            node,
            'planner_service',
            '/icpi_planner/next_policy',
            'NextPolicy service of the planner.',
            read_only=True,
        ),
        trial_timeout_s=declare(
            node,
            'trial_timeout_s',
            90.0,
            'Wall-clock limit of one trial (s).',
            read_only=True,
            float_range=(1.0, 3600.0),
        ),
        planner_timeout_s=declare(
            node,
            'planner_timeout_s',
            180.0,
            'Wall-clock limit of one NextPolicy call (s; an LLM with retries can be slow).',
            read_only=True,
            float_range=(0.1, 3600.0),
        ),
        llm=declare_llm(node),
        promptpo_sandbox=declare_promptpo_sandbox(node),
    )
