# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""`icpi video`: an MP4 or GIF of a recorded run's trials, with the tracked path drawn."""

import argparse
from pathlib import Path

from icpi_ros.cli.args import add_runs_dir, runs_dir
from icpi_ros.cli.exit_codes import EXIT_OK


def _cmd_video(args: argparse.Namespace) -> int:
    from icpi_ros.core.records import RunRecord
    from icpi_ros.core.video import make_video

    run = RunRecord.open(runs_dir(args), args.run)
    fmt = args.format or (Path(args.out).suffix.lstrip('.').lower() if args.out else 'mp4')
    which = 'all' if args.all else args.trial if args.trial is not None else 'best'
    result = make_video(run, which, args.out, fmt, args.calibration, args.scale)
    shown = ', '.join(str(i) for i in result.iterations)
    print(f'{result.path}  ({result.frames} frames at {result.fps:.1f} fps; trials {shown})')
    print(f'camera pose: {result.pose_from}')
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `video` on the `icpi` parser."""
    p = sub.add_parser(
        'video',
        help="a video of a run's trials from its bag, the tracked path drawn",
        description="Write an MP4 (OpenCV's mp4v) or a GIF of the top camera during a run's "
        'trials, from runs/<run-id>/run.mcap, with the path the tracker followed drawn in '
        'green and the goal as a cross; the best trial by default.',
    )
    p.add_argument('run', metavar='RUN_ID', help='a run under the runs folder, or latest')
    which = p.add_mutually_exclusive_group()
    which.add_argument('--trial', type=int, metavar='N', help='the trial of iteration N')
    which.add_argument('--best', action='store_true', help='the lowest-cost trial (default)')
    which.add_argument('--all', action='store_true', help='every trial, one after the other')
    p.add_argument('--out', default=None, help='default: <run>/video-<best|all|trial-N>.<fmt>')
    p.add_argument(
        '--format', choices=('mp4', 'gif'), default=None, help="default: --out's suffix, else mp4"
    )
    p.add_argument(
        '--calibration',
        default=None,
        help="camera pose YAML (icpi calibrate); default: the run's calibration.yaml, "
        "else config.json's calibration_file, else the ArUco markers in the first frame",
    )
    p.add_argument(
        '--scale', type=float, default=1.0, help="size relative to the bag's images, (0, 1]"
    )
    add_runs_dir(p)
    p.set_defaults(func=_cmd_video)
