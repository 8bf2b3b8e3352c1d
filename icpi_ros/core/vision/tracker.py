# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Colour-marker tracking: HSV segmentation, largest component, centroid, plane projection."""

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from icpi_ros.core.validation import InvalidInput
from icpi_ros.core.vision.camera import CameraModel

# Red wraps around hue 0 in OpenCV's 0-179 hue scale: two ranges.
RED_RANGES = (((0, 120, 70), (10, 255, 255)), ((170, 120, 70), (179, 255, 255)))
RAY_MISSES = 'ray misses the plane'


@dataclass(frozen=True)
class TrackerConfig:
    """What to look for and where it moves."""

    hsv_ranges: tuple = RED_RANGES  # ((low HSV), (high HSV)) pairs, OpenCV scales
    min_area_px: int = 20
    plane_normal: tuple[float, float, float] = (0.0, 0.0, 1.0)
    plane_offset: float = 0.0  # the marker's plane: normal . p = offset (table frame, m)
    reject_border: bool = True  # a blob touching the image border is partly out of view
    min_coverage: float = 0.8

    def __post_init__(self) -> None:
        if self.min_area_px < 1:
            raise InvalidInput('tracker: min_area_px must be at least 1')
        if not 0.0 <= self.min_coverage <= 1.0:
            raise InvalidInput('tracker: min_coverage must be in [0, 1]')
        for low, high in self.hsv_ranges:
            if (
                len(low) != 3
                or len(high) != 3
                or any(lo > hi for lo, hi in zip(low, high, strict=True))
            ):
                raise InvalidInput(f'tracker: bad HSV range {low} .. {high}')
        if np.linalg.norm(self.plane_normal) < 1e-9:
            raise InvalidInput('tracker: plane_normal must not be zero')


def unit_plane(plane: tuple[float, ...]) -> tuple[np.ndarray, float]:
    """Return (unit normal, offset) of a plane given as [nx, ny, nz, offset].

    Raises:
        InvalidInput: not four finite numbers, or a zero normal.

    """
    values = np.asarray(plane, dtype=float)
    if values.shape != (4,) or not np.all(np.isfinite(values)) or np.linalg.norm(values[:3]) < 1e-9:
        raise InvalidInput(f'marker plane must be [nx, ny, nz, offset], got {list(plane)}')
    norm = np.linalg.norm(values[:3])
    return values[:3] / norm, float(values[3]) / norm


@dataclass(frozen=True)
class Detection:
    """The marker in one frame (pixel centroid and table-frame point), or why not."""

    valid: bool
    pixel: tuple[float, float] = (float('nan'), float('nan'))
    point: tuple[float, float, float] = (float('nan'),) * 3
    area_px: int = 0
    reason: str = ''


def check_image(image: np.ndarray, encoding: str, camera: CameraModel) -> np.ndarray:
    """Return the image as BGR uint8 (H, W, 3); refuse other encodings and sizes."""
    if encoding not in ('rgb8', 'bgr8'):
        raise InvalidInput(f'unsupported image encoding {encoding!r}; use rgb8 or bgr8')
    if image.shape[:2] != (camera.height, camera.width):
        raise InvalidInput(
            f'image is {image.shape[1]}x{image.shape[0]}, camera_info says '
            f'{camera.width}x{camera.height}'
        )
    return cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if encoding == 'rgb8' else image


class MarkerTracker:
    """Finds a coloured marker in BGR images and places it on its plane in the table frame."""

    def __init__(self, config: TrackerConfig, camera: CameraModel) -> None:
        self.config = config
        self.camera = camera
        self._normal = np.asarray(config.plane_normal, dtype=float)
        self._normal = self._normal / np.linalg.norm(self._normal)
        self._offset = config.plane_offset / np.linalg.norm(config.plane_normal)

    def place(self, pixel: tuple[float, float], plane: tuple[float, ...] | None = None):
        """Return the table-frame point of `pixel` on `plane` (nx, ny, nz, offset), or NaNs.

        Without `plane`, the configured one.
        """
        normal, offset = (self._normal, self._offset) if plane is None else unit_plane(plane)
        return self.camera.to_plane(np.asarray(pixel, dtype=float)[None], normal, offset)[0]

    def on_plane(self, detection: Detection, plane: tuple[float, ...] | None = None) -> Detection:
        """Return `detection` with its pixel placed on `plane` (default: the configured one).

        The tracker node re-places a window's detections on the plane of the task it is asked
        about; frames where nothing usable was seen are returned as they are.
        """
        if not detection.valid and detection.reason != RAY_MISSES:
            return detection
        point = self.place(detection.pixel, plane)
        if not np.all(np.isfinite(point)):
            return replace(detection, valid=False, point=(np.nan,) * 3, reason=RAY_MISSES)
        return replace(detection, valid=True, point=tuple(point), reason='')

    def mask(self, bgr: np.ndarray) -> np.ndarray:
        """Binary mask of the marker colour."""
        hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
        mask = np.zeros(hsv.shape[:2], np.uint8)
        for low, high in self.config.hsv_ranges:
            mask |= cv2.inRange(hsv, np.array(low, np.uint8), np.array(high, np.uint8))
        return mask

    def detect(self, bgr: np.ndarray) -> Detection:
        """Largest blob of the marker colour; its centroid, projected onto the marker's plane."""
        count, labels, stats, _ = cv2.connectedComponentsWithStats(self.mask(bgr), connectivity=8)
        if count <= 1:
            return Detection(False, reason='no marker-coloured pixels')
        best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        x, y, w, h, area = stats[best]
        if area < self.config.min_area_px:
            return Detection(False, area_px=int(area), reason=f'largest blob {area} px too small')
        if self.config.reject_border and (
            x == 0 or y == 0 or x + w >= self.camera.width or y + h >= self.camera.height
        ):
            return Detection(False, area_px=int(area), reason='marker touches the image border')
        # Sub-pixel centroid of the component. Pixel indices are pixel centres, which is the
        # convention of K in CameraInfo (OpenCV), so no +0.5 shift is needed here; an image
        # model with pixel centres at i + 0.5 would need it.
        ys, xs = np.nonzero(labels[y : y + h, x : x + w] == best)
        pixel = (float(xs.mean() + x), float(ys.mean() + y))
        return self.on_plane(Detection(True, pixel, area_px=int(area)))


@dataclass
class TrackedTrajectory:
    """Stamped detections of one trial window."""

    stamps: list[float] = field(default_factory=list)
    points: list[tuple[float, float, float]] = field(default_factory=list)
    valid: list[bool] = field(default_factory=list)

    def add(self, stamp: float, detection: Detection) -> None:
        """Append one frame's detection."""
        self.stamps.append(stamp)
        self.points.append(detection.point)
        self.valid.append(detection.valid)

    @property
    def coverage(self) -> float:
        """Fraction of frames with a valid detection (0 for an empty window)."""
        return float(np.mean(self.valid)) if self.valid else 0.0

    def last_valid_point(self) -> np.ndarray | None:
        """Return the last detected position (the final one, once the object has settled)."""
        for point, ok in zip(reversed(self.points), reversed(self.valid), strict=True):
            if ok:
                return np.array(point)
        return None
