# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Shared by the whole-graph tests: start a graph, hand out a client on its domain, stop it."""

import contextlib
import os
from collections.abc import Iterator

from icpi_ros.graph.bringup import Bringup


@contextlib.contextmanager
def running_graph(bringup: Bringup, client_name: str) -> Iterator:
    """Start `bringup`, yield an ICPIClient on its ROS_DOMAIN_ID, then stop every node.

    Stopping sends SIGINT to every node: each must exit 0 with no traceback.
    """
    saved = dict(os.environ)
    try:
        bringup.start()
        os.environ.update(bringup.environment())
        from icpi_ros.graph.client import ICPIClient

        with ICPIClient(node_name=client_name) as client:
            yield client
    finally:
        os.environ.clear()
        os.environ.update(saved)
        problems = bringup.stop()
        assert not problems, '\n'.join(problems)
