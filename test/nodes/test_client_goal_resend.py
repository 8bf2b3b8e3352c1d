# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""ICPIClient resends an unanswered Improve goal under the same goal id: one run, never two.

The server is a test-only Improve echo (test/nodes/helpers/improve_echo_server.py) in its
own process. CI once saw `wait_for_server` succeed and the goal go unanswered for 20 s (the
goal or its answer sent before the server had matched this client): a lost first request is
made here by sending before the server process exists.
"""

import sys
import time

from action_msgs.msg import GoalStatus

from icpi_ros.graph.client import ICPIClient

SERVER = [sys.executable, 'test/nodes/helpers/improve_echo_server.py']


def _client(ros_graph, monkeypatch) -> ICPIClient:
    monkeypatch.setenv('ROS_DOMAIN_ID', str(ros_graph.domain_id))
    monkeypatch.setenv('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    return ICPIClient(node_name='resend_test')


def test_a_goal_sent_before_the_server_matched_is_sent_again(ros_graph, monkeypatch):
    client = _client(ros_graph, monkeypatch)
    try:
        # What CI saw: the server looked available while the goal still went nowhere.
        monkeypatch.setattr(client._improve, 'wait_for_server', lambda timeout_sec: True)
        server = ros_graph.start('improvement_loop', SERVER)  # not up yet when the goal goes
        status, result = client.improve('slide-gc', [0.9, 0.03], server_timeout_s=30.0)
    finally:
        client.close()
    assert status == GoalStatus.STATUS_SUCCEEDED and result.run_id == 'echo-1'
    server.wait_for_output(r'executed 1 \(run echo-1\)')
    time.sleep(1.0)
    assert 'executed 2' not in server.output(), server.output()


def test_a_late_answer_does_not_start_a_second_run(ros_graph, monkeypatch):
    server = ros_graph.start('improvement_loop', [*SERVER, '3.0'], ready=r'\]: ready')
    client = _client(ros_graph, monkeypatch)
    try:
        began = time.monotonic()
        status, result = client.improve('slide-gc', [0.9, 0.03])
        took = time.monotonic() - began
    finally:
        client.close()
    assert status == GoalStatus.STATUS_SUCCEEDED and result.run_id == 'echo-1'
    assert took >= 3.0  # the first answer, after the resend at 2 s
    time.sleep(1.0)  # the copy is handled after the first: rclpy rejects the duplicate id
    log = server.output()
    assert log.count('goal request') == 1 and 'executed 2' not in log, log
