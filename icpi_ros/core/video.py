# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""A short video of a recorded run: the top camera's frames of a trial with its tracked path.

The frames come from the run's MCAP bag (`video_io`), the trial windows (`start_s`, `end_s`,
graph clock) and tracked paths (`trajectory`) from `trials.jsonl`. Table points become pixels
through the tracker's camera model (`vision.camera.CameraModel`): the bag's intrinsics and the
calibration the run used (`calibration.yaml` in the run folder, `calibration_file` in its
config.json, or one given). Each frame shows the path tracked up to its capture time, the goal
and a caption.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from icpi_ros.core.records import CONFIG_FILE, RunRecord
from icpi_ros.core.validation import InvalidInput
from icpi_ros.core.video_io import (
    BAG_FILE,
    FORMATS,
    BagImages,
    decode,
    frame_rate,
    frames_in_window,
    read_bag_images,
    write_video,
)
from icpi_ros.core.vision.calibration import calibrate, load_layout
from icpi_ros.core.vision.camera import CameraModel, load_extrinsics

CALIBRATION_FILE = 'calibration.yaml'  # the calibration a run used, copied into its folder
PATH_BGR = (0, 255, 0)  # the tracked path
GOAL_BGR = (255, 128, 0)  # the goal's cross
TEXT_BGR = (255, 255, 255)


@dataclass(frozen=True)
class VideoResult:
    """What `make_video` wrote."""

    path: Path
    frames: int
    fps: float
    iterations: tuple[int, ...]
    pose_from: str  # the calibration file used, or the markers of the first frame


def calibration_path(run: RunRecord, given: Path | str | None = None) -> Path:
    """Return the calibration (camera pose) file the run's camera had.

    Args:
        run: The run record.
        given: A calibration file that overrides what the run says.

    Returns:
        `given`, else `calibration.yaml` in the run folder, else the config's
        `calibration_file`.

    Raises:
        InvalidInput: none of them names an existing file.

    """
    if given:
        if not Path(given).is_file():
            raise InvalidInput(f'calibration {given} does not exist')
        return Path(given)
    candidates = [run.path / CALIBRATION_FILE]
    if run.config.get('calibration_file'):
        candidates.append(Path(str(run.config['calibration_file'])))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise InvalidInput(
        f'no calibration for run {run.run_id}: neither {candidates[0]} nor a '
        f'calibration_file in its {CONFIG_FILE} names a file; give one with --calibration'
    )


def camera_pose(
    run: RunRecord, images: BagImages, given: Path | str | None = None
) -> tuple[np.ndarray, np.ndarray, str]:
    """Return the camera pose (rotation, translation) of a run's bag and where it came from.

    The run's calibration file (`calibration_path`); without one, the ArUco markers of
    config/calibration_markers.yaml found in the bag's first frame (`vision.calibration`).

    Raises:
        InvalidInput: `given` does not exist, or no calibration file and no markers seen.

    """
    try:
        path = calibration_path(run, given)
    except InvalidInput as no_file:
        if given or not images.frames:
            raise
        first = decode(images.frames[0])
        k = images.k.copy()
        k[:2] *= np.array([[first.shape[1] / images.width], [first.shape[0] / images.height]])
        try:
            pose = calibrate(cv2.cvtColor(first, cv2.COLOR_BGR2GRAY), k, images.dist, load_layout())
        except InvalidInput as exc:
            raise InvalidInput(f'{no_file}; and in the first camera frame: {exc}') from None
        return pose.rotation, pose.translation, 'the ArUco markers of the first frame'
    return (*load_extrinsics(path), str(path))


def select_trials(trials: Sequence[dict], which: str | int) -> list[dict]:
    """Pick the trials to show.

    Args:
        trials: The run's trial lines, in order.
        which: 'best' (the lowest cost), 'all', or an iteration number.

    Returns:
        The chosen trial lines, in order.

    Raises:
        InvalidInput: no trials, an unknown iteration, or an unknown choice.

    """
    if not trials:
        raise InvalidInput('the run has no trials')
    if which == 'all':
        return list(trials)
    if which == 'best':
        return [min(trials, key=lambda t: t['cost'])]
    if isinstance(which, int) and not isinstance(which, bool):
        chosen = [t for t in trials if t['iteration'] == which]
        if not chosen:
            have = [t['iteration'] for t in trials]
            raise InvalidInput(f'no trial {which}: the run has iterations {have[0]}..{have[-1]}')
        return chosen
    raise InvalidInput(f"trial choice must be 'best', 'all' or an iteration, got {which!r}")


def marker_plane(task: object) -> tuple[float, ...] | None:
    """Return the tracked marker's plane of a task of config/tasks.yaml (None: unknown)."""
    from icpi_ros.core.tasks import load_tasks

    tasks = load_tasks()
    return tasks[task].marker_plane if task in list(tasks) else None


