# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""`icpi tasks`: the tasks, their parameters and bounds (config/tasks.yaml)."""

import argparse
import json

from icpi_ros.cli.args import add_tasks_file
from icpi_ros.cli.exit_codes import EXIT_OK


def _cmd_tasks(args: argparse.Namespace) -> int:
    import dataclasses

    from icpi_ros.core.tasks import load_tasks

    tasks = load_tasks(args.tasks_file)
    if args.json:
        out = {
            name: {
                'description': task.description,
                'goal_conditioned': task.goal_conditioned,
                'parameters': [vars(parameter) for parameter in task.parameters],
                'outcome': list(task.outcome_names),
                'default_goal': list(task.default_goal),
                'goal_low': list(task.goal_low),
                'goal_high': list(task.goal_high),
                'cost': task.cost,
                **(
                    {'closed_loop': dataclasses.asdict(task.closed_loop)}
                    if task.closed_loop is not None
                    else {}
                ),
            }
            for name, task in tasks.items()
        }
        print(json.dumps(out, indent=2))
        return EXIT_OK
    for name, task in tasks.items():
        params = ', '.join(f'{q.name} [{q.low:g}, {q.high:g}] {q.unit}' for q in task.parameters)
        print(f'{name:14s} theta: {params}')
        print(f'{"":14s} {task.description}')
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `tasks` on the `icpi` parser."""
    p = sub.add_parser('tasks', help='list the tasks and their parameter bounds')
    add_tasks_file(p)
    p.add_argument('--json', action='store_true', help='print JSON')
    p.set_defaults(func=_cmd_tasks)
