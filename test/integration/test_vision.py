# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Tracking: camera model, detection edge cases, accuracy on rendered trials, calibration files."""

import cv2
import numpy as np
import pytest

from icpi_ros.core.sim.simulator import Simulator
from icpi_ros.core.tasks import load_tasks
from icpi_ros.core.validation import InvalidInput
from icpi_ros.core.vision.camera import (
    CameraModel,
    intrinsics_from_camera_info,
    load_extrinsics,
    save_extrinsics,
)
from icpi_ros.core.vision.check import track_check
from icpi_ros.core.vision.tracker import (
    Detection,
    MarkerTracker,
    TrackedTrajectory,
    TrackerConfig,
    check_image,
)

TASKS = load_tasks()


@pytest.fixture(scope='module')
def top_camera() -> CameraModel:
    sim = Simulator(TASKS['slide-gc'])
    sim.reset(np.array(TASKS['slide-gc'].default_goal))
    return sim.camera_model()


def _tracker(camera: CameraModel, **kwargs) -> MarkerTracker:
    return MarkerTracker(TrackerConfig(plane_offset=0.042, **kwargs), camera)


def _image(camera: CameraModel, discs=()) -> np.ndarray:
    """Grey BGR image with red discs ((u, v), radius) drawn on it."""
    image = np.full((camera.height, camera.width, 3), 120, np.uint8)
    for (u, v), radius in discs:
        cv2.circle(image, (int(u), int(v)), radius, (0, 0, 230), -1)
    return image


def test_project_then_back_to_the_plane(top_camera):
    rng = np.random.default_rng(0)
    points = np.column_stack([rng.uniform(0.3, 1.1, 50), rng.uniform(-0.3, 0.3, 50)])
    points = np.column_stack([points, np.full(50, 0.042)])
    for camera in (
        top_camera,
        CameraModel(**{**top_camera.__dict__, 'dist': np.array([-0.1, 0.02, 0.0, 0.0, 0.0])}),
    ):
        pixels = camera.project(points)
        back = camera.to_plane(pixels, np.array([0.0, 0.0, 1.0]), 0.042)
        np.testing.assert_allclose(back, points, atol=1e-6)


def test_detection_of_a_drawn_disc_lands_on_its_point(top_camera):
    truth = np.array([0.8, 0.05, 0.042])
    ((u, v),) = top_camera.project(truth[None])
    det = _tracker(top_camera).detect(_image(top_camera, [((round(u), round(v)), 12)]))
    assert det.valid
    assert np.linalg.norm(np.array(det.point) - truth) < 0.0015  # within a pixel's size


def test_place_puts_a_pixel_on_the_plane_of_the_task_asked_about(top_camera):
    tracker = _tracker(top_camera)  # configured for the puck's cap, z = 0.042
    ball_centre = np.array([0.9, -0.03, 0.03])
    ((pixel),) = top_camera.project(ball_centre[None])
    np.testing.assert_allclose(
        tracker.place(pixel, TASKS['roll-gc'].marker_plane), ball_centre, atol=1e-6
    )
    assert abs(tracker.place(pixel)[2] - 0.042) < 1e-9  # the configured plane otherwise
    for bad in ((0.0, 0.0, 0.0, 0.03), (0.0, 0.0, 1.0), (0.0, float('nan'), 1.0, 0.0)):
        with pytest.raises(InvalidInput, match='marker plane'):
            tracker.place(pixel, bad)


@pytest.mark.parametrize('name', ['slide', 'slide-gc', 'roll-gc', 'rope-swing'])
def test_tasks_yaml_marker_plane_is_the_simulated_one(name):
    """tasks.yaml is what the tracker uses on the graph; it must agree with the scene."""
    sim = Simulator(TASKS[name])
    normal, offset = sim.marker_plane()
    sim.close()
    assert TASKS[name].marker_plane == pytest.approx((*normal, offset))


def test_object_absent(top_camera):
    det = _tracker(top_camera).detect(_image(top_camera))
    assert not det.valid and 'no marker' in det.reason


def test_object_partly_out_of_view(top_camera):
    det = _tracker(top_camera).detect(_image(top_camera, [((5, 240), 12)]))
    assert not det.valid and 'border' in det.reason


