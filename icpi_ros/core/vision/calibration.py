# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Camera extrinsics from ArUco markers lying at known places on the table."""

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from icpi_ros.core.paths import config_file
from icpi_ros.core.validation import InvalidInput

# Quiet zone around a generated marker, as a fraction of the black square's side.
MARGIN = 1.0 / 6.0


@dataclass(frozen=True)
class TableMarker:
    """One marker flat on the table: id, centre (x, y), side of the black square (m)."""

    id: int
    x: float
    y: float
    size: float

    def corners(self) -> np.ndarray:
        """Return the table-frame corners (4, 3) in ArUco's order.

        That order is top-left, top-right, bottom-right, bottom-left of the marker image,
        which lies with its right edge towards table +x and its top edge towards table +y.
        """
        h = self.size / 2
        offsets = [(-h, h), (h, h), (h, -h), (-h, -h)]
        return np.array([(self.x + dx, self.y + dy, 0.0) for dx, dy in offsets])


@dataclass(frozen=True)
class MarkerLayout:
    """The dictionary and the markers of a calibration setup."""

    dictionary: str
    markers: tuple[TableMarker, ...]

    def aruco_dictionary(self):
        """Return the OpenCV ArUco dictionary."""
        return cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, self.dictionary))

    def marker_image(self, marker_id: int, pixels: int = 120) -> np.ndarray:
        """Grey image of a marker with its white margin (for printing or for the simulator)."""
        image = cv2.aruco.generateImageMarker(self.aruco_dictionary(), marker_id, pixels)
        pad = int(round(pixels * MARGIN))
        return cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)


def load_layout(path: Path | str | None = None) -> MarkerLayout:
    """Read a marker layout YAML (default: config/calibration_markers.yaml)."""
    path = Path(path) if path is not None else config_file('calibration_markers.yaml')
    try:
        raw = yaml.safe_load(path.read_text())
        dictionary = str(raw['dictionary'])
        markers = tuple(
            TableMarker(int(m['id']), float(m['x']), float(m['y']), float(m['size']))
            for m in raw['markers']
        )
    except OSError as exc:
        raise InvalidInput(f'cannot read marker layout {path}: {exc.strerror}') from None
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f'marker layout {path} is malformed: {exc}') from None
    if not hasattr(cv2.aruco, dictionary):
        raise InvalidInput(f'marker layout {path}: unknown ArUco dictionary {dictionary!r}')
    if not markers or len({m.id for m in markers}) != len(markers):
        raise InvalidInput(f'marker layout {path}: needs markers with distinct ids')
    return MarkerLayout(dictionary, markers)


@dataclass(frozen=True)
class Calibration:
    """Camera pose in the table frame (p_table = rotation @ p_optical + translation)."""

    rotation: np.ndarray
    translation: np.ndarray
    reprojection_error_px: float  # RMS over all marker corners used
    marker_ids: tuple[int, ...]


def calibrate(
    gray: np.ndarray, k: np.ndarray, dist: np.ndarray, layout: MarkerLayout, min_markers: int = 2
) -> Calibration:
    """Estimate the camera pose from one grey image of the table's markers.

    Raises:
        InvalidInput: fewer than `min_markers` known markers were found.

    """
    detector = cv2.aruco.ArucoDetector(layout.aruco_dictionary(), cv2.aruco.DetectorParameters())
    corners, ids, _ = detector.detectMarkers(gray)
    known = {m.id: m for m in layout.markers}
    table_pts, image_pts, used = [], [], []
    for marker_corners, marker_id in zip(corners, [] if ids is None else ids.ravel(), strict=True):
        if int(marker_id) in known:
            table_pts.append(known[int(marker_id)].corners())
            image_pts.append(marker_corners.reshape(4, 2))
            used.append(int(marker_id))
    if len(used) < min_markers:
        raise InvalidInput(
            f'found {len(used)} of the layout markers {sorted(known)} (need {min_markers}); '
            f'check lighting, focus and that the markers are in view'
        )
    obj = np.concatenate(table_pts).astype(np.float64)
    img = np.concatenate(image_pts).astype(np.float64)
    ok, rvec, tvec = cv2.solvePnP(obj, img, k, dist, flags=cv2.SOLVEPNP_IPPE)
    if not ok:
        raise InvalidInput('solvePnP found no camera pose for the detected markers')
    rvec, tvec = cv2.solvePnPRefineLM(obj, img, k, dist, rvec, tvec)
    projected, _ = cv2.projectPoints(obj, rvec, tvec, k, dist)
    error = float(np.sqrt(np.mean(np.sum((projected.reshape(-1, 2) - img) ** 2, axis=1))))
    r_cam_table, _ = cv2.Rodrigues(rvec)
    rotation = r_cam_table.T
    translation = (-rotation @ tvec).ravel()
    return Calibration(rotation, translation, error, tuple(sorted(used)))
