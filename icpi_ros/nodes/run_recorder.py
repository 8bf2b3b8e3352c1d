# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""run_recorder: every run of the improvement loop as an MCAP bag, runs/<run_id>/run.mcap.

The loop says which run is going on its latched `/improvement_loop/run` (the run folder; empty
between runs). While a run goes, the recorder writes the graph's topics into the run's bag:
serialized CDR straight from raw subscriptions (nothing deserialized), except the camera,
downsampled to JPEG on `<image topic>/compressed` (capped in size and rate). Log and publish
time: the receive time on the graph clock (sim time in sim). Each finished chunk is fsynced
and a chunk is ended every `flush_period_s`: a SIGKILL leaves the bag readable up to its last
chunk; Ctrl-C closes it with its summary. The file format is core/bag.py.
"""

import contextlib
import importlib
from collections import deque
from pathlib import Path

from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import String

from icpi_ros.core.bag import BAG_NAME, BagWriter, RateCap, compress_frame
from icpi_ros.core.validation import InvalidInput
from icpi_ros.nodes.run_recorder_params import declare_params
from icpi_ros.nodes.runtime import LATCHED, run_node

NODE_NAME = 'run_recorder'
RUN_TOPIC = '/improvement_loop/run'
IMAGE_TOPIC = '/camera/image_raw'
# Recorded as they are (remap with -r): topic -> message type.
TOPICS: dict[str, str] = {
    '/camera/camera_info': 'sensor_msgs/msg/CameraInfo',
    '/joint_states': 'sensor_msgs/msg/JointState',
    '/arm_controller/joint_trajectory': 'trajectory_msgs/msg/JointTrajectory',
    '/trajectory_tracker/trajectory': 'icpi_interfaces/msg/ObjectTrajectory',
    '/trajectory_tracker/point': 'geometry_msgs/msg/PointStamped',
    '/trial_executor/trial_result': 'icpi_interfaces/msg/TrialResult',
    '/sim/object_pose': 'geometry_msgs/msg/PoseStamped',  # sim only: no channel elsewhere
}

# Messages a recorded (non-image) subscription holds while the recorder is busy: 10 s of a
# 100 Hz topic.
QUEUE_DEPTH = 1000


def bag_file(folder: Path) -> Path:
    """Return the bag of a run folder: run.mcap, or run.<n>.mcap for a resumed run's later parts."""
    path, n = folder / BAG_NAME, 1
    while path.exists():
        path = folder / f'run.{n}.mcap'
        n += 1
    return path


