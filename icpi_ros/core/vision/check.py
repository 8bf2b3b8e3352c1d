# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""track-check: render one simulated trial, track it, compare with the ground truth."""

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from icpi_ros.core.sim.simulator import TrialRunner
from icpi_ros.core.tasks import TaskSpec
from icpi_ros.core.vision.camera import load_extrinsics
from icpi_ros.core.vision.tracker import (
    MarkerTracker,
    TrackedTrajectory,
    TrackerConfig,
    check_image,
)


def track_check(
    task: TaskSpec,
    seed: int = 0,
    theta: np.ndarray | None = None,
    calibration: Path | str | None = None,
    config: TrackerConfig | None = None,
) -> dict:
    """Track a rendered trial; errors are measured on the task's outcome axes.

    `calibration` replaces the simulator's exact camera pose with a calibration file's.
    Without `theta`, one is drawn within the bounds from `seed`.
    """
    if theta is None:
        theta = np.random.default_rng(seed).uniform(task.theta_low, task.theta_high)
    runner = TrialRunner(task)
    try:
        record = runner.run(theta, seed=seed, render=True)
        camera = runner.sim.camera_model()
        normal, offset = runner.sim.marker_plane()
        axes = runner.sim.outcome_axes
    finally:
        runner.close()
    if calibration is not None:
        rotation, translation = load_extrinsics(calibration)
        camera = replace(camera, rotation=rotation, translation=translation)
    config = config or TrackerConfig()
    config = replace(config, plane_normal=tuple(normal), plane_offset=float(offset))
    tracker = MarkerTracker(config, camera)
    tracked = TrackedTrajectory()
    errors, seconds = [], []
    for stamp, image, truth in zip(
        record.times, record.frames, record.object_positions, strict=True
    ):
        start = time.perf_counter()
        detection = tracker.detect(check_image(image, 'rgb8', camera))
        seconds.append(time.perf_counter() - start)
        tracked.add(float(stamp), detection)
        if detection.valid:
            errors.append(float(np.linalg.norm(np.array(detection.point)[axes] - truth[axes])))
    final = tracked.last_valid_point()
    final_error = (
        float('nan') if final is None else float(np.linalg.norm(final[axes] - record.outcome))
    )
    return {
        'task': task.name,
        'seed': seed,
        'theta': np.asarray(record.theta).tolist(),
        'frames': len(record.frames),
        'valid_frames': int(sum(tracked.valid)),
        'coverage': tracked.coverage,
        'trajectory_valid': tracked.coverage >= config.min_coverage,
        'mean_error_m': float(np.mean(errors)) if errors else float('nan'),
        'max_error_m': float(np.max(errors)) if errors else float('nan'),
        'final_error_m': final_error,
        'ms_per_frame': float(np.median(seconds) * 1e3),
        'calibration': str(calibration) if calibration else 'simulator (exact)',
    }
