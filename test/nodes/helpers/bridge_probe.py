# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Test-only client of sim_bridge: sends trajectories, watches the topics, prints JSON.

Usage: bridge_probe.py
Sends three malformed trajectories (unknown joint, over a joint limit, times going back),
then one that turns base_yaw by +0.3 rad in 1 s, stamped to start 3 s ahead on /clock, and
reports what /joint_states, /clock, /camera/image_raw, /camera/camera_info and /sim/object_pose
showed, plus two ResetScene calls. Times of the move come from the joint states' own stamps (the
simulated time of each state): the last message a subscription has taken can lag another's.
"""

import json
import sys

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import PoseStamped
from icpi_interfaces.srv import ResetScene
from probe import probe_node
from probe import spin_until as wait_until
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

TIMEOUT_S = 30.0
JOINTS = ['base_yaw', 'shoulder', 'elbow', 'wrist']


def stamp_s(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def trajectory(names, points, start_s: float = 0.0):
    msg = JointTrajectory(joint_names=names)
    msg.header.stamp.sec = int(start_s)
    msg.header.stamp.nanosec = int((start_s - int(start_s)) * 1e9)
    for t, q in points:
        sec = int(t)
        msg.points.append(
            JointTrajectoryPoint(
                positions=list(q), time_from_start=Duration(sec=sec, nanosec=int((t - sec) * 1e9))
            )
        )
    return msg


def main() -> int:
    with probe_node('bridge_probe') as node:
        seen = {'joints': [], 'clock': [], 'images': [], 'info': [], 'pose': []}
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        node.create_subscription(JointState, '/joint_states', seen['joints'].append, reliable)
        node.create_subscription(Clock, '/clock', seen['clock'].append, reliable)
        node.create_subscription(PoseStamped, '/sim/object_pose', seen['pose'].append, reliable)
        # Reliable, as the tracker takes them: a 640x480 frame is UDP fragments (too big for
        # shared memory), and on a loaded machine a best-effort reader can lose every one of
        # the idle bridge's 2 frames a second.
        frames = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)  # no backlog
        node.create_subscription(Image, '/camera/image_raw', seen['images'].append, frames)
        node.create_subscription(CameraInfo, '/camera/camera_info', seen['info'].append, reliable)
        pub = node.create_publisher(JointTrajectory, '/arm_controller/joint_trajectory', reliable)
        reset = node.create_client(ResetScene, '/sim_bridge/reset')

        def spin_until(done, what):
            wait_until(node, done, what, TIMEOUT_S)

        try:
            spin_until(lambda: all(seen.values()) and pub.get_subscription_count(), 'every topic')
        except TimeoutError as exc:
            missing = [name for name, got in seen.items() if not got]
            missing = missing or '(the trajectory subscriber)'
            raise TimeoutError(f'{exc}; nothing on: {missing}') from None
        home = np.array(seen['joints'][-1].position)
        bad_limit = home.copy()
        bad_limit[2] = 5.0
        pub.publish(trajectory(['base_yaw', 'shoulder', 'elbow', 'gripper'], [(1.0, home)]))
        pub.publish(trajectory(JOINTS, [(1.0, bad_limit)]))
        pub.publish(trajectory(JOINTS, [(1.0, home), (0.5, home)]))
        target = home + np.array([0.3, 0.0, 0.0, 0.0])
        # Idle, /clock comes at 2 Hz: 3 s ahead of the last tick seen is still ahead on arrival,
        # also on a loaded machine.
        start_s = stamp_s(seen['clock'][-1].clock) + 3.0
        pub.publish(trajectory(JOINTS, [(1.0, target)], start_s))
        spin_until(lambda: abs(seen['joints'][-1].position[0] - target[0]) < 0.01, 'the move')
        # The pose at the end of the move, before the resets below bring another scene's home.
        end_s = start_s + 1.2
        spin_until(lambda: stamp_s(seen['joints'][-1].header.stamp) >= end_s, 'the end of the move')
        final = list(seen['joints'][-1].position)
        puck = seen['pose'][-1].pose.position  # still the first scene's (slide-gc) puck
        n_images = len(seen['images'])
        states = [(stamp_s(m.header.stamp), m.position[0]) for m in seen['joints']]
        reached_s = min(t for t, q in states if abs(q - target[0]) < 0.01)
        early = [t for t, q in states if t < start_s and abs(q - home[0]) > 1e-3]

        spin_until(reset.service_is_ready, 'reset service')
        bad = reset.call_async(ResetScene.Request(task='nope'))
        spin_until(bad.done, 'reset answer')
        good = reset.call_async(ResetScene.Request(task='rope-swing', seed=1))
        spin_until(good.done, 'reset answer')
        image = seen['images'][-1]
        print(
            json.dumps(
                {
                    'home': home.tolist(),
                    'final': final,
                    'move_sim_s': reached_s - start_s,
                    'moved_before_start': early,
                    'images_during_move': n_images,
                    'image': [image.height, image.width, image.encoding, image.step],
                    'image_mean': float(np.frombuffer(image.data, np.uint8).mean()),
                    'camera_k': list(seen['info'][-1].k),
                    'object': [puck.x, puck.y],
                    'bad_reset': [bad.result().success, bad.result().message],
                    'good_reset': [good.result().success, good.result().message],
                }
            )
        )
        return 0


if __name__ == '__main__':
    sys.exit(main())
