# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The `icpi` command: the core without ROS, and a client for a running graph."""

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from icpi_ros import __version__, cli_bench, cli_learn, cli_sandbox, local_llm
from icpi_ros.core.errors import Failed, IcpiError, Rejected
from icpi_ros.core.validation import InvalidInput
from icpi_ros.exit_codes import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_UNAVAILABLE,
)


def _floats(text: str) -> list[float]:
    """Parse a comma-separated vector such as `0.1,-0.2,0.3` (empty string: empty vector)."""
    if not text.strip():
        return []
    try:
        return [float(v) for v in text.split(',')]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'expected comma-separated numbers, got {text!r}'
        ) from None


def _cmd_tasks(args: argparse.Namespace) -> int:
    from icpi_ros.core.tasks import load_tasks

    tasks = load_tasks(args.tasks_file)
    if args.json:
        out = {
            name: {
                'description': t.description,
                'goal_conditioned': t.goal_conditioned,
                'parameters': [vars(p) for p in t.parameters],
                'outcome': list(t.outcome_names),
                'default_goal': list(t.default_goal),
                'goal_low': list(t.goal_low),
                'goal_high': list(t.goal_high),
            }
            for name, t in tasks.items()
        }
        print(json.dumps(out, indent=2))
        return EXIT_OK
    for name, t in tasks.items():
        params = ', '.join(f'{p.name} [{p.low:g}, {p.high:g}] {p.unit}' for p in t.parameters)
        print(f'{name:14s} theta: {params}')
        print(f'{"":14s} {t.description}')
    return EXIT_OK


def _cmd_next_policy(args: argparse.Namespace) -> int:
    from icpi_ros.client import GraphUnavailable, ICPIClient

    with ICPIClient(planner=args.planner) as client:
        try:
            resp = client.next_policy(
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
        'success': resp.success,
        'message': resp.message,
        'theta_next': list(resp.theta_next),
        'delta_theta': list(resp.delta_theta),
        'improver_used': resp.improver_used,
        'clipped': resp.clipped,
        'details': json.loads(resp.details_json or '{}'),
    }
    if args.json:
        print(json.dumps(result))
    elif resp.success:
        print(f'theta_next = {result["theta_next"]} ({resp.message})')
    else:
        print(f'icpi next-policy: {resp.message}', file=sys.stderr)
    return EXIT_OK if resp.success else EXIT_REJECTED


def _cmd_improve_graph(args: argparse.Namespace) -> int:
    from action_msgs.msg import GoalStatus
    from icpi_interfaces.action import Improve

    from icpi_ros.client import GraphUnavailable, ICPIClient, format_feedback

    def show(feedback) -> None:
        if not args.json:
            print(format_feedback(feedback, args.iterations), flush=True)

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
                }
            )
        )
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
    from icpi_ros.core.tasks import load_tasks, require_simulated

    task = require_simulated(load_tasks(args.tasks_file)[args.task])
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


def _cmd_track_check(args: argparse.Namespace) -> int:
    from icpi_ros.core.tasks import load_tasks, require_simulated
    from icpi_ros.core.vision.check import track_check

    task = require_simulated(load_tasks(args.tasks_file)[args.task])
    result = track_check(task, seed=args.seed, calibration=args.calibration)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f'{task.name}: {result["valid_frames"]}/{result["frames"]} frames tracked, '
            f'mean error {result["mean_error_m"] * 1e3:.2f} mm, max '
            f'{result["max_error_m"] * 1e3:.2f} mm, final {result["final_error_m"] * 1e3:.2f} mm, '
            f'{result["ms_per_frame"]:.2f} ms/frame (camera pose: {result["calibration"]})'
        )
        if not result['trajectory_valid']:
            print(f'  coverage {result["coverage"]:.2f} is below the minimum: trajectory invalid')
    return EXIT_OK


