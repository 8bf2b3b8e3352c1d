# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The improvement loop's resend of an unanswered ExecuteTrial goal, over the sim graph.

Between the loop and the real executor sits a slow front (test/nodes/helpers/
late_trial_proxy.py): the first goal reaches the executor, and runs, only after the loop has
given up waiting for its answer. Before this issue the loop resent it without canceling it,
the resend was refused as busy and the run failed while the first trial ran unwatched.
"""

import dataclasses
import json
import re
import sys

import rclpy
from action_msgs.msg import GoalStatus
from bringup_graph import running_graph
from icpi_interfaces.action import ExecuteTrial
from rclpy.action import ActionClient

from icpi_ros.graph.bringup import Bringup
from icpi_ros.graph.demo import calibrate_sim_camera
from icpi_ros.graph.description import sim_graph

PROXY = '/late_trial_proxy/execute_trial'


def test_a_late_accepted_trial_is_watched_not_lost(tmp_path):
    calibration = calibrate_sim_camera('slide-gc', tmp_path / 'calibration.yaml')
    specs = [
        dataclasses.replace(spec, params={**spec.params, 'executor_action': PROXY})
        if spec.name == 'improvement_loop'
        else spec
        for spec in sim_graph(calibration, 'knn_linear', 1.0, tmp_path / 'runs')
    ]
    bringup = Bringup(specs, tmp_path)
    with running_graph(bringup, 'resend_test') as client:
        proxy = bringup.graph.start(
            'late_trial_proxy',
            [sys.executable, 'test/nodes/helpers/late_trial_proxy.py', '3.0'],
            ready=r'\[late_trial_proxy\]: ready',
        )
        status, result = client.improve('slide-gc', [0.9, 0.03], max_iterations=2)
        assert status == GoalStatus.STATUS_SUCCEEDED, result.error_msg
        assert list(result.trial_ids) == [f'{result.run_id}-{i}' for i in (0, 1)]
        # The first copy reached the executor late and ran; the resend was not refused.
        proxy.wait_for_output(rf'goal 1 \(trial {result.run_id}-0\): accepted')
        proxy.wait_for_output(rf'goal 2 \(trial {result.run_id}-0\): accepted')
        by_name = {p.name: p for p in bringup.graph.processes}
        loop, executor = by_name['improvement_loop'], by_name['trial_executor']
        loop.wait_for_output(r'-0: no answer .*; canceled that goal, sending it again')
        loop.wait_for_output(r'-0: an unanswered goal was accepted late; canceled it')
        # Each trial ran to its end once (a copy canceled before the resend attached stops
        # with a hold and is not counted): nothing ran twice, nothing unwatched.
        done = re.findall(r'trial (\S+) slide-gc: theta', executor.output())
        assert sorted(done) == [f'{result.run_id}-0', f'{result.run_id}-1'], executor.output()

        # The same goal as the trial just completed (a resend whose answer was lost, or a
        # loop restarted at once): answered with that trial's result, nothing moves again.
        lines = (tmp_path / 'runs' / result.run_id / 'trials.jsonl').read_text().splitlines()
        last = json.loads(lines[-1])
        action = ActionClient(client.node, ExecuteTrial, '/trial_executor/execute_trial')
        assert action.wait_for_server(timeout_sec=10.0)
        goal = ExecuteTrial.Goal(
            task='slide-gc',
            theta=last['theta_requested'],
            goal=last['goal'],
            trial_id=last['trial_id'],
        )
        sent = action.send_goal_async(goal)
        rclpy.spin_until_future_complete(client.node, sent, timeout_sec=10.0)
        answer = sent.result().get_result_async()
        rclpy.spin_until_future_complete(client.node, answer, timeout_sec=10.0)
        again = answer.result().result
        assert again.error_code == ExecuteTrial.Result.NONE and again.trial.cost == last['cost']
        executor.wait_for_output(rf'trial {last["trial_id"]} completed .* answered with its result')
        assert len(re.findall(r'trial (\S+) slide-gc: theta', executor.output())) == 2
