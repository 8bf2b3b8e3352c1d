# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""trajectory_tracker: the camera's view of the object, as trajectories in the table frame.

Tracks the coloured marker in every image it receives and keeps the detections of the last
`buffer_s` seconds; `~/get_trajectory` answers at once for any window [start, end] of image
stamps (`complete` false until a frame at or after `end` has been tracked: the caller asks
again), and publishes the trajectory of each answer that is complete (also one that fails,
e.g. below `min_coverage`) on `~/trajectory`. Bad images and missing calibration are
reported, never a crash.
"""

import time
from collections import deque
from dataclasses import replace

import cv2
import numpy as np
from geometry_msgs.msg import Point
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
    TrackerConfig,
    check_image,
    unit_plane,
)
from icpi_ros.nodes.conversions import seconds, to_time
from icpi_ros.nodes.runtime import declare, run_node

NODE_NAME = 'trajectory_tracker'
TABLE_FRAME = 'table'
ERROR_LOG_PERIOD_S = 5.0


class TrajectoryTracker(Node):
    """Colour-marker tracker over the camera topics."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        calibration = declare(
            self, 'calibration_file', '', 'Camera pose YAML from `icpi calibrate`.', read_only=True
        )
        ranges = []
        for suffix in ('', '_2'):
            low = declare(self, f'hsv_low{suffix}', [0, 0, 0], 'HSV lower bound.', read_only=True)
            high = declare(self, f'hsv_high{suffix}', [0, 0, 0], 'HSV upper bound.', read_only=True)
            if any(high):
                ranges.append((tuple(low), tuple(high)))
        normal = declare(
            self, 'plane_normal', [0.0, 0.0, 1.0], 'Normal of the marker plane.', read_only=True
        )
        self._config = TrackerConfig(
            hsv_ranges=tuple(ranges),
            min_area_px=declare(self, 'min_area_px', 20, 'Smallest blob, px.', read_only=True),
            plane_normal=tuple(normal),
            plane_offset=declare(
                self, 'plane_offset', 0.042, 'Marker plane offset (m).', read_only=True
            ),
            reject_border=declare(
                self, 'reject_border', True, 'Refuse blobs touching the border.', read_only=True
            ),
            min_coverage=declare(
                self,
                'min_coverage',
                0.8,
                'Minimum detected fraction. Settable at run time: applies to the next request.',
                float_range=(0.0, 1.0),
            ),
        )
        if not ranges:
            raise InvalidInput('parameters hsv_low/hsv_high: no colour range given')
        self._buffer_s = declare(
            self,
            'buffer_s',
            30.0,
            'Seconds of detections kept. Settable at run time: applies from the next frame.',
            float_range=(1.0, 600.0),
        )
        # Range and type are checked by the descriptors; this makes the new values count.
        self.add_post_set_parameters_callback(self._on_parameters_set)
        self._debug = declare(
            self, 'publish_debug_image', False, 'Publish ~/debug_image.', read_only=True
        )
        image_reliability = declare(
            self,
            'image_reliability',
            'reliable',
            'QoS reliability of the camera pair (image_raw and camera_info, which one driver '
            'publishes alike). Full frames are large: best effort over UDP drops most of them '
            'unless the DDS socket buffers are raised.',
            read_only=True,
            choices=('reliable', 'best_effort'),
        )

        self._extrinsics = None
        self._calibration_error = ''
        try:
            if not calibration:
                raise InvalidInput('parameter calibration_file is empty: run `icpi calibrate`')
            self._extrinsics = load_extrinsics(calibration)
        except InvalidInput as exc:
            self._calibration_error = str(exc)
            self.get_logger().error(f'no calibration, tracking disabled: {exc}')

        self._detections: deque[tuple[float, Detection]] = deque()
        self._tracker: MarkerTracker | None = None
        self._camera_info_key = None
        self._last_error_log: dict[str, float] = {}

        reliability = (
            ReliabilityPolicy.RELIABLE
            if image_reliability == 'reliable'
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
        self._debug_pub = (
            self.create_publisher(Image, '~/debug_image', qos_profile_sensor_data)
            if self._debug
            else None
        )
        self.create_service(
            GetTrajectory,
            '~/get_trajectory',
            self._on_get_trajectory,
        )
        self.get_logger().info(  # the camera topics as resolved (remapped with -r)
            f'ready: image {self.resolve_topic_name("/camera/image_raw")}, camera info '
            f'{self.resolve_topic_name("/camera/camera_info")}, calibration '
            f'{calibration or "(none)"}, plane normal {tuple(normal)} '
            f'offset {self._config.plane_offset:g} m'
        )

    def _on_parameters_set(self, params: list[Parameter]) -> None:
        # The same single-threaded executor runs the image and service callbacks: no race.
        for param in params:
            if param.name == 'min_coverage':
                self._config = replace(self._config, min_coverage=param.value)
                when = 'the next trajectory request'
            elif param.name == 'buffer_s':
                self._buffer_s = param.value
                when = 'the next frame (older detections are dropped then)'
            else:
                continue
            self.get_logger().info(f'{param.name} is now {param.value:g}: applies from {when}')

    def _newest_stamp(self) -> float:
        return self._detections[-1][0] if self._detections else -np.inf

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
            (self.get_logger().warning if warning else self.get_logger().error)(message)

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
        self._detections.append((stamp, detection))
        while self._detections and self._detections[0][0] < stamp - self._buffer_s:
            self._detections.popleft()
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
        start, end = seconds(request.start), seconds(request.end)
        if not end >= start:
            response.success = False
            response.message = 'rejected: end is before start'
            return response
        newest = self._newest_stamp()
        window = [(t, d) for t, d in self._detections if start <= t <= end]
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
        trajectory = ObjectTrajectory(source='tracker')
        trajectory.header.stamp, trajectory.header.frame_id = request.start, TABLE_FRAME
        for t, detection in window:
            trajectory.stamps.append(to_time(t))
            x, y, z = (float(v) if np.isfinite(v) else 0.0 for v in detection.point)
            trajectory.points.append(Point(x=x, y=y, z=z))
            trajectory.valid.append(detection.valid)
        trajectory.coverage = float(np.mean(trajectory.valid)) if window else 0.0
        response.trajectory = trajectory
        if self._tracker is None:
            response.success = False
            response.message = self._calibration_error or 'no camera_info received yet'
        elif not response.complete:
            response.success = False
            response.message = f'window not complete yet: newest frame at {newest:.3f} s'
            return response
        elif not window:
            response.success = False
            response.message = f'no frames between {start:.3f} and {end:.3f} s'
        elif trajectory.coverage < self._config.min_coverage:
            response.success = False
            response.message = (
                f'object seen in {trajectory.coverage:.0%} of {len(window)} frames, below '
                f'min_coverage {self._config.min_coverage:.0%}: trajectory invalid'
            )
        else:
            response.success = True
            response.message = f'{len(window)} frames, coverage {trajectory.coverage:.0%}'
        self._traj_pub.publish(trajectory)
        return response


def main(args: list[str] | None = None) -> None:
    """Run the tracker until Ctrl-C."""
    raise SystemExit(run_node(TrajectoryTracker, args))


if __name__ == '__main__':
    main()