def _cmd_calibrate(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np

    from icpi_ros.core.vision.calibration import calibrate, load_layout
    from icpi_ros.core.vision.camera import read_camera_info, save_extrinsics

    layout = load_layout(args.markers)
    exact = None
    if args.sim:
        from icpi_ros.core.sim.simulator import Simulator
        from icpi_ros.core.tasks import load_tasks

        task = load_tasks()[args.sim]
        sim = Simulator(task, markers=layout)
        sim.reset(np.array(task.default_goal))
        try:
            image = cv2.cvtColor(sim.render(), cv2.COLOR_RGB2BGR)
            exact = sim.camera_model()
        finally:
            sim.close()
        k, dist, source = exact.k, exact.dist, f'simulator ({task.name}, {sim.camera} camera)'
        if args.save_image:
            cv2.imwrite(args.save_image, image)
    else:
        if not args.image or not args.camera_info:
            raise InvalidInput('give --image and --camera-info, or --sim TASK')
        image = cv2.imread(args.image)
        if image is None:
            raise InvalidInput(f'cannot read image {args.image}')
        width, height, k, dist = read_camera_info(args.camera_info)
        if image.shape[:2] != (height, width):
            raise InvalidInput(
                f'image is {image.shape[1]}x{image.shape[0]}, camera info says {width}x{height}'
            )
        source = args.image
    result = calibrate(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), k, dist, layout)
    report = {
        'out': args.out,
        'markers_used': list(result.marker_ids),
        'reprojection_error_px': result.reprojection_error_px,
        'camera_position_m': result.translation.tolist(),
        'image': source,
    }
    if exact is not None:
        cos = (np.trace(result.rotation.T @ exact.rotation) - 1) / 2
        report['rotation_error_deg'] = float(np.degrees(np.arccos(np.clip(cos, -1, 1))))
        report['position_error_m'] = float(np.linalg.norm(result.translation - exact.translation))
    save_extrinsics(
        args.out,
        result.rotation,
        result.translation,
        reprojection_error_px=round(result.reprojection_error_px, 4),
        markers_used=list(result.marker_ids),
        image=source,
    )
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f'wrote {args.out}: {len(result.marker_ids)} markers, reprojection error '
            f'{result.reprojection_error_px:.3f} px, camera at '
            f'{np.round(result.translation, 4).tolist()} m'
        )
        if exact is not None:
            print(
                f'  vs the simulator: rotation off by {report["rotation_error_deg"]:.3f} deg, '
                f'position by {report["position_error_m"] * 1e3:.1f} mm'
            )
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from icpi_ros.demo import run_demo

    return run_demo(
        args.task,
        args.iterations,
        args.goal,
        args.improver,
        args.seed,
        args.log_level,
        local_llm=args.local_llm,
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the `icpi` command."""
    parser = argparse.ArgumentParser(
        prog='icpi',
        description='In-context policy improvement for dynamic manipulation (icpi_ros).',
    )
    parser.add_argument('--version', action='version', version=f'icpi_ros {__version__}')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')

    p = sub.add_parser('tasks', help='list the tasks and their parameter bounds')
    p.add_argument('--tasks-file', default=None, help='tasks YAML (default: config/tasks.yaml)')
    p.add_argument('--json', action='store_true', help='print JSON')
    p.set_defaults(func=_cmd_tasks)

    p = sub.add_parser(
        'next-policy',
        help='ask a running planner for the next policy (NextPolicy service)',
        description='Call <planner>/next_policy once; like `ros2 service call`, without ros2cli.',
    )
    p.add_argument('--task', required=True)
    p.add_argument('--theta', type=_floats, required=True, help='e.g. 0.1,0.12,0.3')
    p.add_argument('--error', type=_floats, default=[], help='e = outcome - goal, e.g. 0.05,-0.02')
    p.add_argument('--outcome', type=_floats, default=[], help='with --goal, instead of --error')
    p.add_argument('--goal', type=_floats, default=[])
    p.add_argument('--improver', default='', help="empty: the planner's configured improver")
    p.add_argument(
        '--run-id', default='', help='the run this step belongs to (bayes_opt, promptpo)'
    )
    p.add_argument(
        '--history-theta',
        type=_floats,
        default=[],
        help="the run's earlier thetas, flattened row by row",
    )
    p.add_argument(
        '--history-outcome',
        type=_floats,
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
    p.add_argument('--goal', type=_floats, default=[], help="default: the task's default goal")
    p.add_argument('--theta0', type=_floats, default=[], help='default: middle of the bounds')
    p.add_argument('--iterations', type=int, default=20)
    p.add_argument('--tolerance', type=float, default=0.0, help='stop at this cost (0: never)')
    p.add_argument('--improver', default='', help="empty: the planner's configured improver")
    p.add_argument('--resume', default='', metavar='RUN_ID', help='continue this run')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--loop', default='/improvement_loop', help='improvement_loop node name')
    p.add_argument('--timeout', type=float, default=20.0, help='seconds to wait for the graph')
    p.add_argument('--json', action='store_true', help='print the result as one JSON object')
    p.set_defaults(func=_cmd_improve_graph)

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
    p.add_argument('--theta', type=_floats, default=None, help='default: middle of the bounds')
    p.add_argument('--goal', type=_floats, default=None, help="default: the task's default goal")
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--render', action='store_true', help='also render the camera at 30 Hz')
    p.add_argument('--tasks-file', default=None, help='tasks YAML (default: config/tasks.yaml)')
    p.add_argument('--json', action='store_true', help='print one JSON object')
    p.set_defaults(func=_cmd_trial)

    p = sub.add_parser(
        'track-check',
        help='render one trial, track it, compare with ground truth',
        description='Validate the tracking setup: renders a simulated trial, tracks the marker '
        'in every frame and reports the error against the simulator ground truth.',
    )
    p.add_argument('--task', required=True)
    p.add_argument('--seed', type=int, default=0, help='draws theta within the bounds')
    p.add_argument('--calibration', default=None, help='camera pose YAML (icpi calibrate)')
    p.add_argument('--tasks-file', default=None, help='tasks YAML (default: config/tasks.yaml)')
    p.add_argument('--json', action='store_true', help='print one JSON object')
    p.set_defaults(func=_cmd_track_check)

    p = sub.add_parser(
        'calibrate',
        help='camera extrinsics from an image of ArUco markers on the table',
        description='Detect the ArUco markers of the layout (config/calibration_markers.yaml) '
        'in one image, estimate the camera pose in the table frame, write it as YAML and '
        'report the reprojection error. Real camera: --image and --camera-info (a CameraInfo '
        'as `ros2 topic echo --once` prints it, or a camera_calibration YAML). Simulator: '
        '--sim TASK renders the scene with the markers.',
    )
    p.add_argument('--image', help='image of the table with the markers')
    p.add_argument(
        '--camera-info',
        help='the intrinsics: `ros2 topic echo --once /camera/camera_info > FILE`, or a '
        'camera_calibration YAML',
    )
    p.add_argument('--sim', metavar='TASK', help='render the simulated camera of TASK instead')
    p.add_argument('--markers', default=None, help='marker layout YAML')
    p.add_argument('--out', required=True, help='calibration YAML to write')
    p.add_argument('--save-image', default=None, help='with --sim: also save the rendered image')
    p.add_argument('--json', action='store_true', help='print one JSON object')
    p.set_defaults(func=_cmd_calibrate)

    cli_learn.add_parsers(sub, _floats)
    cli_bench.add_parsers(sub)
    local_llm.add_parsers(sub)
    cli_sandbox.add_parsers(sub, _floats)

    p = sub.add_parser(
        'demo',
        help='bring the sim graph up headless and improve a policy over it',
        description='Start sim_bridge, trajectory_tracker, icpi_planner, trial_executor and '
        'improvement_loop as processes on a free ROS_DOMAIN_ID, send one Improve goal, print '
        'each iteration, write runs/<run-id>/ and stop the graph.',
    )
    p.add_argument('--task', default='slide-gc')
    p.add_argument('--iterations', type=int, default=20)
    p.add_argument('--goal', type=_floats, default=None, help="default: the task's default")
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `icpi` command; return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    try:
        return args.func(args)
    except IcpiError as exc:  # refused input (InvalidInput), failed work: why, no traceback
        if not isinstance(exc, Rejected | Failed):
            raise
        print(f'icpi {args.command}: {exc}', file=sys.stderr)
        return EXIT_REJECTED if isinstance(exc, Rejected) else EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == '__main__':
    sys.exit(main())
