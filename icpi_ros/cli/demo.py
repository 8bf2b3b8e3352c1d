# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""`icpi demo`: the sim graph brought up headless, one Improve goal over it, then stopped."""

import argparse

from icpi_ros.cli.args import floats


def _cmd_demo(args: argparse.Namespace) -> int:
    from icpi_ros.graph.demo import run_demo

    return run_demo(
        args.task,
        args.iterations,
        args.goal,
        args.improver,
        args.seed,
        args.log_level,
        local_llm=args.local_llm,
    )


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `demo` on the `icpi` parser."""
    p = sub.add_parser(
        'demo',
        help='bring the sim graph up headless and improve a policy over it',
        description='Start sim_bridge, trajectory_tracker, icpi_planner, trial_executor, '
        'improvement_loop and run_recorder as processes on a free ROS_DOMAIN_ID, send one '
        'Improve goal, print each iteration, write runs/<run-id>/ (with the run.mcap bag) and '
        'stop the graph.',
    )
    p.add_argument('--task', default='slide-gc')
    p.add_argument('--iterations', type=int, default=20)
    p.add_argument('--goal', type=floats, default=None, help="default: the task's default")
    p.add_argument('--improver', default='auto', help='auto: llm with an endpoint, else knn_linear')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument(
        '--local-llm',
        action='store_true',
        help='also start the local LLM (icpi llm serve; make setup-llm) for the planner',
    )
    p.add_argument(
        '--log-level',
        default='info',
        choices=('debug', 'info'),
        help='log level of the nodes (their output goes to <run>/nodes/*.log; the bringup '
        "waits for each node's info-level ready line)",
    )
    p.set_defaults(func=_cmd_demo)
