# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""A closed-loop push-gc trial through the real sim graph (issue 19).

sim_bridge (MuJoCo, camera at 30 Hz, real time), trajectory_tracker and trial_executor run as
processes on sim time; the test is an ExecuteTrial client that also listens to the controller
topic, /joint_states and the simulator's ground truth (/sim/object_pose).
"""

import time
import uuid

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped
from icpi_interfaces.action import ExecuteTrial
from node_client import NodeClient, client_on
from rclpy.action import ActionClient
from rclpy.context import Context
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory
from unique_identifier_msgs.msg import UUID

from icpi_ros.core.tasks import load_tasks
from icpi_ros.nodes.conversions import seconds
from icpi_ros.process.node_processes import DomainLease, ProcessGraph

TASK = load_tasks()['push-gc']
Codes = ExecuteTrial.Result
SIM_TIME = ['-p', 'use_sim_time:=true']


@pytest.fixture(scope='module')
def graph(tmp_path_factory, repo_root):
    """sim_bridge, trajectory_tracker and trial_executor on their own domain, on sim time."""
    work = tmp_path_factory.mktemp('closed_loop')
    lease = DomainLease()
    processes = ProcessGraph(lease.domain_id, work, repo_root)
    try:
        calibration = work / 'calibration.yaml'
        done = processes.run(['icpi', 'calibrate', '--sim', 'push-gc', '--out', str(calibration)])
        assert done.returncode == 0, done.stderr
        processes.start(
            'sim_bridge',
            ['sim_bridge', '--ros-args', '--params-file', 'config/sim.yaml'],
            ready=r'\[sim_bridge\]: ready',
            timeout=30,
        )
        tracker = ['trajectory_tracker', '--ros-args', '--params-file', 'config/tracker.yaml']
        processes.start(
            'trajectory_tracker',
            [*tracker, '-p', f'calibration_file:={calibration}', *SIM_TIME],
            ready=r'\[trajectory_tracker\]: ready',
        )
        processes.start(
            'trial_executor',
            ['trial_executor', '--ros-args', *SIM_TIME],
            ready=r'\[trial_executor\]: ready',
            timeout=30,
        )
        yield processes
    finally:
        problems = processes.shutdown()
        lease.release()
    assert not problems, '\n\n'.join(problems)


class Client(NodeClient):
    """The test's node: ExecuteTrial goals, ~/abort, and what reaches the arm and the world."""

    def __init__(self, context: Context) -> None:
        super().__init__(context, 'closed_loop_test')
        self.sent: list[tuple[float, JointTrajectory]] = []  # (wall time, message)
        self.truth: list[tuple[float, float, float]] = []  # (stamp, x, y)
        self.joints: list[tuple[float, list[float]]] = []  # (wall time, positions)
        self.phases: list[int] = []
        node = self.node
        node.create_subscription(
            JointTrajectory,
            '/arm_controller/joint_trajectory',
            lambda m: self.sent.append((time.monotonic(), m)),
            10,
        )
        node.create_subscription(PoseStamped, '/sim/object_pose', self._on_pose, 10)
        node.create_subscription(
            JointState,
            '/joint_states',
            lambda m: self.joints.append((time.monotonic(), list(m.position))),
            10,
        )
        self.action = ActionClient(node, ExecuteTrial, '/trial_executor/execute_trial')

    def _on_pose(self, msg: PoseStamped) -> None:
        p = msg.pose.position
        self.truth.append((seconds(msg.header.stamp), p.x, p.y))

    def spin_until(self, future, timeout: float = 60.0):
        return super().spin_until(future, timeout)

    def wait_for_streams(self, timeout_s: float = 20.0) -> None:
        """Spin until the joint states and the ground truth reach this (new) node."""
        deadline = time.monotonic() + timeout_s
        while not (self.joints and self.truth):
            assert time.monotonic() < deadline, 'no /joint_states or /sim/object_pose'
            self.spin(0.05)

    def send(self, trial_id: str, theta, goal):
        assert self.action.wait_for_server(timeout_sec=20.0)
        self.wait_for_streams()  # discovery: what the test reads must be matched before
        self.phases = []
        return self.spin_until(
            self.action.send_goal_async(
                ExecuteTrial.Goal(task='push-gc', theta=theta, goal=goal, trial_id=trial_id),
                feedback_callback=lambda f: self.phases.append(f.feedback.phase),
                goal_uuid=UUID(uuid=list(uuid.uuid4().bytes)),
            )
        )

    def abort(self) -> Trigger.Response:
        service = self.node.create_client(Trigger, '/trial_executor/abort')
        assert service.wait_for_service(timeout_sec=10.0)
        answer = self.spin_until(service.call_async(Trigger.Request()))
        self.node.destroy_client(service)
        return answer


