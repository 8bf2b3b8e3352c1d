# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Pinhole camera with its pose in the table frame; pixels <-> rays <-> points on a plane.

Conventions: OpenCV's (and ROS CameraInfo's) pixel coordinates, where the centre of the
top-left pixel is (0, 0); the optical frame has x right, y down, z forward. The pose maps
optical-frame vectors to the table frame: p_table = R @ p_optical + t (t: camera centre).
"""

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from icpi_ros.core.validation import InvalidInput


@dataclass(frozen=True)
class CameraModel:
    """Intrinsics (K, distortion, image size) and extrinsics (R, t) in the table frame."""

    width: int
    height: int
    k: np.ndarray  # (3, 3)
    dist: np.ndarray  # (5,) plumb_bob / OpenCV
    rotation: np.ndarray  # (3, 3) optical -> table
    translation: np.ndarray  # (3,) camera centre in the table frame

    def project(self, points: np.ndarray) -> np.ndarray:
        """Pixels (N, 2) of table-frame points (N, 3)."""
        points = np.atleast_2d(points).astype(float)
        rvec, _ = cv2.Rodrigues(self.rotation.T)
        tvec = -self.rotation.T @ self.translation
        pixels, _ = cv2.projectPoints(points, rvec, tvec, self.k, self.dist)
        return pixels.reshape(-1, 2)

    def rays(self, pixels: np.ndarray) -> np.ndarray:
        """Return unit table-frame directions (N, 3) of the rays through `pixels` (N, 2)."""
        pixels = np.atleast_2d(pixels).astype(float).reshape(-1, 1, 2)
        normalised = cv2.undistortPoints(pixels, self.k, self.dist).reshape(-1, 2)
        rays = np.column_stack([normalised, np.ones(len(normalised))]) @ self.rotation.T
        return rays / np.linalg.norm(rays, axis=1, keepdims=True)

    def to_plane(self, pixels: np.ndarray, normal: np.ndarray, offset: float) -> np.ndarray:
        """Table-frame points (N, 3) where the rays through `pixels` meet normal . p = offset.

        Rays parallel to the plane or meeting it behind the camera give NaN rows.
        """
        rays = self.rays(pixels)
        denom = rays @ normal
        with np.errstate(divide='ignore', invalid='ignore'):
            s = (offset - self.translation @ normal) / denom
        s = np.where((np.abs(denom) > 1e-9) & (s > 0), s, np.nan)
        return self.translation + s[:, None] * rays


def intrinsics_from_camera_info(
    width: int, height: int, k: list[float], d: list[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Validate CameraInfo fields; return K (3, 3) and the distortion vector (5,)."""
    if width <= 0 or height <= 0:
        raise InvalidInput(f'camera_info: image size {width}x{height} is not valid')
    k_mat = np.asarray(k, dtype=float).reshape(3, 3) if len(k) == 9 else None
    if k_mat is None or not np.all(np.isfinite(k_mat)) or k_mat[0, 0] <= 0 or k_mat[1, 1] <= 0:
        raise InvalidInput('camera_info: K must be 9 finite values with positive focal lengths')
    dist = np.zeros(5)
    if len(d):
        if len(d) not in (4, 5, 8, 12, 14) or not np.all(np.isfinite(d)):
            raise InvalidInput(f'camera_info: unsupported distortion vector of length {len(d)}')
        dist = np.asarray(d, dtype=float)
    return k_mat, dist


CAMERA_INFO_FORMATS = (
    'a sensor_msgs/CameraInfo as `ros2 topic echo --once` prints it (width, height, k, d; '
    'with or without the trailing ---), or the camera_calibration YAML (image_width, '
    'image_height, camera_matrix.data, distortion_coefficients.data)'
)


def read_camera_info(path: Path | str) -> tuple[int, int, np.ndarray, np.ndarray]:
    """Read intrinsics from a file: width, height, K (3, 3) and the distortion vector.

    Accepts the two forms of CAMERA_INFO_FORMATS; the first YAML document is read.

    Raises:
        InvalidInput: unreadable file, or a missing or malformed field (named), with the
            accepted formats.

    """
    path = Path(path)
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except OSError as exc:
        raise InvalidInput(f'cannot read camera info {path}: {exc.strerror}') from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f'camera info {path} is not YAML: {exc}') from None

    def bad(what: str) -> InvalidInput:
        return InvalidInput(f'camera info {path}: {what}; accepted: {CAMERA_INFO_FORMATS}')

    if not documents or not isinstance(documents[0], dict):
        raise bad('no mapping of fields found')
    raw = documents[0]
    if 'k' in raw or 'width' in raw:  # the message, as echoed
        fields = {'width': 'width', 'height': 'height', 'k': 'k', 'd': 'd'}
        get = raw.get
    else:  # camera_calibration's file
        fields = {
            'width': 'image_width',
            'height': 'image_height',
            'k': 'camera_matrix.data',
            'd': 'distortion_coefficients.data',
        }

        def get(name: str):
            node = raw
            for part in name.split('.'):
                node = node.get(part) if isinstance(node, dict) else None
            return node

    values = {key: get(name) for key, name in fields.items()}
    for key in ('width', 'height', 'k'):
        if values[key] is None:
            raise bad(f'missing field {fields[key]!r}')
    try:
        width, height = int(values['width']), int(values['height'])
        k = [float(v) for v in values['k']]
        d = [float(v) for v in values['d'] or []]
    except (TypeError, ValueError) as exc:
        raise bad(f'malformed field ({exc})') from None
    try:
        k_mat, dist = intrinsics_from_camera_info(width, height, k, d)
    except InvalidInput as exc:
        raise bad(str(exc)) from None
    return width, height, k_mat, dist


def load_extrinsics(path: Path | str) -> tuple[np.ndarray, np.ndarray]:
    """Read a calibration YAML (written by `icpi calibrate`): rotation (3x3) and translation."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
        rotation = np.asarray(raw['rotation'], dtype=float).reshape(3, 3)
        translation = np.asarray(raw['translation'], dtype=float).reshape(3)
    except OSError as exc:
        raise InvalidInput(f'cannot read calibration {path}: {exc.strerror}') from None
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f'calibration {path} is malformed: {exc}') from None
    if not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-6) or not np.all(
        np.isfinite(translation)
    ):
        raise InvalidInput(f'calibration {path}: rotation is not orthonormal or t not finite')
    return rotation, translation


def save_extrinsics(
    path: Path | str, rotation: np.ndarray, translation: np.ndarray, **info: object
) -> None:
    """Write a calibration YAML: the camera pose in the table frame, plus `info` fields."""
    data = {
        'frame': 'table',
        'convention': 'p_table = rotation @ p_optical + translation (OpenCV optical frame)',
        'rotation': np.asarray(rotation, dtype=float).round(9).tolist(),
        'translation': np.asarray(translation, dtype=float).round(9).tolist(),
        **info,
    }
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False))
