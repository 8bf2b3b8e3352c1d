# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""`icpi export-arm` and `icpi trial`: the simulated arm and one trial on the fast path."""

import argparse
import json
import sys
from pathlib import Path

from icpi_ros.cli.args import add_tasks_file, floats, sim_task
from icpi_ros.cli.exit_codes import EXIT_OK, EXIT_REJECTED


def _cmd_export_arm(args: argparse.Namespace) -> int:
    from icpi_ros.core.arm import ArmSpec
    from icpi_ros.core.sim.scenes import arm_model_xml

    Path(args.out).write_text(arm_model_xml(ArmSpec()))
    print(f'wrote {args.out}: joints {", ".join(ArmSpec().joint_names)}, tip frame "tip"')
    return EXIT_OK


def _cmd_trial(args: argparse.Namespace) -> int:
    import numpy as np

    from icpi_ros.core.motion import PlanRejected
    from icpi_ros.core.sim.simulator import run_trial

    task = sim_task(args)
    theta = task.theta_middle() if args.theta is None else args.theta
    goal = None if args.goal is None else np.array(args.goal)
    try:
        record = run_trial(task, theta, goal, seed=args.seed, render=args.render)
    except PlanRejected as exc:
        print(f'icpi trial: plan rejected ({exc.reason}): {exc}', file=sys.stderr)
        return EXIT_REJECTED
    result = record.as_dict()
    if args.render:
        result['frames'] = len(record.frames)
    if args.json:
        print(json.dumps(result))
    else:
        names = ', '.join(
            f'{p.name}={v:.4g}' for p, v in zip(task.parameters, record.theta, strict=True)
        )
        print(
            f'{task.name}: {names} -> outcome {np.round(record.outcome, 4).tolist()} '
            f'goal {record.goal.tolist()} cost {record.cost:.4f} {task.outcome_unit} '
            f'({record.wall_s * 1e3:.1f} ms)'
        )
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `export-arm` and `trial` on the `icpi` parser."""
    p = sub.add_parser(
        'export-arm',
        help="write the simulated arm's kinematics as MJCF (a stand-in kinematics_file)",
        description='The real-robot executor loads an arm from URDF or MJCF; this writes the '
        "simulator's arm so the real-robot path can be run against sim_bridge.",
    )
    p.add_argument('--out', required=True, help='MJCF file to write')
    p.set_defaults(func=_cmd_export_arm)

    p = sub.add_parser(
        'trial',
        help='simulate one trial on the fast path (MuJoCo, ground truth)',
        description='Run one trial of a sim task: theta is clipped to the bounds, planned, '
        'checked against the arm limits, simulated and scored.',
    )
    p.add_argument('--task', required=True)
    p.add_argument('--theta', type=floats, default=None, help='default: middle of the bounds')
    p.add_argument('--goal', type=floats, default=None, help="default: the task's default goal")
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--render', action='store_true', help='also render the camera at 30 Hz')
    add_tasks_file(p)
    p.add_argument('--json', action='store_true', help='print one JSON object')
    p.set_defaults(func=_cmd_trial)
