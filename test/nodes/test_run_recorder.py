# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""run_recorder as a process: a bag survives SIGKILL up to its last chunk; Ctrl-C loses nothing.

The test process plays the loop (the latched run topic) and the arm (/joint_states, camera).
"""

import signal
import time

import cv2
import numpy as np
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String

from icpi_ros.core.bag_read import read_messages, summarize
from icpi_ros.nodes.runtime import LATCHED

RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)


def _recording(ros_graph, node, run, preroll: float = 0.0):
    """Start the recorder, name `run` on the run topic; return (process, publishers)."""
    argv = ['run_recorder', '--ros-args', '-p', 'flush_period_s:=0.5', '-p', 'chunk_bytes:=4096']
    argv += ['-p', f'preroll_s:={preroll}']
    recorder = ros_graph.start('run_recorder', argv, ready=r'\[run_recorder\]: ready', timeout=30)
    test_node, executor = node
    states = test_node.create_publisher(JointState, '/joint_states', RELIABLE)
    images = test_node.create_publisher(Image, '/camera/image_raw', RELIABLE)
    runs = test_node.create_publisher(String, '/improvement_loop/run', LATCHED)
    deadline = time.monotonic() + 15.0
    while not (states.get_subscription_count() and images.get_subscription_count()):
        assert time.monotonic() < deadline, 'the recorder never subscribed'
        executor.spin_once(timeout_sec=0.05)
    run.mkdir()
    runs.publish(String(data=str(run)))
    recorder.wait_for_output(r'recording \S+run\.mcap', 15.0)
    return recorder, states, images


def _publish(node, states, images, count: int) -> None:
    test_node, executor = node
    frame = Image(width=64, height=48, encoding='rgb8', step=192)
    frame.data = bytes([255, 0, 0] * 64 * 48)  # red
    for i in range(count):
        states.publish(JointState(name=['j1'], position=[float(i)]))
        if i % 10 == 0:
            images.publish(frame)
        executor.spin_once(timeout_sec=0.01)


def test_a_sigkill_leaves_the_bag_readable_up_to_its_last_chunk(ros_graph, node, tmp_path):
    run = tmp_path / 'run-1'
    recorder, states, images = _recording(ros_graph, node, run)
    _publish(node, states, images, 300)
    time.sleep(1.5)  # > flush_period_s: the chunk in progress is ended and fsynced
    recorder.stop(sig=signal.SIGKILL)

    bag = run / 'run.mcap'
    summary = summarize(bag)
    assert not summary.complete and 'truncated' in summary.problem
    assert summary.chunks >= 2
    # Everything sent before the last periodic flush is there, in order.
    positions = [m.position[0] for _, _, m in read_messages(bag, ['/joint_states'])]
    assert positions == [float(i) for i in range(300)]
    assert summary.topics['/joint_states'].count == 300
    assert summary.topics['/camera/image_raw/compressed'].count >= 1


def test_ctrl_c_closes_the_bag_with_every_message(ros_graph, node, tmp_path):
    run = tmp_path / 'run-2'
    recorder, states, images = _recording(ros_graph, node, run)
    _publish(node, states, images, 200)
    time.sleep(0.3)  # the last messages delivered (not yet flushed: flush_period_s is 0.5)
    recorder.assert_clean_exit(recorder.stop())

    bag = run / 'run.mcap'
    summary = summarize(bag)
    assert summary.complete, summary.problem
    assert summary.topics['/joint_states'].count == 200
    assert summary.topics['/joint_states'].type_name == 'sensor_msgs/msg/JointState'
    frames = [m for _, _, m in read_messages(bag, ['/camera/image_raw/compressed'])]
    assert len(frames) == 20 and frames[0].format == 'jpeg'
    image = cv2.imdecode(np.frombuffer(bytes(frames[0].data), np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (48, 64, 3)
    blue, green, red = image[24, 32]
    assert red > 200 and green < 60 and blue < 60  # red stays red through RGB -> JPEG (BGR)
