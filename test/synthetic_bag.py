# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""A small synthetic recorded run for the video tests: a run folder with an MCAP bag.

The bag holds what the recorder writes for the camera (JPEG `CompressedImage` frames of a
drawn scene: a red puck moving over a grey table, and `CameraInfo`), written with the
recorder's `BagWriter` (schemas from core.bag's `message_definition`); the run's trial lines
carry the tracked path (the puck's true positions) and the trial windows; `calibration.yaml`
is the camera's pose.
"""

from pathlib import Path

import cv2
import numpy as np

from icpi_ros.core.bag import BagWriter
from icpi_ros.core.records import RunRecord
from icpi_ros.core.video_io import BAG_FILE, CAMERA_INFO_TOPIC, IMAGE_TOPIC
from icpi_ros.core.vision.calibration import load_layout
from icpi_ros.core.vision.camera import CameraModel, save_extrinsics

PUCK_Z = 0.042
PLANE = (0.0, 0.0, 1.0, PUCK_Z)
FPS = 10


def camera() -> CameraModel:
    """A 640x480 camera 1.2 m above the table, looking straight down at the markers."""
    k = np.array([[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]])
    rotation = np.array([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    return CameraModel(640, 480, k, np.zeros(5), rotation, np.array([0.72, 0.0, 1.2]))


def table(cam: CameraModel, markers: bool) -> np.ndarray:
    """The grey table, with the ArUco markers of config/calibration_markers.yaml if asked."""
    image = np.full((cam.height, cam.width, 3), 90, np.uint8)
    if not markers:
        return image
    layout = load_layout()
    for marker in layout.markers:
        picture = cv2.cvtColor(layout.marker_image(marker.id, 120), cv2.COLOR_GRAY2BGR)
        pad = (picture.shape[0] - 120) / 2  # the black square's corners, pixel edges
        square = np.array([[0, 0], [120, 0], [120, 120], [0, 120]], np.float32) + pad - 0.5
        to = cam.project(marker.corners()).astype(np.float32)
        h = cv2.getPerspectiveTransform(square, to)
        size = (cam.width, cam.height)
        warped = cv2.warpPerspective(picture, h, size)
        inside = cv2.warpPerspective(np.ones(picture.shape[:2], np.uint8), h, size) > 0
        image[inside] = warped[inside]
    return image


def scene(cam: CameraModel, point: np.ndarray, markers: bool = True, shrink: int = 1) -> bytes:
    """JPEG of the grey table (its markers) with a red puck (radius 12 px) at the table point.

    `shrink`: the image stored that many times smaller (as the recorder downsamples).
    """
    image = table(cam, markers)
    u, v = np.rint(cam.project(point)[0]).astype(int)
    cv2.circle(image, (int(u), int(v)), 12, (0, 0, 220), -1)
    if shrink > 1:
        image = cv2.resize(image, (cam.width // shrink, cam.height // shrink), cv2.INTER_AREA)
    ok, data = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return data.tobytes()


def puck(t: float) -> np.ndarray:
    """The puck's position at time t (s): it slides from x 0.45 to 0.80 between 1 and 4 s."""
    s = float(np.clip((t - 1.0) / 3.0, 0.0, 1.0))
    return np.array([0.45 + 0.35 * s, 0.05 * s, PUCK_Z])


def write_bag(
    path: Path,
    cam: CameraModel,
    start: float = 0.5,
    end: float = 4.5,
    chunk_size: int = 1 << 20,
    markers: bool = True,
    shrink: int = 1,
) -> list[float]:
    """Write camera frames every 1/FPS s from `start` to `end` (s); return their stamps."""
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import CameraInfo, CompressedImage

    stamps = []
    bag = BagWriter(path, chunk_size=chunk_size)
    try:
        for i in range(round(start * FPS), round(end * FPS) + 1):
            ns = i * (1_000_000_000 // FPS)
            info = CameraInfo(
                width=cam.width,
                height=cam.height,
                distortion_model='plumb_bob',
                d=cam.dist.tolist(),
                k=cam.k.ravel().tolist(),
                r=np.eye(3).ravel().tolist(),
                p=np.hstack([cam.k, np.zeros((3, 1))]).ravel().tolist(),
            )
            t = ns * 1e-9
            image = CompressedImage(format='jpeg', data=scene(cam, puck(t), markers, shrink))
            for msg in (info, image):
                msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(ns, 1_000_000_000)
                msg.header.frame_id = 'camera_optical'
            log = ns + 5_000_000  # received 5 ms after capture
            for topic, type_name, msg in (
                (CAMERA_INFO_TOPIC, 'sensor_msgs/msg/CameraInfo', info),
                (IMAGE_TOPIC, 'sensor_msgs/msg/CompressedImage', image),
            ):
                bag.write(topic, type_name, serialize_message(msg), log, log)
            stamps.append(t)
    finally:
        bag.close()
    return stamps


def trial_line(iteration: int, start: float, end: float, cost: float) -> dict:
    """A trial line with its window and the puck's path at FPS in it."""
    times = np.arange(round(start * FPS), round(end * FPS) + 1) / FPS
    return {
        'iteration': iteration,
        'trial_id': f'synthetic-{iteration}',
        'cost': cost,
        'goal': [0.8, 0.05],
        'start_s': start,
        'end_s': end,
        'trajectory': {
            'stamps': times.tolist(),
            'points': [puck(t).tolist() for t in times],
            'valid': [True] * len(times),
        },
    }


def make_run(
    root: Path, bag: bool = True, calibration: bool = True, markers: bool = True, shrink: int = 1
) -> RunRecord:
    """A slide-gc run of two trials (windows 1-2 s, cost 20 mm; 3-4 s, 5 mm) with its bag."""
    cam = camera()
    run = RunRecord.create(root, {'task': 'slide-gc', 'goal': [0.8, 0.05]}, run_id='synthetic')
    run.append(trial_line(0, 1.0, 2.0, 0.020))
    run.append(trial_line(1, 3.0, 4.0, 0.005))
    if bag:
        write_bag(run.path / BAG_FILE, cam, markers=markers, shrink=shrink)
    if calibration:
        save_extrinsics(run.path / 'calibration.yaml', cam.rotation, cam.translation)
    return run
