# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Test-only: run one slide-gc stroke through sim_bridge, then ask the tracker for it.

Usage: tracked_trial_probe.py
Plans the stroke with the core (theta -> joint plan), sends it as a JointTrajectory, records
the ground truth on /sim/object_pose, calls /trajectory_tracker/get_trajectory for the trial
window, and prints one JSON line comparing the two.
"""

import json
import sys

import numpy as np
from geometry_msgs.msg import PoseStamped
from icpi_interfaces.srv import GetTrajectory
from probe import probe_node
from probe import spin_until as wait_until
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from std_msgs.msg import Bool
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from icpi_ros.core.arm import ArmSpec
from icpi_ros.core.motion import plan_motion
from icpi_ros.core.tasks import load_tasks
from icpi_ros.nodes.conversions import seconds, to_duration, to_time

TIMEOUT_S = 60.0


def main() -> int:
    task = load_tasks()['slide-gc']
    theta = np.array([0.15, 0.12, 0.3])
    plan = plan_motion(task.motion, ArmSpec(), theta, task.trial_duration_s)
    with probe_node('tracked_trial_probe') as node:
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        truth, clock = [], []
        node.create_subscription(PoseStamped, '/sim/object_pose', truth.append, reliable)
        node.create_subscription(
            Clock, '/clock', lambda m: clock.append(seconds(m.clock)), reliable
        )
        pub = node.create_publisher(JointTrajectory, '/arm_controller/joint_trajectory', reliable)
        # As a trial client: full rates from now on (an idle bridge ticks /clock at 2 Hz, and a
        # start read off it could be in the bridge's past).
        latched = QoSProfile(
            depth=1,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
        )
        active = node.create_publisher(Bool, '/trial_executor/trial_active', latched)
        active.publish(Bool(data=True))
        client = node.create_client(GetTrajectory, '/trajectory_tracker/get_trajectory')

        def spin_until(done, what):
            wait_until(node, done, what, TIMEOUT_S)

        spin_until(
            lambda: clock and pub.get_subscription_count() and client.service_is_ready(), 'graph'
        )

        # The tracker is ready once it answers for a window of frames it has tracked.
        def ask(start_s: float, end_s: float):
            future = client.call_async(
                GetTrajectory.Request(start=to_time(start_s), end=to_time(end_s))
            )
            spin_until(future.done, 'the tracker')
            return future.result()

        # A recent, already-past window, moving with the clock until the tracker has it.
        spin_until(
            lambda: ask(clock[-1] - 0.6, clock[-1] - 0.3).success, 'the tracker to see the puck'
        )
        start = clock[-1] + 0.2
        msg = JointTrajectory(joint_names=list(plan.joint_names))
        msg.header.stamp = to_time(start)
        for i in range(0, len(plan.times), 5):
            msg.points.append(
                JointTrajectoryPoint(
                    positions=plan.positions[i].tolist(),
                    velocities=plan.velocities[i].tolist(),
                    time_from_start=to_duration(float(plan.times[i])),
                )
            )
        pub.publish(msg)
        end = start + task.trial_duration_s
        spin_until(lambda: clock[-1] >= end, 'the end of the trial')
        spin_until(lambda: ask(start, end).complete, 'the trial window to be tracked')
        answer = ask(start, end)
        gt_t = np.array([seconds(p.header.stamp) for p in truth])
        gt_xy = np.array([[p.pose.position.x, p.pose.position.y] for p in truth])
        errors = []
        for stamp, point, ok in zip(
            answer.trajectory.stamps, answer.trajectory.points, answer.trajectory.valid, strict=True
        ):
            if ok:
                i = int(np.argmin(np.abs(gt_t - seconds(stamp))))
                if abs(gt_t[i] - seconds(stamp)) < 0.006:
                    errors.append(float(np.linalg.norm(gt_xy[i] - [point.x, point.y])))
        valid_points = [
            p for p, ok in zip(answer.trajectory.points, answer.trajectory.valid, strict=True) if ok
        ]
        final_gt = gt_xy[int(np.argmin(np.abs(gt_t - end)))]
        print(
            json.dumps(
                {
                    'success': answer.success,
                    'message': answer.message,
                    'frames': len(answer.trajectory.points),
                    'coverage': answer.trajectory.coverage,
                    'frame_id': answer.trajectory.header.frame_id,
                    'compared': len(errors),
                    'mean_error_m': float(np.mean(errors)) if errors else None,
                    'max_error_m': float(np.max(errors)) if errors else None,
                    'final_tracked': [valid_points[-1].x, valid_points[-1].y]
                    if valid_points
                    else None,
                    'final_truth': final_gt.tolist(),
                    'start_truth': gt_xy[0].tolist(),
                }
            )
        )
        return 0


if __name__ == '__main__':
    sys.exit(main())