@pytest.fixture
def client(graph, monkeypatch):
    with client_on(graph.domain_id, monkeypatch, Client) as c:
        yield c


def test_a_closed_loop_trial_streams_its_steps_and_tracks_the_true_outcome(client):
    goal = [0.6, 0.02]
    handle = client.send('push-0', TASK.theta_middle().tolist(), goal)
    assert handle.accepted
    response = client.spin_until(handle.get_result_async())
    result = response.result
    assert result.error_code == Codes.NONE, result.error_msg
    trial = result.trial
    steps = TASK.closed_loop.steps
    assert trial.control_steps == steps == 80
    assert trial.missed_deadlines == 0, trial.step_wall_max_s
    assert trial.step_wall_max_s < TASK.closed_loop.dt
    assert trial.safety_events > 0  # the reference controller's first commands are clipped
    # The tracked outcome is the simulator's ground truth at the end of the window.
    end = seconds(trial.end_stamp)
    client.spin(0.3)
    truth = np.array(client.truth)
    final = truth[np.argmin(np.abs(truth[:, 0] - end)), 1:]
    assert np.linalg.norm(np.subtract(trial.outcome, final)) < 0.003, (trial.outcome, final)
    # The puck was pushed. How close it ends to the goal depends on the graph's timing (the
    # tracker's latency in each observation): 2-20 mm in most runs, once 9 cm short; the
    # controller's cost over the graph is measured by `icpi demo --task push-gc`, not here.
    assert np.linalg.norm(final - TASK.motion.object_start) > 0.03
    distance = float(np.linalg.norm(trial.error))
    assert trial.effort > 0 and trial.cost == pytest.approx(
        distance + TASK.effort_weight * trial.effort
    )
    # One short trajectory per step (and the stop), 50 ms apart on the robot clock.
    start = seconds(trial.start_stamp)
    stream = [m for _, m in client.sent if m.points and seconds(m.header.stamp) >= start]
    stamps = np.array([seconds(m.header.stamp) for m in stream])
    assert len(stream) == steps + 1 and stamps[0] == pytest.approx(start)
    np.testing.assert_allclose(np.diff(stamps), TASK.closed_loop.dt, atol=1e-6)
    assert all(len(m.points) == 3 for m in stream)
    np.testing.assert_allclose(stream[-1].points[-1].velocities, 0.0)  # the stop
    assert trial.status == Codes.NONE and ExecuteTrial.Feedback.PHASE_MOVING in client.phases


