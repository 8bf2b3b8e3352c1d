# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""`icpi bag info`: what a run's MCAP bag holds (topics, types, counts, time span, size)."""

import argparse
import json
import sys

from icpi_ros.cli.args import add_runs_dir, runs_dir
from icpi_ros.cli.exit_codes import EXIT_FAILED, EXIT_OK


def _cmd_bag_info(args: argparse.Namespace) -> int:
    from icpi_ros.core.bag_read import bag_path, summarize

    summary = summarize(bag_path(args.target, runs_dir(args)))
    state = 'closed' if summary.complete else 'NOT CLOSED'
    if args.json:
        print(
            json.dumps(
                {
                    'path': str(summary.path),
                    'size_bytes': summary.size_bytes,
                    'complete': summary.complete,
                    'problem': summary.problem,
                    'chunks': summary.chunks,
                    'messages': summary.messages,
                    'start_ns': summary.start_ns,
                    'end_ns': summary.end_ns,
                    'duration_s': summary.duration_s,
                    'topics': {t: vars(s) for t, s in summary.topics.items()},
                }
            )
        )
    else:
        print(f'bag:      {summary.path}')
        print(f'size:     {summary.size_bytes / 1e6:.2f} MB, {summary.chunks} chunks, {state}')
        if summary.start_ns is not None:
            print(
                f'time:     {summary.start_ns / 1e9:.3f} s to {summary.end_ns / 1e9:.3f} s '
                f'({summary.duration_s:.2f} s; log time on the graph clock)'
            )
        print(f'messages: {summary.messages}')
        width = max((len(t) for t in summary.topics), default=5)
        kind = max((len(s.type_name) for s in summary.topics.values()), default=4)
        for topic, info in sorted(summary.topics.items()):
            print(f'  {topic:<{width}}  {info.type_name:<{kind}}  {info.count:>7}')
    if not summary.complete:
        print(
            f'icpi bag info: {summary.path} is not closed, {summary.problem}; still being '
            'recorded, or the recorder was killed',
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `bag` (`bag info`) on the `icpi` parser."""
    p = sub.add_parser('bag', help="a run's MCAP bag (runs/<id>/run.mcap)")
    bag = p.add_subparsers(dest='bag_command', metavar='COMMAND', required=True)
    info = bag.add_parser(
        'info',
        help='topics, message types, counts, time span and size of a bag',
        description='Print what a bag holds. A bag not closed (the recorder killed, or still '
        'recording) is read up to its last complete chunk, said on stderr, exit code 4.',
    )
    info.add_argument(
        'target',
        help='a run id (under the runs folder) or latest, a run folder or an .mcap file',
    )
    info.add_argument('--json', action='store_true', help='print JSON')
    add_runs_dir(info)
    info.set_defaults(func=_cmd_bag_info)