class RunRecorder(Node):
    """Records the graph's topics into the bag of the run going on."""

    def __init__(self) -> None:
        """Declare the parameters, subscribe to the recorded topics and the run topic."""
        super().__init__(NODE_NAME)
        self.params = params = declare_params(self)
        self._bag: BagWriter | None = None
        self._run = ''
        self._close_timer = None
        self._wall = Clock(clock_type=ClockType.STEADY_TIME)
        self._frames = RateCap(params.image_max_rate_hz)
        # (topic, type, data, receive ns) of the last preroll_s while no bag is open.
        self._preroll: deque[tuple[str, str, bytes, int]] = deque()
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        # A deep queue for the small messages: while a callback waits on a chunk's fsync, 100 Hz
        # topics keep arriving, and depth 10 dropped a burst of 21 /joint_states (CI). Camera
        # frames (up to 900 kB raw, rate-capped anyway) keep depth 10.
        deep = QoSProfile(depth=QUEUE_DEPTH, reliability=ReliabilityPolicy.RELIABLE)
        self._subs = []
        for topic, type_name in TOPICS.items():
            sub = self.create_subscription(
                _message_class(type_name),
                topic,
                lambda data, t=topic, n=type_name: self._write(t, n, data),
                deep,
                raw=True,
            )
            self._subs.append(sub)
        self._image_topic = ''
        if params.record_images:
            image = self.create_subscription(Image, IMAGE_TOPIC, self._on_image, reliable, raw=True)
            self._image_topic = f'{image.topic_name}/compressed'
            self._subs.append(image)
        self.create_subscription(String, RUN_TOPIC, self._on_run, LATCHED)
        self.create_timer(params.flush_period_s, self._sync, clock=self._wall)
        self.get_logger().info(
            f'ready: recording {len(self._subs)} topics into runs/<run>/{BAG_NAME} while '
            f'{self.resolve_topic_name(RUN_TOPIC)} names a run'
        )

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _write(self, topic: str, type_name: str, data: bytes) -> None:
        now = self._now_ns()
        if self._bag is not None:
            try:
                self._bag.write(topic, type_name, data, now, now)
            except OSError as exc:
                self._give_up(exc)
            return
        preroll, oldest = self._preroll, now - int(self.params.preroll_s * 1e9)
        preroll.append((topic, type_name, data, now))
        while preroll and not oldest <= preroll[0][3] <= now:  # too old, or the clock jumped
            preroll.popleft()

    def _on_image(self, data: bytes) -> None:
        """Record a camera frame as a JPEG, at most `image_max_rate_hz` a second."""
        if not self._frames.admit(self._now_ns()):
            return
        params, frame = self.params, deserialize_message(data, Image)
        try:
            jpeg = compress_frame(
                frame.data,
                frame.width,
                frame.height,
                frame.encoding,
                params.image_max_width,
                params.image_jpeg_quality,
                frame.step,
            )
        except InvalidInput as exc:
            self.get_logger().warning(f'frame not recorded: {exc}', throttle_duration_sec=10.0)
            return
        message = CompressedImage(header=frame.header, format='jpeg', data=jpeg)
        self._write(
            self._image_topic, 'sensor_msgs/msg/CompressedImage', serialize_message(message)
        )

    def _on_run(self, msg: String) -> None:
        """Open the bag of the run named (a folder); empty: close it after `close_delay_s`."""
        if msg.data == self._run:
            return
        self._run = msg.data
        if not msg.data:
            self._close_timer = self.create_timer(
                self.params.close_delay_s, self._close_after_run, clock=self._wall
            )
            return
        self._close()
        path = bag_file(Path(msg.data))
        try:
            self._bag = BagWriter(path, self.params.chunk_bytes)
        except OSError as exc:
            self.get_logger().error(f'cannot record run {msg.data}: {exc}')
            return
        preroll, self._preroll = self._preroll, deque()
        for topic, type_name, data, stamp in preroll:
            self._bag.write(topic, type_name, data, stamp, stamp)
        self.get_logger().info(f'recording {path} ({len(preroll)} messages from before)')

    def _close_after_run(self) -> None:
        if not self._run:  # no new run came meanwhile
            self._close()
        self._cancel_close_timer()

    def _cancel_close_timer(self) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
            self.destroy_timer(self._close_timer)
            self._close_timer = None

    def _sync(self) -> None:
        if self._bag is not None:
            try:
                self._bag.sync()
            except OSError as exc:
                self._give_up(exc)

    def _give_up(self, exc: OSError) -> None:
        """Stop recording this run (a full disk, a removed folder): the bag keeps what it has."""
        bag, self._bag = self._bag, None
        self.get_logger().error(f'recording of {bag.path} stopped: {exc}')
        with contextlib.suppress(OSError, ValueError):
            bag.close()

    def _close(self) -> None:
        """Finish the bag being written, if any, and say what it holds."""
        self._cancel_close_timer()
        bag, self._bag = self._bag, None
        if bag is None:
            return
        bag.close()
        counts = ', '.join(f'{t} {n}' for t, n in sorted(bag.counts.items()))
        self.get_logger().info(f'closed {bag.path}: {counts or "no messages"}')

    def destroy_node(self) -> None:
        """Close the bag (its summary written), then destroy the node."""
        self._close()
        super().destroy_node()


def _message_class(type_name: str):
    """Return the Python class of 'pkg/msg/Name'."""
    package, _, name = type_name.split('/')
    return getattr(importlib.import_module(f'{package}.msg'), name)


def main(args: list[str] | None = None) -> None:
    """Run the recorder until Ctrl-C."""
    raise SystemExit(run_node(RunRecorder, args, events=True))


if __name__ == '__main__':
    main()
