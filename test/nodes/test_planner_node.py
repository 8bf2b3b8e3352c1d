# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""icpi_planner as a real process, called by `icpi next-policy` (another process) over DDS."""

import json
import re
import sys
import time

import numpy as np
import pytest

from icpi_ros.core.tasks import load_tasks

READY = r'\[icpi_planner\]: ready'
GOOD = '--task slide --theta 0,0.1,0.3 --error 0,0'


def _call(ros_graph, args: str, timeout_s: float = 20.0):
    """Run `icpi next-policy --json ARGS`; return (exit code, parsed response, stderr)."""
    argv = ['icpi', 'next-policy', '--json', '--timeout', str(timeout_s), *args.split()]
    done = ros_graph.run(argv, timeout=timeout_s + 20)
    assert 'Traceback' not in done.stderr, done.stderr
    resp = json.loads(done.stdout) if done.stdout.strip() else None
    return done.returncode, resp, done.stderr


def test_next_policy_answers_clipped_finite_theta(ros_graph):
    planner = ros_graph.start('icpi_planner', ['icpi_planner'], ready=READY)
    task = load_tasks()['slide-gc']
    code, resp, _ = _call(ros_graph, '--task slide-gc --theta 0.1,0.1,0.3 --error 0.05,-0.02')
    assert code == 0 and resp['success'] is True
    theta_next = np.array(resp['theta_next'])
    assert np.all(np.isfinite(theta_next))
    assert np.all(theta_next >= task.theta_low) and np.all(theta_next <= task.theta_high)
    np.testing.assert_allclose(resp['delta_theta'], theta_next - [0.1, 0.1, 0.3], atol=1e-12)
    assert resp['improver_used'] == 'knn_linear'  # the offline default
    assert len(resp['details']['neighbours']) == 20

    # outcome + goal instead of the error is accepted too.
    code, resp, _ = _call(
        ros_graph, '--task slide-gc --theta 0.1,0.1,0.3 --outcome 0.9,0.1 --goal 0.85,0.12'
    )
    assert code == 0 and resp['success'] is True
    planner.assert_clean_exit(planner.stop())


BAD_REQUESTS = [
    ('--task slide-gc --theta 0.1,nan,0.3 --error 0,0', 'theta[1] is nan'),
    ('--task slide-gc --theta 0.1,0.3 --error 0,0', 'theta: expected 3'),
    ('--task slide-gc --theta 0.1,0.1,0.3 --error 0,inf', 'error[1] is inf'),
    ('--task slide-gc --theta 0.1,0.1,0.3 --error 0,0,0', 'error: expected 2'),
    ('--task slide-gc --theta 0.1,0.1,0.3', 'missing error'),
    ('--task nope --theta 0.1,0.1,0.3 --error 0,0', "unknown task 'nope'"),
    (f'{GOOD} --improver magic', "unknown improver 'magic'"),
    (f'{GOOD} --history-theta 0,0.1 --history-outcome 0.8,0', 'are not whole trials'),
    (f'{GOOD} --history-theta 0,0.1,0.3 --history-outcome 0.8,nan', 'must be finite'),
]


def test_bad_requests_are_rejected_and_the_planner_keeps_serving(ros_graph):
    planner = ros_graph.start('icpi_planner', ['icpi_planner'], ready=READY)
    for args, message in BAD_REQUESTS:
        code, resp, _ = _call(ros_graph, args)
        assert code == 2, (args, resp)
        assert resp['success'] is False and message in resp['message'], (args, resp)
        assert resp['theta_next'] == []
        planner.wait_for_output('next_policy rejected: .*' + re.escape(message))
        # Still serving after every bad request.
        code, resp, _ = _call(ros_graph, GOOD)
        assert code == 0 and resp['success'] is True
    planner.assert_clean_exit(planner.stop())


