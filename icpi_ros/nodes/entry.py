# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Console-script entry points of the nodes.

Importing a node takes about a second (rclpy, NumPy, SciPy, MuJoCo). SIGINT and SIGTERM are
caught from the very start and only set `STOP` (runtime.run_node keeps using it): a
KeyboardInterrupt raised inside some library's import could be swallowed there and the node
would come up as if nothing had happened. The handlers take no lock (see stop_signal). Only
the standard library is imported here.
"""

import importlib
import os
import sys

from icpi_ros.process.stop_signal import StopSignal

# Set when the process is asked to stop (SIGINT, SIGTERM); shared with runtime.run_node.
STOP = StopSignal()


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
    STOP.install()
    if os.environ.get('ICPI_TRACE_ENTRY'):  # lets tests time a Ctrl-C after this point
        print(f'entry: importing {module}', file=sys.stderr, flush=True)
    try:
        main = importlib.import_module(module).main
    except BaseException as exc:
        if _interrupted(exc) or STOP.is_set():
            raise SystemExit(0) from None
        raise
    if STOP.is_set():  # asked to stop while importing: nothing has started yet
        raise SystemExit(0)
    try:
        main()
    finally:
        STOP.ignore_from_now()


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


def run_recorder() -> None:
    """Run the run_recorder node."""
    _run('icpi_ros.nodes.run_recorder')
