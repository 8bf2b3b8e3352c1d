# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Races on the real-robot path, against real node processes (issue 16).

trial_executor runs without a simulator (reset_mode none, wall clock): a trial publishes its
trajectory, lets the window pass and then fails NOT_READY for want of a tracker. That is
enough to see what reaches the controller topic and which goals are answered how. sim_bridge
and trajectory_tracker run as they do in the sim graph.
"""

import json
import time
import uuid

import pytest
from action_msgs.msg import GoalStatus
from icpi_interfaces.action import ExecuteTrial, Improve
from icpi_interfaces.srv import GetTrajectory
from node_client import NodeClient, client_on
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.action import ActionClient
from rclpy.context import Context
from sensor_msgs.msg import JointState
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint
from unique_identifier_msgs.msg import UUID

from icpi_ros.nodes.conversions import seconds, to_duration, to_time

READY = r'\[trial_executor\]: ready'
CONTROLLER = '/arm_controller/joint_trajectory'
ACTION = '/trial_executor/execute_trial'
THETA = [0.0, 0.1, 0.3]


class Client(NodeClient):
    """An rclpy node in the test process, on the graph's domain."""

    def __init__(self, context: Context) -> None:
        super().__init__(context, 'safety_test')
        self.sent: list[JointTrajectory] = []
        self.node.create_subscription(JointTrajectory, CONTROLLER, self.sent.append, 10)
        self.action = ActionClient(self.node, ExecuteTrial, ACTION)
        self.feedback: dict[str, list[int]] = {}

    def send(self, trial_id: str, theta=THETA, name: str = ''):
        assert self.action.wait_for_server(timeout_sec=10.0)
        box = self.feedback.setdefault(name or trial_id, [])
        goal = ExecuteTrial.Goal(task='slide-gc', theta=theta, trial_id=trial_id)
        goal_id = UUID(uuid=list(uuid.uuid4().bytes))
        for _ in range(4):  # resent (same goal id) while unanswered: a goal lost on discovery
            sent = self.action.send_goal_async(
                goal, feedback_callback=lambda f: box.append(f.feedback.phase), goal_uuid=goal_id
            )
            self.executor.spin_until_future_complete(sent, timeout_sec=5.0)
            if sent.done():
                return sent.result()
        raise AssertionError('no answer in time (4 copies of the goal)')

    def set_parameter(self, name: str, value, node: str = 'trial_executor') -> tuple[bool, str]:
        """Set one parameter of a running node through its SetParameters service."""
        client = self.node.create_client(SetParameters, f'/{node}/set_parameters')
        assert client.wait_for_service(timeout_sec=10.0)
        if isinstance(value, bool):
            param = ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=value)
        elif isinstance(value, float):
            param = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
        else:
            param = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
        request = SetParameters.Request(parameters=[Parameter(name=name, value=param)])
        answer = self.call(client, request).results[0]  # setting it twice is harmless
        self.node.destroy_client(client)
        return answer.successful, answer.reason


@pytest.fixture
def client(ros_graph, monkeypatch):
    with client_on(ros_graph.domain_id, monkeypatch, Client) as c:
        yield c


def _executor(ros_graph, more=()):
    argv = [
        'trial_executor',
        '--ros-args',
        '-p',
        'reset_mode:=none',
        '-p',
        'service_timeout_s:=0.5',
        *more,
    ]
    return ros_graph.start('trial_executor', argv, ready=READY, timeout=30)


def test_dry_run_set_at_run_time_applies_to_the_next_trial(ros_graph, client):
    executor = _executor(ros_graph)
    ok, reason = client.set_parameter('dry_run', 'yes')
    assert not ok, reason  # typed: a string is refused
    ok, reason = client.set_parameter('dry_run', True)
    assert ok, reason
    client.spin(0.5)  # the controller subscription has matched by now
    handle = client.send('dry-1')
    assert handle.accepted
    response = client.spin_until(handle.get_result_async())
    assert response.result.error_code == ExecuteTrial.Result.DRY_RUN, response.result.error_msg
    client.spin(0.5)
    assert client.sent == []  # the arm was told nothing
    executor.wait_for_output(r'dry_run is now true: from the next trial, nothing is sent')
    # And back: the next trial is live again (it moves, then misses the tracker).
    assert client.set_parameter('dry_run', False)[0]
    executor.wait_for_output(r'dry_run is now false: from the next trial, trials move the arm')
    response = client.spin_until(client.send('live-1').get_result_async())
    assert response.result.error_code == ExecuteTrial.Result.NOT_READY, response.result.error_msg
    assert len(client.sent) == 1 and client.sent[0].points


