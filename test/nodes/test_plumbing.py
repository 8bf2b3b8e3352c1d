# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Two separate node processes exchange a custom message, service and action over DDS."""

import json
import sys

from icpi_interfaces.action import ExecuteTrial

HELPERS = 'test/nodes/helpers'


def _start_server(ros_graph):
    return ros_graph.start(
        'trial_echo_server',
        [sys.executable, f'{HELPERS}/trial_echo_server.py'],
        ready=r'\[trial_echo_server\]: ready',
    )


def _client(ros_graph, theta: str) -> dict:
    done = ros_graph.run([sys.executable, f'{HELPERS}/trial_echo_client.py', theta], timeout=40)
    assert done.returncode == 0, done.stdout + done.stderr
    assert 'Traceback' not in done.stderr, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_message_service_and_action_with_feedback_across_processes(ros_graph):
    server = _start_server(ros_graph)
    got = _client(ros_graph, '0.3,0.4,0.0')
    assert got['reset_success'] is True
    assert got['feedback_phases'] == [
        ExecuteTrial.Feedback.PHASE_RESETTING,
        ExecuteTrial.Feedback.PHASE_MOVING,
        ExecuteTrial.Feedback.PHASE_SCORING,
    ]
    assert got['error_code'] == ExecuteTrial.Result.NONE
    assert got['result_trial_id'] == 't-1'
    assert abs(got['result_cost'] - 0.5) < 1e-12  # |(0.3, 0.4, 0)|, computed by the server
    assert got['topic_trial_ids'] == ['t-1']
    server.assert_clean_exit(server.stop())


def test_bad_action_goal_is_rejected_with_error_code_and_server_keeps_serving(ros_graph):
    server = _start_server(ros_graph)
    bad = _client(ros_graph, '0.1,nan,0.2')
    assert bad['error_code'] == ExecuteTrial.Result.INVALID_PARAMS
    assert 'finite' in bad['error_msg']
    short = _client(ros_graph, '0.1,0.2')
    assert short['error_code'] == ExecuteTrial.Result.INVALID_PARAMS
    good = _client(ros_graph, '0.0,0.0,1.0')
    assert good['error_code'] == ExecuteTrial.Result.NONE
    server.assert_clean_exit(server.stop())