@pytest.mark.parametrize(
    ('ros_args', 'message'),
    [
        (['-p', 'improver:=nope'], 'parameter improver'),
        (['-p', 'seed:=1.5'], 'seed'),
        (['-p', 'seed:=-3'], 'seed'),
        (['-p', 'tasks_file:=/nonexistent/tasks.yaml'], 'cannot read tasks file'),
    ],
)
def test_bad_configuration_fails_fast_with_a_named_reason(ros_graph, ros_args, message):
    planner = ros_graph.start('icpi_planner', ['icpi_planner', '--ros-args', *ros_args])
    code = planner.wait(timeout=20)
    assert code == 1, planner.output()
    assert 'cannot start' in planner.output() and message in planner.output()
    assert 'Traceback' not in planner.output()


def test_missing_planner_times_out_with_a_clear_message(ros_graph):
    # No planner on this domain: the client gives up within its timeout and says why.
    code, resp, stderr = _call(ros_graph, GOOD, timeout_s=2.0)
    assert code == 3 and resp is None
    assert 'not available' in stderr


@pytest.mark.parametrize('delay_s', [0.0, 0.05, 0.15, 0.3, 0.6])
def test_ctrl_c_while_starting_exits_cleanly(ros_graph, delay_s):
    # Whatever the node is doing (importing rclpy, building itself, spinning), Ctrl-C ends it
    # with code 0 and no traceback. The clock starts when the entry point begins importing
    # the node; before that the interpreter and setuptools' script wrapper run, not our code.
    ros_graph.env['ICPI_TRACE_ENTRY'] = '1'
    planner = ros_graph.start('icpi_planner', ['icpi_planner'], ready=r'^entry: importing')
    time.sleep(delay_s)  # the point of the test: interrupt at a given moment of start-up
    planner.assert_clean_exit(planner.stop())


def test_bayes_opt_answers_from_the_run_history_across_a_restart(ros_graph):
    """The planner keeps no state a run depends on: restarted, it answers the same."""
    step = (
        '--task slide-gc --theta 0.1,0.12,0.3 --outcome 0.9,0.04 --goal 0.86,0.03 '
        '--improver bayes_opt --run-id run-a --history-theta 0,0.1,0.35,0.05,0.11,0.32 '
        '--history-outcome 0.96,0.05,0.87,0.03'
    )
    answers = []
    for _ in range(2):
        planner = ros_graph.start('icpi_planner', ['icpi_planner'], ready=READY)
        code, resp, _ = _call(ros_graph, step)
        assert code == 0 and resp['improver_used'] == 'bayes_opt', resp
        assert resp['details']['observations'] == 3
        answers.append(resp['theta_next'])
        # Another run at the same goal shares nothing with run a.
        code, other, _ = _call(ros_graph, step.split(' --run-id')[0] + ' --run-id run-b')
        assert code == 0 and other['details']['observations'] == 1
        planner.assert_clean_exit(planner.stop())
    np.testing.assert_allclose(answers[0], answers[1])


def test_parameter_choices_and_ranges_are_visible_to_describe(ros_graph):
    """What `ros2 param describe /icpi_planner improver` shows: the choices, not only prose."""
    planner = ros_graph.start('icpi_planner', ['icpi_planner'], ready=READY)
    done = ros_graph.run([sys.executable, 'test/nodes/helpers/param_probe.py', 'icpi_planner'])
    assert done.returncode == 0, done.stderr
    described = json.loads(done.stdout)
    improver = described['improver']['additional_constraints']
    assert improver.startswith('one of: auto, bayes_opt, gp_model, knn_linear')
    assert 'none' in described['fallback_improver']['additional_constraints']
    assert described['llm.api']['additional_constraints'] == 'one of: chat, completions'
    assert described['k']['integer_range'] == [[1, 200]]
    assert described['llm.temperature']['floating_point_range'] == [[0.0, 2.0]]
    assert described['k']['read_only'] and not described['improver']['read_only']
    planner.assert_clean_exit(planner.stop())