def test_an_abort_mid_episode_holds_the_arm(client, graph):
    sent_at = time.monotonic()
    handle = client.send('push-1', TASK.theta_middle().tolist(), [0.62, -0.03])
    assert handle.accepted
    deadline = time.monotonic() + 30.0
    while ExecuteTrial.Feedback.PHASE_MOVING not in client.phases:
        assert time.monotonic() < deadline, client.phases
        client.spin(0.05)
    client.spin(1.5)  # mid-episode: the tool is pushing
    before = len([m for _, m in client.sent if m.points])
    aborted_at = time.monotonic()
    answer = client.abort()
    assert answer.success and answer.message.startswith('aborted: hold sent'), answer.message
    response = client.spin_until(handle.get_result_async())
    assert response.result.error_code == Codes.ABORTED, response.result.error_msg
    assert 'aborted by ~/abort while streaming' in response.result.error_msg
    client.spin(2.0)
    assert before > 10  # it had been streaming
    # Nothing moving reached the arm after the hold, and the arm stands still.
    after = [m for t, m in client.sent if t > aborted_at]
    held = next(i for i, m in enumerate(after) if not m.points)  # the abort's hold
    assert all(not m.points for m in after[held:]), [len(m.points) for m in after]
    moving = np.array([q for t, q in client.joints if sent_at < t < aborted_at])
    assert len(moving) and np.ptp(moving, axis=0).max() > 0.01, np.ptp(moving, axis=0)
    # (idle again, the bridge publishes the joints at 2 Hz)
    still = np.array([q for t, q in client.joints if t > aborted_at + 0.3])
    assert len(still) >= 3 and np.ptp(still, axis=0).max() < 1e-3, np.ptp(still, axis=0)
    executor = next(p for p in graph.processes if p.name == 'trial_executor')
    executor.wait_for_output(r'trial push-1 failed: aborted by ~/abort while streaming')


# A policy given as code (ExecuteTrial's policy_source): the hand-written P controller's idea.
SANDBOXED = """
import numpy as np


class Policy:
    def reset(self, goal):
        self.goal = np.array(goal)

    def act(self, obs):
        puck, tool = np.array(obs['puck']), np.array(obs['tool'])
        along = self.goal - puck
        distance = np.linalg.norm(along)
        along = along / max(distance, 1e-9)
        behind = puck - 0.0605 * along - tool
        if np.linalg.norm(behind) > 0.01:
            return (3.0 * behind).tolist()
        return (3.0 * distance * along).tolist()
"""
# ... and one that stops answering in time at its 11th step.
LATE = """
class Policy:
    def __init__(self):
        self.steps = 0

    def act(self, obs):
        self.steps += 1
        while self.steps > 10:
            pass
        return [0.1, 0.0]
"""


def test_a_policy_given_as_code_runs_in_the_sandbox_and_a_late_step_holds(client):
    goal = [0.62, -0.03]  # 3 mm on the fast path (rollout with the same PolicyProcess)
    assert client.action.wait_for_server(timeout_sec=20.0)
    sent = client.action.send_goal_async(
        ExecuteTrial.Goal(task='push-gc', goal=goal, trial_id='code-0', policy_source=SANDBOXED)
    )
    response = client.spin_until(client.spin_until(sent).get_result_async())
    trial = response.result.trial
    assert response.result.error_code == Codes.NONE, response.result.error_msg
    assert list(trial.theta) == [] and trial.control_steps == 80 and trial.missed_deadlines == 0
    # The P controller's result is sensitive to the graph's timing (3 mm on the fast path,
    # 31 and 109 mm seen here): the test asks that the code pushed the puck, not how well.
    pushed = np.subtract(trial.outcome, TASK.motion.object_start)
    assert np.isfinite(trial.cost) and np.linalg.norm(pushed) > 0.03, trial.outcome
    # The late one: held at its 11th step, the trial failed with the sandbox's reason.
    sent = client.action.send_goal_async(
        ExecuteTrial.Goal(task='push-gc', goal=goal, trial_id='code-1', policy_source=LATE)
    )
    response = client.spin_until(client.spin_until(sent).get_result_async())
    result = response.result
    assert result.error_code == Codes.POLICY_FAILED, result.error_msg
    assert result.error_msg.startswith('step 10 (t = 0.50 s) failed: late: act took longer')
    failed_at = time.monotonic()
    client.spin(1.0)
    assert not client.sent[-1][1].points  # the hold
    assert all(not m.points for t, m in client.sent if t > failed_at)
    # Theta of an open-loop task cannot be replaced by code.
    sent = client.action.send_goal_async(
        ExecuteTrial.Goal(task='slide-gc', trial_id='code-2', policy_source=SANDBOXED)
    )
    result = client.spin_until(client.spin_until(sent).get_result_async()).result
    assert result.error_code == Codes.INVALID_PARAMS, result.error_msg
    assert "policy_source: task 'slide-gc' is not a closed-loop task" in result.error_msg
