# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""trajectory_tracker: the camera's view of the object, as trajectories in the table frame.

Tracks the coloured marker in every image it receives and keeps the detections of the last
`buffer_s` seconds; `~/get_trajectory` answers at once for any window [start, end] of image
stamps (`complete` false until a frame at or after `end` has been tracked: the caller asks
again), and publishes the trajectory of each answer that is complete (also one that fails,
e.g. below `min_coverage`) on `~/trajectory`. Each frame where the marker was seen is also
published at once on `~/point` (on the configured plane, the image's stamp): the live
estimate a closed-loop trial's policy observes. Bad images and missing calibration are
reported, never a crash.
"""

import time
from dataclasses import replace

import cv2
import numpy as np
from geometry_msgs.msg import Point, PointStamped
from icpi_interfaces.msg import ObjectTrajectory
from icpi_interfaces.srv import GetTrajectory
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image

from icpi_ros.core.validation import InvalidInput
from icpi_ros.core.vision.camera import CameraModel, intrinsics_from_camera_info, load_extrinsics
from icpi_ros.core.vision.tracker import (
    Detection,
    MarkerTracker,
    check_image,
    unit_plane,
)
from icpi_ros.core.vision.window import DetectionBuffer, judge_window
from icpi_ros.nodes.conversions import seconds, to_time
from icpi_ros.nodes.runtime import run_node
from icpi_ros.nodes.trajectory_tracker_params import declare_params

NODE_NAME = 'trajectory_tracker'
TABLE_FRAME = 'table'
ERROR_LOG_PERIOD_S = 5.0


class TrajectoryTracker(Node):
    """Colour-marker tracker over the camera topics."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        self.params = params = declare_params(self)
        # Range and type are checked by the descriptors; this makes the new values count.
        self.add_post_set_parameters_callback(self._on_parameters_set)
        self._config = params.tracker  # min_coverage: its run-time value
        self._extrinsics = None
        self._calibration_error = ''
        try:
            if not params.calibration_file:
                raise InvalidInput('parameter calibration_file is empty: run `icpi calibrate`')
            self._extrinsics = load_extrinsics(params.calibration_file)
        except InvalidInput as exc:
            self._calibration_error = str(exc)
            self.get_logger().error(f'no calibration, tracking disabled: {exc}')
        self._detections = DetectionBuffer(params.buffer_s)  # buffer_s: its run-time value
        self._tracker: MarkerTracker | None = None
        self._camera_info_key = None
        self._last_error_log: dict[str, float] = {}
        self._create_interfaces()
        self.get_logger().info(  # the camera topics as resolved (remapped with -r)
            f'ready: image {self.resolve_topic_name("/camera/image_raw")}, camera info '
            f'{self.resolve_topic_name("/camera/camera_info")}, calibration '
            f'{params.calibration_file or "(none)"}, plane normal '
            f'{params.tracker.plane_normal} offset {params.tracker.plane_offset:g} m'
        )

    def _create_interfaces(self) -> None:
        """Create the camera subscriptions, the publishers and ~/get_trajectory."""
        reliability = (
            ReliabilityPolicy.RELIABLE
            if self.params.image_reliability == 'reliable'
            else ReliabilityPolicy.BEST_EFFORT
        )
        camera_qos = QoSProfile(depth=10, reliability=reliability)
        self._camera_info_sub = self.create_subscription(
            CameraInfo,
            '/camera/camera_info',
            self._on_camera_info,
            camera_qos,
            event_callbacks=self._qos_events('/camera/camera_info'),
        )
        self.create_subscription(
            Image,
            '/camera/image_raw',
            self._on_image,
            camera_qos,
            event_callbacks=self._qos_events('/camera/image_raw'),
        )
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self._traj_pub = self.create_publisher(ObjectTrajectory, '~/trajectory', reliable)
        self._point_pub = self.create_publisher(PointStamped, '~/point', reliable)
        self._debug_pub = (
            self.create_publisher(Image, '~/debug_image', qos_profile_sensor_data)
            if self.params.publish_debug_image
            else None
        )
        self.create_service(
            GetTrajectory,
            '~/get_trajectory',
            self._on_get_trajectory,
        )

    def _on_parameters_set(self, params: list[Parameter]) -> None:
        # The same single-threaded executor runs the image and service callbacks: no race.
        for param in params:
            if param.name == 'min_coverage':
                self._config = replace(self._config, min_coverage=param.value)
                when = 'the next trajectory request'
            elif param.name == 'buffer_s':
                self._detections.buffer_s = param.value
                when = 'the next frame (older detections are dropped then)'
            else:
                continue
            self.get_logger().info(f'{param.name} is now {param.value:g}: applies from {when}')

    def _qos_events(self, topic: str) -> SubscriptionEventCallbacks:
        """Event callbacks that say what to do when the camera's QoS does not match."""
        resolved = self.resolve_topic_name(topic)

        def incompatible(event) -> None:
            self.get_logger().error(
                f'{resolved}: the publisher offers incompatible QoS (policy '
                f'{event.last_policy_kind}); for a best-effort camera set '
                'image_reliability:=best_effort'
            )

        return SubscriptionEventCallbacks(incompatible_qos=incompatible)

    def _report(self, message: str, warning: bool = False) -> None:
        """Log an error (or a warning) at most once per ERROR_LOG_PERIOD_S for each message."""
        now = time.monotonic()
        if now - self._last_error_log.get(message, -np.inf) >= ERROR_LOG_PERIOD_S:
            self._last_error_log[message] = now
            # One call site per severity: rclpy refuses a site whose severity changes
            # ("Logger severity cannot be changed between calls").
            if warning:
                self.get_logger().warning(message)
            else:
                self.get_logger().error(message)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        key = (msg.width, msg.height, tuple(msg.k), tuple(msg.d))
        if key == self._camera_info_key or self._extrinsics is None:
            return
        try:
            k, dist = intrinsics_from_camera_info(msg.width, msg.height, list(msg.k), list(msg.d))
        except InvalidInput as exc:
            self._report(str(exc))
            return
        camera = CameraModel(msg.width, msg.height, k, dist, *self._extrinsics)
        self._tracker = MarkerTracker(self._config, camera)
        self._camera_info_key = key
        self.get_logger().info(f'camera {msg.width}x{msg.height}, fx {k[0, 0]:.1f} px')

    def _on_image(self, msg: Image) -> None:
        tracker = self._tracker
        if tracker is None:
            if self._calibration_error:
                self._report(self._calibration_error)
            else:  # normal at start-up: images can arrive before the first camera_info
                topic = self._camera_info_sub.topic_name
                self._report(f'images arrive, waiting for camera info on {topic}', warning=True)
            return
        try:
            if msg.step != msg.width * 3 or len(msg.data) != msg.step * msg.height:
                raise InvalidInput(
                    f'image data is {len(msg.data)} bytes, step {msg.step}; expected '
                    f'{msg.width * 3 * msg.height} for {msg.width}x{msg.height} 3-channel'
                    if msg.encoding in ('rgb8', 'bgr8')
                    else f'unsupported image encoding {msg.encoding!r}; use rgb8 or bgr8'
                )
            array = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.width, 3)
            bgr = check_image(array, msg.encoding, tracker.camera)
        except InvalidInput as exc:
            self._report(f'image refused: {exc}')
            return
        detection = tracker.detect(bgr)
        stamp = seconds(msg.header.stamp)
        self._detections.add(stamp, detection)
        if detection.valid:
            point = PointStamped()
            point.header.stamp, point.header.frame_id = msg.header.stamp, TABLE_FRAME
            point.point.x, point.point.y, point.point.z = (float(v) for v in detection.point)
            self._point_pub.publish(point)
        if self._debug_pub is not None:
            self._publish_debug(msg, bgr, detection)

    def _publish_debug(self, msg: Image, bgr: np.ndarray, detection: Detection) -> None:
        overlay = bgr.copy()
        if detection.valid:
            u, v = (int(round(c)) for c in detection.pixel)
            cv2.drawMarker(overlay, (u, v), (0, 255, 0), cv2.MARKER_CROSS, 20, 2)
            text = 'x={:.3f} y={:.3f} z={:.3f}'.format(*detection.point)
        else:
            text = detection.reason
        cv2.putText(overlay, text, (10, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 255, 0), 2)
        out = Image(height=msg.height, width=msg.width, encoding='bgr8', step=msg.width * 3)
        out.header = msg.header
        out.data = overlay.tobytes()
        self._debug_pub.publish(out)

    def _on_get_trajectory(self, request, response):
        """Answer at once with the window's trajectory; `complete` says whether it is whole."""
        start, end = seconds(request.start), seconds(request.end)
        if not end >= start:
            response.success = False
            response.message = 'rejected: end is before start'
            return response
        newest = self._detections.newest()
        window = self._detections.window(start, end)
        if len(request.plane):
            try:
                plane = tuple(request.plane)
                unit_plane(plane)  # refuse a bad plane even for an empty window
            except InvalidInput as exc:
                response.success = False
                response.message = f'rejected: {exc}'
                return response
            if self._tracker is not None:
                window = [(t, self._tracker.on_plane(d, plane)) for t, d in window]
        response.complete = newest >= end
        response.trajectory = trajectory = self._trajectory_message(request.start, window)
        if self._tracker is None:
            response.success = False
            response.message = self._calibration_error or 'no camera_info received yet'
        elif not response.complete:
            response.success = False
            response.message = f'window not complete yet: newest frame at {newest:.3f} s'
            return response
        else:
            response.success, response.message = judge_window(
                len(window), trajectory.coverage, self._config.min_coverage, start, end
            )
        self._traj_pub.publish(trajectory)
        return response

    @staticmethod
    def _trajectory_message(stamp, window: list[tuple[float, Detection]]) -> ObjectTrajectory:
        """Return the window's detections as an ObjectTrajectory (NaN points as zeros)."""
        trajectory = ObjectTrajectory(source='tracker')
        trajectory.header.stamp, trajectory.header.frame_id = stamp, TABLE_FRAME
        for t, detection in window:
            trajectory.stamps.append(to_time(t))
            x, y, z = (float(v) if np.isfinite(v) else 0.0 for v in detection.point)
            trajectory.points.append(Point(x=x, y=y, z=z))
            trajectory.valid.append(detection.valid)
        trajectory.coverage = float(np.mean(trajectory.valid)) if window else 0.0
        return trajectory


def main(args: list[str] | None = None) -> None:
    """Run the tracker until Ctrl-C."""
    raise SystemExit(run_node(TrajectoryTracker, args))


if __name__ == '__main__':
    main()
