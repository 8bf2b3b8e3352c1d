# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""`icpi track-check` and `icpi calibrate`: the camera, its tracking and its pose."""

import argparse
import json

from icpi_ros.cli.args import add_tasks_file, sim_task
from icpi_ros.cli.exit_codes import EXIT_OK
from icpi_ros.core.validation import InvalidInput


def _cmd_track_check(args: argparse.Namespace) -> int:
    from icpi_ros.core.vision.check import track_check

    task = sim_task(args)
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


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `track-check` and `calibrate` on the `icpi` parser."""
    p = sub.add_parser(
        'track-check',
        help='render one trial, track it, compare with ground truth',
        description='Validate the tracking setup: renders a simulated trial, tracks the marker '
        'in every frame and reports the error against the simulator ground truth.',
    )
    p.add_argument('--task', required=True)
    p.add_argument('--seed', type=int, default=0, help='draws theta within the bounds')
    p.add_argument('--calibration', default=None, help='camera pose YAML (icpi calibrate)')
    add_tasks_file(p)
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
