# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""A plugin's task through the sim graph: examples/icpi_flick, installed with pip.

Every node process gets the plugin's folder on PYTHONPATH (as a lab's install would put it
on the path): the bridge builds its scene, the executor plans its motion, the tracker follows
the puck, the loop scores the trial with the plugin's outcome, the planner reads its dataset.
"""

import json

from action_msgs.msg import GoalStatus
from bringup_graph import running_graph
from example_plugin import install_flick

from icpi_ros.graph.bringup import Bringup
from icpi_ros.graph.demo import calibrate_sim_camera
from icpi_ros.graph.description import sim_graph


def test_a_plugin_task_improves_through_the_graph(tmp_path, monkeypatch):
    env = install_flick(tmp_path / 'site')
    monkeypatch.setenv('PYTHONPATH', env['PYTHONPATH'])
    calibration = calibrate_sim_camera('slide-gc', tmp_path / 'calibration.yaml')
    runs = tmp_path / 'runs'
    bringup = Bringup(sim_graph(calibration, 'knn_linear', 0.0, runs), tmp_path)
    with running_graph(bringup, 'plugin_task_test') as client:
        status, result = client.improve('flick', [0.3], max_iterations=3)
    assert status == GoalStatus.STATUS_SUCCEEDED, result.error_msg
    trials = [
        json.loads(line)
        for line in (runs / result.run_id / 'trials.jsonl').read_text().splitlines()
    ]
    assert [t['task'] for t in trials] == ['flick'] * 3
    assert trials[1]['improver'] == 'knn_linear' and len(trials[1]['planner']['neighbours']) == 20
    # The tracked outcome (the plugin's travel) matches the plugin task's simulation.
    from example_plugin import simulated_outcome

    for t in trials:
        truth = simulated_outcome(env, t['theta'], t['goal'])
        assert abs(t['outcome'][0] - truth) < 0.005, (t['outcome'], truth)
    assert min(result.costs) < result.costs[0]
