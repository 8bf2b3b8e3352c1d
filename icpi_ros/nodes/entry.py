# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Console-script entry points of the nodes.

Importing rclpy takes about half a second; a Ctrl-C in that window would otherwise end the
process with a KeyboardInterrupt traceback. Only the standard library is imported here, and
the node module is imported inside the guard.
"""

import importlib
import os
import sys


def _interrupted(exc: BaseException | None) -> bool:
    """Whether `exc` is, or was caused by, a Ctrl-C (some imports re-raise it as ImportError)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _run(module: str) -> None:
    if os.environ.get('ICPI_TRACE_ENTRY'):  # lets tests time a Ctrl-C after this point
        print(f'entry: importing {module}', file=sys.stderr, flush=True)
    try:
        main = importlib.import_module(module).main
    except BaseException as exc:
        if _interrupted(exc):
            raise SystemExit(0) from None
        raise
    main()


def icpi_planner() -> None:
    """Run the icpi_planner node."""
    _run('icpi_ros.nodes.icpi_planner')


def sim_bridge() -> None:
    """Run the sim_bridge node."""
    _run('icpi_ros.nodes.sim_bridge')


def trajectory_tracker() -> None:
    """Run the trajectory_tracker node."""
    _run('icpi_ros.nodes.trajectory_tracker')


def trial_executor() -> None:
    """Run the trial_executor node."""
    _run('icpi_ros.nodes.trial_executor')


def improvement_loop() -> None:
    """Run the improvement_loop node."""
    _run('icpi_ros.nodes.improvement_loop')
