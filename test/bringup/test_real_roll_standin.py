# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The real-robot bringup (real_graph, config/real_roll.yaml) against the simulated stand-in.

sim_bridge plays the arm (joint_trajectory_controller topics, /joint_states) and the camera;
the executor runs its real-robot path: the arm from a kinematics file (numerical IK through
MuJoCo), the cell's safety limits, enable/abort services, the start-pose check. Only the
reset differs from the lab's: the sim's ResetScene instead of an operator.
"""

import json
import threading
import time

import numpy as np
import pytest
import rclpy
import yaml
from action_msgs.msg import GoalStatus
from bringup_graph import running_graph
from icpi_interfaces.action import ExecuteTrial
from rclpy.action import ActionClient
from rclpy.executors import SingleThreadedExecutor
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory

from icpi_ros.core.arm import ArmSpec
from icpi_ros.core.paths import config_file
from icpi_ros.core.sim.scenes import arm_model_xml
from icpi_ros.core.sim.simulator import TrialRunner
from icpi_ros.core.tasks import load_tasks
from icpi_ros.graph.bringup import Bringup
from icpi_ros.graph.demo import calibrate_sim_camera
from icpi_ros.graph.description import real_graph, sim_bridge
from icpi_ros.graph.spec import NodeSpec

TASK = 'roll-gc'
JOINTS = '[base_yaw, shoulder, elbow, wrist]'
CONTROL_PERIOD_S = 0.01  # sim_bridge steps its servos at 100 Hz


def _standin_config(work) -> str:
    """real_roll.yaml as shipped, but reset by the simulator instead of an operator."""
    config = yaml.safe_load(config_file('real_roll.yaml').read_text())
    executor = config['trial_executor']['ros__parameters']
    executor.update(reset_mode='service', reset_service='/sim_bridge/reset')
    executor['joint_speed_limits'] = list(ArmSpec().max_velocity)
    config['trajectory_tracker']['ros__parameters']['image_reliability'] = 'reliable'
    path = work / 'standin.yaml'
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.fixture(scope='module')
def standin(tmp_path_factory):
    work = tmp_path_factory.mktemp('real')
    arm = work / 'arm.xml'
    arm.write_text(arm_model_xml(ArmSpec()))
    calibration = calibrate_sim_camera(TASK, work / 'calibration.yaml')
    config = _standin_config(work)
    # As real_roll.launch.py builds it: every argument a string, typed on the way to the
    # params file launch_ros writes (`launched`).
    real = real_graph(
        str(calibration),
        config,
        runs_dir=str(work / 'runs'),
        kinematics_file=str(arm),
        joint_names=JOINTS,
        dry_run='false',
        use_sim_time=True,
    )
    bridge = sim_bridge(1.0)
    bridge = NodeSpec(bridge.executable, bridge.params_files, {**bridge.params, 'task': TASK})
    # A second executor with a tight envelope, in dry run, on its own controller topic (its
    # own node name: the config file's trial_executor section does not apply to it).
    strict = NodeSpec(
        'trial_executor',
        (config,),
        {
            'use_sim_time': True,
            'kinematics_file': str(arm),
            'joint_names': JOINTS,
            'joint_speed_limits': list(ArmSpec().max_velocity),
            'dry_run': 'true',
            'controller_topic': '/strict/joint_trajectory',
            'workspace_min': [0.1, -0.02, 0.0],
            'workspace_max': [0.9, 0.02, 0.5],
            'max_joint_speed': 3.0,
        },
        (('__node', 'strict_executor'),),
    )
    bringup = Bringup([bridge, *(spec.launched(work) for spec in (*real, strict))], work)
    with running_graph(bringup, 'standin_test') as client:
        yield bringup, client, work / 'runs'


def _call(node, srv_type, name: str, request, timeout: float = 10.0):
    client = node.create_client(srv_type, name)
    try:
        assert client.wait_for_service(timeout_sec=timeout), name
        future = client.call_async(request)
        rclpy.spin_until_future_complete(node, future, timeout_sec=timeout)
        assert future.done(), f'{name} did not answer'
        return future.result()
    finally:
        node.destroy_client(client)


_ACTION_CLIENTS: dict[str, ActionClient] = {}


def _trial(node, action: str, theta, goal=()) -> ExecuteTrial.Result:
    # One client per action for the whole module: a destroyed ActionClient can stay in the
    # node's wait set.
    client = _ACTION_CLIENTS.setdefault(action, ActionClient(node, ExecuteTrial, action))
    assert client.wait_for_server(timeout_sec=10.0)
    sent = client.send_goal_async(ExecuteTrial.Goal(task=TASK, theta=theta, goal=list(goal)))
    rclpy.spin_until_future_complete(node, sent, timeout_sec=10.0)
    result = sent.result().get_result_async()
    rclpy.spin_until_future_complete(node, result, timeout_sec=30.0)
    return result.result().result


def _enable(node, on: bool = True) -> None:
    assert _call(node, SetBool, '/trial_executor/enable', SetBool.Request(data=on)).success


def test_nothing_moves_before_the_arm_is_enabled(standin):
    _, client, _ = standin
    _enable(client.node, False)
    result = _trial(client.node, '/trial_executor/execute_trial', [0.0, 0.1, 0.3])
    assert result.error_code == ExecuteTrial.Result.NOT_ENABLED, result.error_msg
    assert '/trial_executor/enable' in result.error_msg


def test_improvement_run_on_the_real_robot_path(standin):
    _, client, runs = standin
    _enable(client.node)
    status, result = client.improve(TASK, [0.9, 0.03], max_iterations=3)
    assert status == GoalStatus.STATUS_SUCCEEDED, result.error_msg
    trials = [
        json.loads(line)
        for line in (runs / result.run_id / 'trials.jsonl').read_text().splitlines()
    ]
    assert [t['iteration'] for t in trials] == [0, 1, 2]
    # The camera-tracked outcome (ball centre plane) matches the simulator's ground truth.
    runner = TrialRunner(load_tasks()[TASK])
    try:
        truth = runner.run(np.array(trials[0]['theta']), np.array(trials[0]['goal'])).outcome
    finally:
        runner.close()
    assert np.linalg.norm(np.array(trials[0]['outcome']) - truth) < 0.005, (trials[0], truth)


@pytest.mark.parametrize(
    ('theta', 'reason'),
    [([-0.35, 0.15, 0.5], 'workspace'), ([0.0, 0.15, 0.2], 'speed')],
)
def test_refusals_name_the_limit_and_nothing_is_sent(standin, theta, reason):
    _, client, _ = standin
    sent = []
    sub = client.node.create_subscription(
        JointTrajectory, '/strict/joint_trajectory', sent.append, 10
    )
    try:
        result = _trial(client.node, '/strict_executor/execute_trial', theta)
        assert result.error_code == ExecuteTrial.Result.LIMITS, result.error_msg
        assert f'plan rejected ({reason})' in result.error_msg, result.error_msg
        rclpy.spin_once(client.node, timeout_sec=0.3)
        assert sent == []
    finally:
        client.node.destroy_subscription(sub)


def test_dry_run_plans_and_publishes_but_sends_nothing(standin):
    _, client, _ = standin
    sent, planned = [], []
    subs = [
        client.node.create_subscription(JointTrajectory, topic, box.append, 10)
        for topic, box in (
            ('/strict/joint_trajectory', sent),
            ('/strict_executor/planned_trajectory', planned),
        )
    ]
    try:
        time.sleep(0.5)  # let the subscriptions match
        result = _trial(client.node, '/strict_executor/execute_trial', [0.0, 0.05, 0.5])
        assert result.error_code == ExecuteTrial.Result.DRY_RUN, result.error_msg
        deadline = time.monotonic() + 2.0
        while not planned and time.monotonic() < deadline:
            rclpy.spin_once(client.node, timeout_sec=0.1)
        assert len(planned) == 1 and len(planned[0].points) > 10
        assert list(planned[0].joint_names) == list(ArmSpec().joint_names)
        assert sent == []
    finally:
        for sub in subs:
            client.node.destroy_subscription(sub)


def test_abort_holds_the_arm_at_once_and_the_record_keeps_the_trial(standin):
    _, client, runs = standin
    _enable(client.node)
    holds = []
    sub = client.node.create_subscription(
        JointTrajectory,
        '/arm_controller/joint_trajectory',
        lambda m: holds.append(time.monotonic()) if not m.points else None,
        10,
    )
    timing = {}

    def abort_during_second_trial(feedback) -> None:
        if feedback.iteration == 0:

            def abort() -> None:  # its own node and executor: the main thread is spinning
                node = rclpy.create_node('aborter')
                executor = SingleThreadedExecutor()
                executor.add_node(node)
                aborter = node.create_client(Trigger, '/trial_executor/abort')
                try:
                    assert aborter.wait_for_service(timeout_sec=5.0)
                    timing['call'] = time.monotonic()
                    future = aborter.call_async(Trigger.Request())
                    executor.spin_until_future_complete(future, timeout_sec=5.0)
                    timing['answered'] = time.monotonic()
                    timing['answer'] = future.result()
                finally:
                    executor.shutdown()
                    node.destroy_node()

            threading.Timer(1.2, abort).start()  # the second trial's stroke is under way

    try:
        status, result = client.improve(
            TASK, max_iterations=3, on_feedback=abort_during_second_trial
        )
    finally:
        client.node.destroy_subscription(sub)
    assert status == GoalStatus.STATUS_ABORTED, result.error_msg
    assert 'aborted by ~/abort' in result.error_msg
    assert timing['answer'].success
    first_hold = min(t for t in holds if t >= timing['call'])
    assert first_hold - timing['answered'] < CONTROL_PERIOD_S, (timing, holds)
    record = runs / result.run_id
    failed = [
        json.loads(line) for line in (record / 'failed_trials.jsonl').read_text().splitlines()
    ]
    assert [(f['iteration'], f['status']) for f in failed] == [(1, 'ABORTED')]
    summary = json.loads((record / 'summary.json').read_text())
    assert summary['failed_trials'][0]['status'] == 'ABORTED' and summary['iterations'] == 1
    after = _trial(client.node, '/trial_executor/execute_trial', [0.0, 0.1, 0.3])
    assert after.error_code == ExecuteTrial.Result.NOT_ENABLED  # abort disabled the arm
    _enable(client.node)