def _abort(client: Client) -> Trigger.Response:
    service = client.node.create_client(Trigger, '/trial_executor/abort')
    assert service.wait_for_service(timeout_sec=10.0)
    answer = client.spin_until(service.call_async(Trigger.Request()))
    client.node.destroy_client(service)
    return answer


def test_abort_in_dry_run_sends_nothing_unless_a_live_trial_moves(ros_graph, client):
    argv = ['-p', 'dry_run:=true', '-p', 'require_enable:=true']
    executor = _executor(ros_graph, argv)
    deadline = time.monotonic() + 10.0
    while not client.node.count_publishers(CONTROLLER):
        assert time.monotonic() < deadline, 'the controller topic never matched'
        client.spin(0.05)
    client.spin(0.3)
    answer = _abort(client)
    assert answer.success
    assert answer.message == (
        'dry run: nothing was moving, nothing sent to the arm; disabled until '
        '/trial_executor/enable is called with true'
    )
    client.spin(0.5)
    assert client.sent == []  # nothing reached the controller topic
    executor.wait_for_output(r'WARN.*dry run: nothing was moving')
    # A live trial, then dry run switched on while it moves: it finishes as it started, and
    # an abort holds it.
    assert client.set_parameter('dry_run', False)[0]
    enable = client.node.create_client(SetBool, '/trial_executor/enable')
    assert enable.wait_for_service(timeout_sec=10.0)
    assert client.call(enable, SetBool.Request(data=True)).success
    handle = client.send('live-0')
    assert handle.accepted
    deadline = time.monotonic() + 10.0
    while ExecuteTrial.Feedback.PHASE_MOVING not in client.feedback['live-0']:
        assert time.monotonic() < deadline, client.feedback
        client.spin(0.05)
    assert client.set_parameter('dry_run', True)[0]
    answer = _abort(client)
    assert answer.message == (
        'aborted: hold sent (dry run is on, but a trial started before it was moving); '
        'disabled until /trial_executor/enable is called with true'
    )
    response = client.spin_until(handle.get_result_async())
    assert response.result.error_code == ExecuteTrial.Result.ABORTED, response.result.error_msg
    client.spin(0.3)
    assert client.sent and client.sent[0].points and not client.sent[-1].points, client.sent


def test_enable_answers_say_what_is_true_without_require_enable(ros_graph, client):
    _executor(ros_graph)
    enable = client.node.create_client(SetBool, '/trial_executor/enable')
    assert enable.wait_for_service(timeout_sec=10.0)
    answers = [client.call(enable, SetBool.Request(data=data)).message for data in (True, False)]
    assert answers == [
        'enabled: trials will move the arm (enabling is not required by this executor)',
        'disabled, but enabling is not required by this executor: trials still run',
    ]
    # And so they do: the trial moves (then misses the tracker), not NOT_ENABLED.
    response = client.spin_until(client.send('after-disable').get_result_async())
    assert response.result.error_code == ExecuteTrial.Result.NOT_READY, response.result.error_msg


def test_a_resent_goal_watches_the_running_trial(ros_graph, client):
    executor = _executor(ros_graph)
    client.spin(0.5)
    first = client.send('run-0', name='first')
    assert first.accepted
    deadline = time.monotonic() + 10.0
    while ExecuteTrial.Feedback.PHASE_MOVING not in client.feedback['first']:
        assert time.monotonic() < deadline, client.feedback
        client.spin(0.05)
    # The same goal again (a resend whose first answer was missed): accepted, attached.
    second = client.send('run-0', name='second')
    assert second.accepted
    # Another trial while one runs: accepted, and aborted at once with BUSY and the reason.
    other = client.send('run-1', name='other')
    assert other.accepted
    busy = client.spin_until(other.get_result_async(), timeout=5.0)
    assert busy.status == GoalStatus.STATUS_ABORTED
    assert busy.result.error_code == ExecuteTrial.Result.BUSY
    assert busy.result.error_msg == 'busy: another trial is running (trial run-0, slide-gc)'
    assert busy.result.trial.trial_id == 'run-1'
    assert busy.result.trial.status == ExecuteTrial.Result.BUSY
    # The first copy is canceled (as the loop does before resending): the trial goes on,
    # because the resend still watches it.
    client.spin_until(first.cancel_goal_async())
    results = [client.spin_until(h.get_result_async()) for h in (first, second)]
    assert results[0].status == GoalStatus.STATUS_CANCELED
    assert results[1].status == GoalStatus.STATUS_ABORTED  # the trial's own end: no tracker
    for response in results:
        assert response.result.trial.trial_id == 'run-0'
        assert response.result.error_code == ExecuteTrial.Result.NOT_READY
    assert ExecuteTrial.Feedback.PHASE_SETTLING in client.feedback['second']  # its heartbeat
    client.spin(0.3)
    # One trajectory reached the arm, and no hold: nothing was stopped half-way.
    assert [bool(m.points) for m in client.sent] == [True]
    executor.wait_for_output(r'trial run-0: the same goal again \(a resend\)')
    executor.wait_for_output(
        r'refused trial run-1: busy: another trial is running \(trial run-0, slide-gc\)'
    )


