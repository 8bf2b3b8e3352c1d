# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""`icpi next-policy` and `icpi improve-graph`: a client of a running graph."""

import argparse
import json
import math
import sys

from icpi_ros.cli.args import floats
from icpi_ros.cli.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_REJECTED, EXIT_UNAVAILABLE


def _cmd_next_policy(args: argparse.Namespace) -> int:
    from icpi_ros.graph.client import GraphUnavailable, ICPIClient

    with ICPIClient(planner=args.planner) as client:
        try:
            response = client.next_policy(
                args.task,
                args.theta,
                error=args.error,
                outcome=args.outcome,
                goal=args.goal,
                improver=args.improver,
                timeout_s=args.timeout,
                run_id=args.run_id,
                history_theta=args.history_theta,
                history_outcome=args.history_outcome,
            )
        except GraphUnavailable as exc:
            print(f'icpi next-policy: {exc}', file=sys.stderr)
            return EXIT_UNAVAILABLE
    result = {
        'success': response.success,
        'message': response.message,
        'theta_next': list(response.theta_next),
        'delta_theta': list(response.delta_theta),
        'improver_used': response.improver_used,
        'clipped': response.clipped,
        'details': json.loads(response.details_json or '{}'),
    }
    if args.json:
        print(json.dumps(result))
    elif response.success:
        print(f'theta_next = {result["theta_next"]} ({response.message})')
    else:
        print(f'icpi next-policy: {response.message}', file=sys.stderr)
    return EXIT_OK if response.success else EXIT_REJECTED


def _closed_loop_trials(task_name: str, promptpo: tuple[int, int, int]) -> int | None:
    """Return the trials closed-loop PromptPO plans on `task_name` (None: not closed loop)."""
    from icpi_ros.core.promptpo.closed_loop_state import SearchSettings
    from icpi_ros.core.tasks import load_tasks
    from icpi_ros.core.validation import InvalidInput

    try:
        task = load_tasks()[task_name]
    except InvalidInput:  # unknown here: the graph's loop answers for it
        return None
    if task.closed_loop is None:
        return None
    default = SearchSettings()
    fallback = (default.rounds, default.candidates, default.episodes)
    rounds, candidates, episodes = (a or b for a, b in zip(promptpo, fallback, strict=True))
    return rounds * candidates * episodes  # without repairs


