# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The `icpi` command: the core without ROS, and a client for a running graph.

One module per command group; `build_parser` registers them in the order `icpi --help` lists.
"""

import argparse
import sys
from collections.abc import Sequence

from icpi_ros import __version__
from icpi_ros.cli import (
    bag,
    bench,
    dataset,
    demo,
    graph,
    improve,
    llm,
    sandbox,
    sim,
    tasks,
    video,
    vision,
)
from icpi_ros.cli.exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_REJECTED
from icpi_ros.core.errors import Failed, IcpiError, Rejected

COMMAND_GROUPS = (
    tasks,
    graph,
    sim,
    vision,
    video,
    dataset,
    improve,
    bench,
    llm,
    sandbox,
    demo,
    bag,
)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the `icpi` command."""
    parser = argparse.ArgumentParser(
        prog='icpi',
        description='In-context policy improvement for dynamic manipulation (icpi_ros).',
    )
    parser.add_argument('--version', action='version', version=f'icpi_ros {__version__}')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    for group in COMMAND_GROUPS:
        group.add_parsers(sub)
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
