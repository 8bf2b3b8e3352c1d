# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The core and the `icpi` command's parser import without rclpy or any ROS message."""

import json
import pkgutil
import subprocess
import sys

import icpi_ros.core

CHECK = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
ros = sorted(m for m in sys.modules if m.split('.')[0] in
             ('rclpy', 'icpi_interfaces', 'std_msgs', 'sensor_msgs', 'rcl_interfaces'))
print(json.dumps(ros))
"""

# ROS-free too: process/ (nodes/entry.py imports stop_signal before any ROS package) and the
# graph's description and bringup (the tests and `icpi demo` use them before rclpy.init).
PROCESS_AND_GRAPH = [
    'icpi_ros.process.node_processes',
    'icpi_ros.process.stop_signal',
    'icpi_ros.process.local_llm',
    'icpi_ros.graph.description',
    'icpi_ros.graph.bringup',
]


def test_core_modules_do_not_import_ros():
    modules = [
        m.name for m in pkgutil.walk_packages(icpi_ros.core.__path__, prefix='icpi_ros.core.')
    ]
    assert 'icpi_ros.core.tasks' in modules and 'icpi_ros.core.planning' in modules
    done = subprocess.run(
        [sys.executable, '-c', CHECK, 'icpi_ros.cli', *PROCESS_AND_GRAPH, *modules],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout) == []