def _cmd_improve_graph(args: argparse.Namespace) -> int:
    from action_msgs.msg import GoalStatus
    from icpi_interfaces.action import Improve

    from icpi_ros.graph.client import GraphUnavailable, ICPIClient, format_feedback

    promptpo = (args.promptpo_rounds, args.promptpo_candidates, args.promptpo_episodes)
    planned = _closed_loop_trials(args.task, promptpo) if args.improver == 'promptpo' else None

    def show(feedback) -> None:
        if not args.json:
            print(format_feedback(feedback, planned or args.iterations), flush=True)

    with ICPIClient(loop=args.loop, node_name='icpi_improve', cancel_on_ctrl_c=True) as client:
        try:
            status, result = client.improve(
                args.task,
                args.goal,
                theta0=args.theta0,
                max_iterations=args.iterations,
                tolerance=args.tolerance,
                improver=args.improver,
                resume_run_id=args.resume,
                seed=args.seed,
                on_feedback=show,
                server_timeout_s=args.timeout,
                promptpo=promptpo,
            )
        except GraphUnavailable as exc:
            print(f'icpi improve-graph: {exc}', file=sys.stderr)
            return EXIT_UNAVAILABLE
    succeeded = status == GoalStatus.STATUS_SUCCEEDED
    if args.json:
        print(
            json.dumps(
                {
                    'status': 'succeeded' if succeeded else 'failed',
                    'error_code': result.error_code,
                    'error_msg': result.error_msg,
                    'run_id': result.run_id,
                    'best_theta': list(result.best_theta),
                    'best_cost': result.best_cost,
                    'costs': [c for c in result.costs if math.isfinite(c)],
                    'trial_ids': list(result.trial_ids),
                    'best_policy_source': result.best_policy_source,
                }
            )
        )
    elif succeeded and result.best_policy_source:  # closed-loop promptpo: the best is code
        print(f'best mean cost {result.best_cost:.4f} over its episodes; the policy:')
        print(result.best_policy_source)
    elif succeeded:
        print(f'best cost {result.best_cost:.4f} at theta {list(result.best_theta)}')
    if not succeeded:
        print(
            f'icpi improve-graph: run {result.run_id or "(none)"} ended with code '
            f'{result.error_code}: {result.error_msg}',
            file=sys.stderr,
        )
    elif result.run_id and not args.json:
        print(f"run record: runs/{result.run_id} (in the improvement_loop's runs_dir)")
    if result.error_code == Improve.Result.INVALID_GOAL:
        return EXIT_REJECTED
    return EXIT_OK if succeeded else EXIT_FAILED


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `next-policy` and `improve-graph` on the `icpi` parser."""
    p = sub.add_parser(
        'next-policy',
        help='ask a running planner for the next policy (NextPolicy service)',
        description='Call <planner>/next_policy once; like `ros2 service call`, without ros2cli.',
    )
    p.add_argument('--task', required=True)
    p.add_argument('--theta', type=floats, required=True, help='e.g. 0.1,0.12,0.3')
    p.add_argument('--error', type=floats, default=[], help='e = outcome - goal, e.g. 0.05,-0.02')
    p.add_argument('--outcome', type=floats, default=[], help='with --goal, instead of --error')
    p.add_argument('--goal', type=floats, default=[])
    p.add_argument('--improver', default='', help="empty: the planner's configured improver")
    p.add_argument(
        '--run-id', default='', help='the run this step belongs to (bayes_opt, promptpo)'
    )
    p.add_argument(
        '--history-theta',
        type=floats,
        default=[],
        help="the run's earlier thetas, flattened row by row",
    )
    p.add_argument(
        '--history-outcome',
        type=floats,
        default=[],
        help="the run's earlier outcomes, flattened row by row",
    )
    p.add_argument('--planner', default='/icpi_planner', help='planner node name')
    p.add_argument('--timeout', type=float, default=10.0, help='seconds to wait in all')
    p.add_argument('--json', action='store_true', help='print the response as JSON')
    p.set_defaults(func=_cmd_next_policy)

    p = sub.add_parser(
        'improve-graph',
        help='send an Improve goal to a running graph and follow it',
        description='Send one goal to <loop>/improve (like `ros2 action send_goal`, without '
        'ros2cli), print one line per iteration and the result. Ctrl-C cancels the run; '
        '--resume continues a run that was interrupted.',
    )
    p.add_argument('--task', required=True)
    p.add_argument('--goal', type=floats, default=[], help="default: the task's default goal")
    p.add_argument('--theta0', type=floats, default=[], help='default: middle of the bounds')
    p.add_argument('--iterations', type=int, default=20)
    p.add_argument('--tolerance', type=float, default=0.0, help='stop at this cost (0: never)')
    p.add_argument('--improver', default='', help="empty: the planner's configured improver")
    p.add_argument('--resume', default='', metavar='RUN_ID', help='continue this run')
    p.add_argument('--seed', type=int, default=0)
    from icpi_ros.core.promptpo.closed_loop_state import SearchSettings

    default = SearchSettings()
    for name, what in (
        ('rounds', 'rounds of candidates'),
        ('candidates', 'policies the LLM writes per round'),
        ('episodes', 'episodes (goals, one trial each) per candidate'),
    ):
        p.add_argument(
            f'--promptpo-{name}',
            type=int,
            default=0,
            help=f'promptpo on a closed-loop task (push-gc): {what} (0: the default, '
            f'{getattr(default, name)})',
        )
    p.add_argument('--loop', default='/improvement_loop', help='improvement_loop node name')
    p.add_argument('--timeout', type=float, default=20.0, help='seconds to wait for the graph')
    p.add_argument('--json', action='store_true', help='print the result as one JSON object')
    p.set_defaults(func=_cmd_improve_graph)
