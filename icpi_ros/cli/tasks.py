# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""`icpi tasks`: the tasks of every installed plugin, their parameters and bounds; --check."""

import argparse
import json
import sys

from icpi_ros.cli.args import add_tasks_file
from icpi_ros.cli.exit_codes import EXIT_FAILED, EXIT_OK


def _cmd_tasks(args: argparse.Namespace) -> int:
    import dataclasses

    from icpi_ros.core.task_plugins import plugin_registry
    from icpi_ros.core.tasks import load_tasks

    tasks = load_tasks(args.tasks_file)
    for plugin, why in plugin_registry().refused.items():
        print(f'warning: plugin {plugin} refused: {why}', file=sys.stderr)
    if args.check is not None:
        return _check(tasks, args.check)
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
                'plugin': task.plugin,
                'motion': task.motion.kind,
                'outcome_kind': task.outcome_kind,
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
        if task.plugin != 'icpi_ros':
            print(
                f'{"":14s} (plugin {task.plugin}: motion {task.motion.kind}, outcome '
                f'{task.outcome_kind})'
            )
    return EXIT_OK


def _check(tasks, names: list[str]) -> int:
    """Check the named tasks (all when none): motion at theta's corners, simulated outcome."""
    from icpi_ros.core.task_check import check_task

    failed = 0
    for name in names or list(tasks):
        found = check_task(tasks[name])
        for problem in found.problems:
            print(f'FAIL {problem}')
        if not found.problems:
            plans = f'{found.plans} plans within limits' if found.plans else 'closed loop'
            outcome = (
                ''
                if found.outcome is None
                else '; simulated outcome [' + ', '.join(f'{v:.4g}' for v in found.outcome) + ']'
            )
            print(f'ok   {name} ({found.plugin}): {plans}{outcome}')
        failed += bool(found.problems)
    return EXIT_FAILED if failed else EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `tasks` on the `icpi` parser."""
    p = sub.add_parser('tasks', help='list the tasks and their parameter bounds')
    add_tasks_file(p)
    p.add_argument('--json', action='store_true', help='print JSON')
    p.add_argument(
        '--check',
        nargs='*',
        metavar='TASK',
        help="check tasks (all when none named): the motion at every corner of theta's box "
        "within the arm's limits, one simulated trial's outcome of the right size",
    )
    p.set_defaults(func=_cmd_tasks)