def test_two_blobs_takes_the_larger(top_camera):
    det = _tracker(top_camera).detect(_image(top_camera, [((200, 200), 5), ((400, 300), 12)]))
    assert det.valid
    np.testing.assert_allclose(det.pixel, (400, 300), atol=0.5)


def test_blob_below_the_minimum_area(top_camera):
    det = _tracker(top_camera, min_area_px=500).detect(_image(top_camera, [((300, 300), 6)]))
    assert not det.valid and 'too small' in det.reason


def test_wrong_encoding_and_size_are_refused(top_camera):
    image = _image(top_camera)
    with pytest.raises(InvalidInput, match="unsupported image encoding 'mono8'"):
        check_image(image[:, :, 0], 'mono8', top_camera)
    with pytest.raises(InvalidInput, match='image is 320x240, camera_info says 640x480'):
        check_image(image[:240, :320], 'bgr8', top_camera)
    np.testing.assert_array_equal(check_image(image, 'rgb8', top_camera), image[:, :, ::-1])


@pytest.mark.parametrize(
    ('kwargs', 'message'),
    [
        ({'min_area_px': 0}, 'min_area_px'),
        ({'min_coverage': 1.5}, 'min_coverage'),
        ({'hsv_ranges': (((10, 0, 0), (5, 255, 255)),)}, 'bad HSV range'),
        ({'plane_normal': (0.0, 0.0, 0.0)}, 'plane_normal'),
    ],
)
def test_bad_tracker_config(kwargs, message):
    with pytest.raises(InvalidInput, match=message):
        TrackerConfig(**kwargs)


def test_camera_info_validation():
    k, d = intrinsics_from_camera_info(640, 480, [500, 0, 319.5, 0, 500, 239.5, 0, 0, 1], [])
    assert k[0, 0] == 500 and d.shape == (5,)
    with pytest.raises(InvalidInput, match='positive focal'):
        intrinsics_from_camera_info(640, 480, [0.0] * 9, [])
    with pytest.raises(InvalidInput, match='image size'):
        intrinsics_from_camera_info(0, 480, [500, 0, 319.5, 0, 500, 239.5, 0, 0, 1], [])
    with pytest.raises(InvalidInput, match='distortion'):
        intrinsics_from_camera_info(640, 480, [500, 0, 319.5, 0, 500, 239.5, 0, 0, 1], [0.1] * 3)


def test_coverage_and_last_valid_point():
    tracked = TrackedTrajectory()
    assert tracked.coverage == 0.0 and tracked.last_valid_point() is None
    tracked.add(0.0, Detection(True, (1, 1), (0.5, 0.0, 0.04), 50))
    tracked.add(0.1, Detection(False, reason='lost'))
    assert tracked.coverage == 0.5
    np.testing.assert_array_equal(tracked.last_valid_point(), [0.5, 0.0, 0.04])


def test_extrinsics_round_trip_and_malformed_files(tmp_path, top_camera):
    path = tmp_path / 'calibration.yaml'
    save_extrinsics(path, top_camera.rotation, top_camera.translation, reprojection_error_px=0.1)
    rotation, translation = load_extrinsics(path)
    np.testing.assert_allclose(rotation, top_camera.rotation, atol=1e-8)
    np.testing.assert_allclose(translation, top_camera.translation, atol=1e-8)
    with pytest.raises(InvalidInput, match='cannot read calibration'):
        load_extrinsics(tmp_path / 'missing.yaml')
    path.write_text('rotation: [[1, 0, 0], [0, 1, 0], [0, 0, 2]]\ntranslation: [0, 0, 1]\n')
    with pytest.raises(InvalidInput, match='not orthonormal'):
        load_extrinsics(path)
    path.write_text('translation: [0, 0, 1]\n')
    with pytest.raises(InvalidInput, match='malformed'):
        load_extrinsics(path)


@pytest.mark.parametrize('name', ['slide-gc', 'roll-gc', 'rope-swing', 'push-gc'])
def test_tracking_matches_ground_truth_on_a_rendered_trial(name):
    result = track_check(TASKS[name], seed=0)  # push-gc: a frame per recorded instant
    assert result['coverage'] == 1.0 and result['trajectory_valid']
    assert result['mean_error_m'] <= 0.002, result
    assert result['max_error_m'] <= 0.005, result
