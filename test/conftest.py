# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Shared pytest fixtures: the repository root and the real-process ROS graph harness."""

import shutil
from pathlib import Path

import pytest

from icpi_ros.process.node_processes import DomainLease, ProcessGraph

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='session')
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def ros_graph(tmp_path: Path):
    """A set of node processes on this test's own ROS_DOMAIN_ID, stopped with SIGINT after."""
    if shutil.which('icpi_planner') is None:
        pytest.fail('node executables not on PATH: run `make test`, or `source env.sh` first')
    lease = DomainLease()
    graph = ProcessGraph(lease.domain_id, tmp_path, REPO_ROOT)
    try:
        yield graph
    finally:
        problems = graph.shutdown()
        lease.release()
    assert not problems, '\n\n'.join(problems)