def goal_point(trial: dict, plane: Sequence[float] | None) -> np.ndarray | None:
    """Return the goal as a table-frame point on a horizontal marker plane, or None.

    Goals are (x, y) on the table for the planar tasks; other goal spaces are not drawn.
    """
    goal = trial.get('goal') or []
    if len(goal) != 2 or plane is None or not np.allclose(plane[:3], (0.0, 0.0, 1.0)):
        return None
    return np.array([goal[0], goal[1], plane[3]], dtype=float)


class TrialPainter:
    """Draws one trial's tracked path (up to each frame's time), its goal and a caption."""

    def __init__(self, camera: CameraModel, trial: dict, goal: np.ndarray | None) -> None:
        path = trial.get('trajectory') or {}
        stamps = np.asarray(path.get('stamps') or [], dtype=float)
        points = np.asarray(path.get('points') or [], dtype=float).reshape(-1, 3)
        valid = np.asarray(path.get('valid') or [], dtype=bool)
        if not (len(stamps) == len(points) == len(valid)):
            raise InvalidInput(
                f'trial {trial["iteration"]}: trajectory stamps, points and valid differ in length'
            )
        keep = valid & np.all(np.isfinite(points), axis=1)
        self.camera = camera
        self.stamps = stamps[keep]
        self.pixels = camera.project(points[keep]) if keep.any() else np.zeros((0, 2))
        self.goal = None if goal is None else camera.project(goal)[0]
        self.caption = f'trial {trial["iteration"]}  cost {1000 * float(trial["cost"]):.1f} mm'

    def draw(self, image: np.ndarray, stamp_s: float) -> np.ndarray:
        """Return `image` (BGR) with the path tracked up to `stamp_s`, the goal and a caption.

        The camera model's pixels are scaled to the image when the bag stores it smaller.
        """
        scale = np.array([image.shape[1] / self.camera.width, image.shape[0] / self.camera.height])
        shown = np.rint(self.pixels[self.stamps <= stamp_s + 1e-6] * scale).astype(np.int32)
        if len(shown) > 1:
            cv2.polylines(image, [shown.reshape(-1, 1, 2)], False, PATH_BGR, 2, cv2.LINE_AA)
        if len(shown):
            cv2.circle(image, tuple(int(v) for v in shown[-1]), 5, PATH_BGR, 2, cv2.LINE_AA)
        if self.goal is not None and np.all(np.isfinite(self.goal)):
            x, y = (int(v) for v in np.rint(self.goal * scale))
            cv2.drawMarker(image, (x, y), GOAL_BGR, cv2.MARKER_CROSS, 14, 2)
        text = f'{self.caption}  t {stamp_s:.2f} s'
        cv2.putText(image, text, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, TEXT_BGR, 1, cv2.LINE_AA)
        return image


def make_video(
    run: RunRecord,
    which: str | int = 'best',
    out: Path | str | None = None,
    fmt: str = 'mp4',
    calibration: Path | str | None = None,
    scale: float = 1.0,
) -> VideoResult:
    """Write the video of some trials of a recorded run, one after the other.

    Args:
        run: The run record (its folder holds `run.mcap`).
        which: 'best', 'all' or an iteration number (`select_trials`).
        out: The video file; default `<run>/video-<which>.<fmt>`.
        fmt: 'mp4' or 'gif'.
        calibration: The camera pose file; default: the run's (`camera_pose`).
        scale: Size of the video relative to the bag's images (0 < scale <= 1).

    Returns:
        The file written, its frame count and rate, and the iterations shown.

    Raises:
        InvalidInput: no bag, no camera pose (`camera_pose`), an unknown trial, a trial
            without frames, bad arguments.
        Failed: the video could not be written.

    """
    if fmt not in FORMATS:
        raise InvalidInput(f'video format must be one of {FORMATS}, got {fmt!r}')
    if not 0.0 < scale <= 1.0:
        raise InvalidInput(f'video scale must be in (0, 1], got {scale}')
    trials = select_trials(run.trials(), which)
    plane = marker_plane(run.config.get('task'))
    images = read_bag_images(run.path / BAG_FILE)
    rotation, translation, pose_from = camera_pose(run, images, calibration)
    camera = CameraModel(images.width, images.height, images.k, images.dist, rotation, translation)
    shots = [
        (TrialPainter(camera, t, goal_point(t, plane)), frames_in_window(images, t)) for t in trials
    ]
    fps = frame_rate(shots[0][1])

    def render() -> Iterator[np.ndarray]:
        for painter, frames in shots:
            for frame in frames:
                image = painter.draw(decode(frame), frame.stamp_s)
                if scale != 1.0:
                    image = cv2.resize(
                        image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA
                    )
                yield image

    name = which if isinstance(which, str) else f'trial-{which}'
    path = Path(out) if out else run.path / f'video-{name}.{fmt}'
    count = write_video(render(), path, fps, fmt, (PATH_BGR, GOAL_BGR, TEXT_BGR))
    return VideoResult(path, count, fps, tuple(int(t['iteration']) for t in trials), pose_from)