def test_the_loop_counts_a_busy_answer_as_not_run(ros_graph, client, tmp_path):
    """An Improve run whose trial meets another client's: it fails, and records no trial."""
    runs = tmp_path / 'runs'
    ros_graph.start(
        'improvement_loop',
        ['improvement_loop', '--ros-args', '-p', f'runs_dir:={runs}'],
        ready=r'\[improvement_loop\]: ready',
        timeout=30,
    )
    _executor(ros_graph)
    client.spin(0.5)
    first = client.send('other-0', name='first')
    assert first.accepted
    deadline = time.monotonic() + 10.0
    while ExecuteTrial.Feedback.PHASE_MOVING not in client.feedback['first']:
        assert time.monotonic() < deadline, client.feedback
        client.spin(0.05)
    improve = ActionClient(client.node, Improve, '/improvement_loop/improve')
    assert improve.wait_for_server(timeout_sec=10.0)
    handle = client.spin_until(
        improve.send_goal_async(Improve.Goal(task='slide-gc', max_iterations=2))
    )
    assert handle.accepted
    response = client.spin_until(handle.get_result_async(), timeout=10.0)
    result = response.result
    assert response.status == GoalStatus.STATUS_ABORTED
    assert result.error_code == Improve.Result.TRIAL_FAILED, result.error_msg
    assert result.error_msg == (
        f'the trial executor refused trial {result.run_id}-0: busy: another trial is running '
        '(trial other-0, slide-gc)'
    )
    # Not a failed trial of this run: it did not run.
    assert list(result.history) == [] and list(result.trial_ids) == []
    record = runs / result.run_id
    assert (record / 'trials.jsonl').read_text() == ''
    assert not (record / 'failed_trials.jsonl').exists()
    summary = json.loads((record / 'summary.json').read_text())
    assert summary['status'] == 'failed' and summary['failed_trials'] == []
    # The other client's trial went on undisturbed (it fails for want of a tracker).
    other = client.spin_until(first.get_result_async())
    assert other.result.error_code == ExecuteTrial.Result.NOT_READY, other.result.error_msg


def test_canceling_every_copy_stops_the_trial(ros_graph, client):
    _executor(ros_graph)
    client.spin(0.5)
    first = client.send('run-0', name='first')
    second = client.send('run-0', name='second')
    assert first.accepted and second.accepted
    deadline = time.monotonic() + 10.0
    while ExecuteTrial.Feedback.PHASE_MOVING not in client.feedback['first']:
        assert time.monotonic() < deadline, client.feedback
        client.spin(0.05)
    for handle in (first, second):
        client.spin_until(handle.cancel_goal_async())
    results = [client.spin_until(h.get_result_async()) for h in (first, second)]
    assert [r.status for r in results] == [GoalStatus.STATUS_CANCELED] * 2
    assert all(r.result.error_code == ExecuteTrial.Result.ABORTED for r in results)
    client.spin(0.3)
    assert [bool(m.points) for m in client.sent] == [True, False]  # the trajectory, the hold


BRIDGE_READY = r'\[sim_bridge\]: ready'
TRACKER_READY = r'\[trajectory_tracker\]: ready'


def test_sim_bridge_exits_non_zero_when_its_physics_dies(ros_graph):
    saved = dict(ros_graph.env)
    ros_graph.env['ICPI_TEST_PHYSICS_FAULT_S'] = '1.0'  # test-only fault injection
    try:
        bridge = ros_graph.start(
            'sim_bridge', ['sim_bridge', '--ros-args', '-p', 'publish_camera:=false'], BRIDGE_READY
        )
    finally:
        ros_graph.env.clear()
        ros_graph.env.update(saved)
    code = bridge.wait(timeout=20)
    assert code == 3, bridge.output()
    stderr = bridge.output('stderr')
    assert 'physics thread died (RuntimeError: injected physics fault' in stderr, stderr
    assert 'exiting: physics died' in stderr and 'Traceback' not in stderr, stderr


def _joints(client: Client) -> list:
    states: list = []
    client.node.create_subscription(JointState, '/joint_states', states.append, 10)
    return states


def _stroke(names, home, stamp: float) -> JointTrajectory:
    """Turn the base by 0.3 rad in 1 s, starting at `stamp` (robot clock, s)."""
    msg = JointTrajectory(joint_names=list(names))
    msg.header.stamp = to_time(stamp)
    for t, dq in ((0.0, 0.0), (1.0, 0.3)):
        msg.points.append(
            JointTrajectoryPoint(
                positions=[home[0] + dq, *home[1:]], time_from_start=to_duration(t)
            )
        )
    return msg


