# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""trajectory_tracker on real processes: sim camera -> tracked trajectory vs ground truth."""

import json
import sys

import numpy as np
import pytest

BRIDGE_READY = r'\[sim_bridge\]: ready'
TRACKER_READY = r'\[trajectory_tracker\]: ready'


def _calibrate(ros_graph, tmp_path):
    calibration = tmp_path / 'calibration.yaml'
    done = ros_graph.run(['icpi', 'calibrate', '--sim', 'slide-gc', '--out', str(calibration)])
    assert done.returncode == 0, done.stderr
    return calibration


def _start_tracker(ros_graph, calibration=None, reliability=None):
    argv = ['trajectory_tracker', '--ros-args', '--params-file', 'config/tracker.yaml']
    if calibration is not None:
        argv += ['-p', f'calibration_file:={calibration}']
    if reliability is not None:
        argv += ['-p', f'image_reliability:={reliability}']
    return ros_graph.start('trajectory_tracker', argv, ready=TRACKER_READY)


def test_tracked_trial_matches_the_ground_truth(ros_graph, tmp_path):
    calibration = _calibrate(ros_graph, tmp_path)
    bridge = ros_graph.start('sim_bridge', ['sim_bridge'], ready=BRIDGE_READY, timeout=30)
    tracker = _start_tracker(ros_graph, calibration)
    probe = ros_graph.run(
        [sys.executable, 'test/nodes/helpers/tracked_trial_probe.py'], timeout=120
    )
    assert probe.returncode == 0, probe.stdout + probe.stderr
    got = json.loads(probe.stdout.strip().splitlines()[-1])
    assert got['success'], got
    assert got['frame_id'] == 'table'
    assert got['frames'] >= 60 and got['coverage'] >= 0.95  # ~90 frames in 3 s at 30 Hz
    assert got['compared'] >= 50
    assert got['mean_error_m'] <= 0.002 and got['max_error_m'] <= 0.005, got
    # The puck really moved, and the tracked final position is the true one.
    assert np.linalg.norm(np.subtract(got['final_truth'], got['start_truth'])) > 0.1
    assert np.linalg.norm(np.subtract(got['final_tracked'], got['final_truth'])) <= 0.005
    for node in (tracker, bridge):
        node.assert_clean_exit(node.stop())


def test_missing_calibration_is_reported_not_a_crash(ros_graph):
    bridge = ros_graph.start('sim_bridge', ['sim_bridge'], ready=BRIDGE_READY, timeout=30)
    tracker = _start_tracker(ros_graph)
    tracker.wait_for_output(
        'no calibration, tracking disabled: parameter calibration_file is empty'
    )
    # Frames keep arriving meanwhile; a crash would show in the exit code checked below.
    for node in (tracker, bridge):
        node.assert_clean_exit(node.stop())


BAD_IMAGES = """
import time, rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
rclpy.init(); n = Node('bad_images')
camera = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABILITY)  # the pair alike
info = n.create_publisher(CameraInfo, '/camera/camera_info', camera)
image = n.create_publisher(Image, '/camera/image_raw', camera)
cam = CameraInfo(width=640, height=480, k=[579.4, 0.0, 319.5, 0.0, 579.4, 239.5, 0.0, 0.0, 1.0])
deadline = time.monotonic() + 20
while image.get_subscription_count() == 0 and time.monotonic() < deadline:
    rclpy.spin_once(n, timeout_sec=0.05)
for _ in range(40):
    info.publish(cam)
    data = bytes(STEP * 480)
    image.publish(Image(width=640, height=480, encoding=ENCODING, step=STEP, data=data))
    rclpy.spin_once(n, timeout_sec=0.05)
"""


def test_a_warning_then_an_error_from_the_same_report(ros_graph, tmp_path):
    """Images before camera info (a warning), then bad images (an error): both logged.

    rclpy refuses a logging call site whose severity changes; the tracker died of it.
    """
    tracker = _start_tracker(ros_graph, _calibrate(ros_graph, tmp_path))
    code = BAD_IMAGES.replace('ENCODING', repr('mono8')).replace('STEP', '640')
    code = code.replace('RELIABILITY', 'RELIABLE')
    code = code.replace(
        'for _ in range(40):\n    info.publish(cam)',
        'for i in range(40):\n    i > 10 and info.publish(cam)',
    )
    assert 'i > 10 and info.publish(cam)' in code
    assert ros_graph.run([sys.executable, '-c', code], timeout=60).returncode == 0
    tracker.wait_for_output('waiting for camera info')
    tracker.wait_for_output("image refused: .*unsupported image encoding 'mono8'")
    tracker.assert_clean_exit(tracker.stop())


@pytest.mark.parametrize('reliability', ['reliable', 'best_effort'])
def test_bad_images_are_refused_with_the_reason(ros_graph, tmp_path, reliability):
    """A camera publishing both topics with one QoS is heard whole with that setting."""
    tracker = _start_tracker(ros_graph, _calibrate(ros_graph, tmp_path), reliability)
    for encoding, step, reason in (
        ('mono8', 640, "unsupported image encoding 'mono8'"),
        ('rgb8', 1000, 'step 1000'),
    ):
        code = BAD_IMAGES.replace('ENCODING', repr(encoding)).replace('STEP', str(step))
        code = code.replace('RELIABILITY', reliability.upper())
        assert ros_graph.run([sys.executable, '-c', code], timeout=60).returncode == 0
        tracker.wait_for_output(f'image refused: .*{reason}')
    assert 'incompatible QoS' not in tracker.output()
    tracker.assert_clean_exit(tracker.stop())
