# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Argument types and options shared by the `icpi` subcommands."""

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from icpi_ros.core.tasks import TaskSpec


def floats(text: str) -> list[float]:
    """Parse a comma-separated vector such as `0.1,-0.2,0.3` (empty string: empty vector)."""
    if not text.strip():
        return []
    try:
        return [float(v) for v in text.split(',')]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'expected comma-separated numbers, got {text!r}'
        ) from None


def names(text: str) -> tuple[str, ...]:
    """Parse a comma-separated list of names such as `slide-gc,roll-gc` (blanks dropped)."""
    return tuple(v.strip() for v in text.split(',') if v.strip())


def integers(text: str) -> tuple[int, ...]:
    """Parse a comma-separated list of integers such as `50,100,300`."""
    try:
        return tuple(int(v) for v in names(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'expected comma-separated integers, got {text!r}'
        ) from None


def add_tasks_file(parser: argparse.ArgumentParser) -> None:
    """Add `--tasks-file`: the task definitions to read instead of config/tasks.yaml."""
    parser.add_argument(
        '--tasks-file', default=None, help='tasks YAML (default: config/tasks.yaml)'
    )


def add_runs_dir(parser: argparse.ArgumentParser) -> None:
    """Add `--runs-dir`: the folder of the run records (read back with `runs_dir(args)`)."""
    parser.add_argument('--runs-dir', default='', help='default: $ICPI_RUNS_DIR, else ./runs')


def runs_dir(args: argparse.Namespace) -> Path:
    """Return `args.runs_dir` if given, else $ICPI_RUNS_DIR, else ./runs."""
    from icpi_ros.core.records import default_runs_dir

    return Path(args.runs_dir) if args.runs_dir else default_runs_dir()


def sim_task(args: argparse.Namespace) -> 'TaskSpec':
    """Return the simulated task `args.task` of `args.tasks_file` (a real-robot one: refused)."""
    from icpi_ros.core.tasks import load_tasks, require_simulated

    return require_simulated(load_tasks(args.tasks_file)[args.task])