def test_sim_bridge_refuses_a_trajectory_that_starts_in_the_past(ros_graph, client):
    bridge = ros_graph.start(
        'sim_bridge',
        # Never idle: the stamps below are read off /joint_states, which idles at 2 Hz.
        ['sim_bridge', '--ros-args', '-p', 'publish_camera:=false', '-p', 'idle_rate_hz:=0.0'],
        BRIDGE_READY,
        timeout=30,
    )
    states = _joints(client)
    publisher = client.node.create_publisher(JointTrajectory, CONTROLLER, 10)
    deadline = time.monotonic() + 10.0
    while not (
        states and publisher.get_subscription_count() and seconds(states[-1].header.stamp) > 1
    ):
        assert time.monotonic() < deadline, 'no joint states'
        client.spin(0.05)
    home = list(states[-1].position)
    now = seconds(states[-1].header.stamp)
    # 0.5 s late: the old bridge started it half-way through, the base jumping by 0.15 rad.
    publisher.publish(_stroke(states[-1].name, home, now - 0.5))
    client.spin(1.5)
    assert abs(states[-1].position[0] - home[0]) < 0.005, (home, list(states[-1].position))
    bridge.wait_for_output(r'rejected trajectory: it starts at .* s in the past')
    # Stamped ahead, the same stroke runs in full.
    now = seconds(states[-1].header.stamp)
    publisher.publish(_stroke(states[-1].name, home, now + 0.3))
    client.spin(2.0)
    assert abs(states[-1].position[0] - home[0] - 0.3) < 0.01, list(states[-1].position)


def test_tracker_buffer_and_coverage_change_at_run_time(ros_graph, client, tmp_path):
    calibration = tmp_path / 'calibration.yaml'
    done = ros_graph.run(['icpi', 'calibrate', '--sim', 'slide-gc', '--out', str(calibration)])
    assert done.returncode == 0, done.stderr
    ros_graph.start('sim_bridge', ['sim_bridge'], ready=BRIDGE_READY, timeout=30)
    tracker = ros_graph.start(
        'trajectory_tracker',
        [
            'trajectory_tracker',
            '--ros-args',
            '--params-file',
            'config/tracker.yaml',
            '-p',
            f'calibration_file:={calibration}',
        ],
        ready=TRACKER_READY,
    )
    states = _joints(client)
    service = client.node.create_client(GetTrajectory, '/trajectory_tracker/get_trajectory')
    assert service.wait_for_service(timeout_sec=10.0)

    def ask(start: float, end: float) -> GetTrajectory.Response:
        request = GetTrajectory.Request(start=to_time(start), end=to_time(end))
        return client.call(service, request)

    deadline = time.monotonic() + 30.0
    while True:  # until the tracker has 3 s of frames behind it
        client.spin(0.1)
        if states:
            t = seconds(states[-1].header.stamp)
            window = (t - 3.0, t - 2.0)  # frames of the puck at rest, 2-3 s old
            answer = ask(*window)
            if answer.success:
                break
        assert time.monotonic() < deadline, answer.message if states else 'no clock'
    # A shorter buffer drops those frames from the next image on.
    assert client.set_parameter('buffer_s', 1.0, 'trajectory_tracker')[0]
    deadline = time.monotonic() + 5.0  # the next frame: the idle bridge renders at 2 Hz
    while (answer := ask(*window)).success and time.monotonic() < deadline:
        client.spin(0.2)
    assert not answer.success and 'no frames between' in answer.message, answer.message
    tracker.wait_for_output(r'buffer_s is now 1: applies from the next frame')
    ok, reason = client.set_parameter('min_coverage', 1.5, 'trajectory_tracker')
    assert not ok, reason  # out of its range
    assert client.set_parameter('min_coverage', 1.0, 'trajectory_tracker')[0]
    tracker.wait_for_output(r'min_coverage is now 1: applies from the next trajectory request')


def test_the_executor_checks_the_controller_s_spline_not_only_the_plan(ros_graph, client):
    # slide-gc theta (0, 0.1, 0.3): the 100 Hz plan peaks at 23.1 rad/s², the cubic spline
    # through every 5th point at 25.5 (test_kinematics_safety.py): 24 lies between.
    argv = ['trial_executor', '--ros-args', '-p', 'dry_run:=true', '-p', 'max_joint_accel:=24.0']
    ros_graph.start('trial_executor', argv, ready=READY, timeout=30)
    response = client.spin_until(client.send('accel-1').get_result_async())
    assert response.result.error_code == ExecuteTrial.Result.LIMITS, response.result.error_msg
    assert 'plan rejected (acceleration): sent trajectory between the sent points' in (
        response.result.error_msg
    )
