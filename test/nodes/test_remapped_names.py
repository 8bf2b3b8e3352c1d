# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Start-up log lines name the topics and services as remapped (`-r`), not the defaults.

A user who remaps the camera or the controller reads the log to see where a node listens or
sends; a line naming the default would send them looking in the wrong place (issue 22).
"""

import time
import uuid

from icpi_interfaces.action import ExecuteTrial
from rclpy.action import ActionClient
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from trajectory_msgs.msg import JointTrajectory
from unique_identifier_msgs.msg import UUID

from icpi_ros.core.vision.camera import save_extrinsics

IMAGE, INFO = '/cam0/image', '/cam0/info'
CONTROLLER = '/arm2/joint_trajectory'
TRACKER = '/tracker2/get_trajectory'


def _spin_until(executor, done, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, what
        executor.spin_once(timeout_sec=0.05)


def test_the_tracker_names_its_remapped_camera_topics(ros_graph, node, tmp_path):
    calibration = tmp_path / 'calibration.yaml'
    save_extrinsics(calibration, [[1, 0, 0], [0, 1, 0], [0, 0, 1]], [0.0, 0.0, 1.0])
    argv = ['trajectory_tracker', '--ros-args', '--params-file', 'config/tracker.yaml']
    argv += ['-p', f'calibration_file:={calibration}']
    argv += ['-r', f'/camera/image_raw:={IMAGE}', '-r', f'/camera/camera_info:={INFO}']
    tracker = ros_graph.start(
        'trajectory_tracker', argv, ready=r'\[trajectory_tracker\]: ready', timeout=30
    )
    ready = tracker.wait_for_output(r'\[trajectory_tracker\]: ready: .*').group(0)
    assert f'image {IMAGE}' in ready and f'camera info {INFO}' in ready, ready
    # Images on the remapped topic and no camera info yet: the wait names the remapped topic.
    test_node, executor = node
    publisher = test_node.create_publisher(
        Image, IMAGE, QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    )
    _spin_until(executor, publisher.get_subscription_count, 10.0, 'the tracker never subscribed')
    image = Image(width=4, height=4, encoding='rgb8', step=12, data=bytes(48))
    for _ in range(5):
        publisher.publish(image)
        executor.spin_once(timeout_sec=0.05)
    line = tracker.wait_for_output(r'waiting for camera info on \S+').group(0)
    assert line == f'waiting for camera info on {INFO}', tracker.output()
    assert '/camera/' not in tracker.output(), tracker.output()


def test_the_executor_names_its_remapped_controller_and_tracker(ros_graph, node):
    argv = ['trial_executor', '--ros-args', '-p', 'reset_mode:=none']
    argv += ['-p', 'service_timeout_s:=0.5']
    argv += ['-r', f'/arm_controller/joint_trajectory:={CONTROLLER}']
    argv += ['-r', f'/trajectory_tracker/get_trajectory:={TRACKER}']
    process = ros_graph.start(
        'trial_executor', argv, ready=r'\[trial_executor\]: ready', timeout=30
    )
    ready = process.wait_for_output(r'\[trial_executor\]: ready: .*').group(0)
    assert f'controller {CONTROLLER},' in ready and f'tracker {TRACKER},' in ready, ready
    assert '/arm_controller/' not in ready and '/trajectory_tracker/' not in ready, ready
    # And that is where it really goes: the trajectory arrives on the remapped topic, and the
    # missing tracker is named as remapped.
    test_node, executor = node
    sent: list[JointTrajectory] = []
    test_node.create_subscription(JointTrajectory, CONTROLLER, sent.append, 10)
    action = ActionClient(test_node, ExecuteTrial, '/trial_executor/execute_trial')
    _spin_until(executor, action.server_is_ready, 10.0, 'no action server')
    _spin_until(executor, lambda: test_node.count_publishers(CONTROLLER), 10.0, 'no publisher')
    executor.spin_once(timeout_sec=0.3)
    goal = ExecuteTrial.Goal(task='slide-gc', theta=[0.0, 0.1, 0.3], trial_id='remap-0')
    sent_goal = action.send_goal_async(goal, goal_uuid=UUID(uuid=list(uuid.uuid4().bytes)))
    _spin_until(executor, sent_goal.done, 10.0, 'no answer to the goal')
    result = sent_goal.result().get_result_async()
    _spin_until(executor, result.done, 20.0, 'no result')
    answer = result.result().result
    assert answer.error_code == ExecuteTrial.Result.NOT_READY, answer.error_msg
    assert f'the tracker ({TRACKER}) is not available' in answer.error_msg, answer.error_msg
    executor.spin_once(timeout_sec=0.3)
    assert len(sent) == 1 and sent[0].points
