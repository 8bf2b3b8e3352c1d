# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Trial videos from a run's bag: frames per trial window, the path drawn, MP4 and GIF."""

import cv2
import numpy as np
import pytest
from PIL import Image
from synthetic_bag import FPS, PLANE, camera, make_run, puck, trial_line, write_bag

from icpi_ros.core.records import RunRecord
from icpi_ros.core.validation import InvalidInput
from icpi_ros.core.video import (
    PATH_BGR,
    TrialPainter,
    calibration_path,
    camera_pose,
    goal_point,
    make_video,
    select_trials,
)
from icpi_ros.core.video_io import (
    BAG_FILE,
    frame_rate,
    frames_in_window,
    read_bag_images,
    write_video,
)


def _frames(path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(frame)


def test_the_frames_of_a_trial_are_those_captured_in_its_window(tmp_path):
    stamps = write_bag(tmp_path / BAG_FILE, camera(), start=0.5, end=4.5)
    images = read_bag_images(tmp_path / BAG_FILE)
    assert [f.stamp_s for f in images.frames] == pytest.approx(stamps)
    assert (images.width, images.height) == (640, 480)
    np.testing.assert_allclose(images.k, camera().k)
    for start, end in ((1.0, 2.0), (3.05, 3.55)):
        chosen = frames_in_window(images, trial_line(0, start, end, 0.01))
        expected = [t for t in stamps if start <= t <= end]
        assert [f.stamp_s for f in chosen] == pytest.approx(expected) and expected
    assert frame_rate(images.frames) == pytest.approx(FPS)
    with pytest.raises(
        InvalidInput, match=r'no camera frames in the window 6.00..7.00 s of trial 3'
    ):
        frames_in_window(images, trial_line(3, 6.0, 7.0, 0.01))


def test_a_bag_cut_short_is_read_up_to_its_last_complete_chunk(tmp_path):
    bag = tmp_path / BAG_FILE
    stamps = write_bag(bag, camera(), chunk_size=4096)  # about one frame a chunk
    data = bag.read_bytes()
    bag.write_bytes(data[: len(data) // 2])  # a recorder killed half-way: no summary
    frames = read_bag_images(bag).frames
    assert 5 < len(frames) < len(stamps)
    assert [f.stamp_s for f in frames] == pytest.approx(stamps[: len(frames)])
    bag.write_bytes(data[:200])  # killed before its first chunk was complete
    with pytest.raises(InvalidInput, match=r'cannot read bag .*run.mcap: \w+'):
        read_bag_images(bag)


def test_best_all_and_one_trial_are_selected_and_an_unknown_one_is_refused():
    trials = [trial_line(i, i, i + 1, cost) for i, cost in enumerate((0.03, 0.01, 0.02))]
    assert [t['iteration'] for t in select_trials(trials, 'best')] == [1]
    assert [t['iteration'] for t in select_trials(trials, 'all')] == [0, 1, 2]
    assert [t['iteration'] for t in select_trials(trials, 2)] == [2]
    with pytest.raises(InvalidInput, match=r'no trial 5: the run has iterations 0..2'):
        select_trials(trials, 5)
    with pytest.raises(InvalidInput, match='no trials'):
        select_trials([], 'best')


def test_the_path_is_drawn_where_its_points_project_up_to_the_frame_time():
    cam = camera()
    trial = trial_line(0, 1.0, 4.0, 0.01)
    painter = TrialPainter(cam, trial, goal_point(trial, PLANE))
    times = np.asarray(trial['trajectory']['stamps'])
    pixels = np.rint(cam.project(np.array([puck(t) for t in times]))).astype(int)
    image = painter.draw(np.zeros((480, 640, 3), np.uint8), 2.5)

    def colour(pixel) -> tuple:
        return tuple(int(v) for v in image[pixel[1], pixel[0]])

    shown = times <= 2.5
    assert all(colour(p) == PATH_BGR for p in pixels[shown])
    assert all(
        colour(p) == (0, 0, 0) for p in pixels[~shown][3:-3]
    )  # past the circle, before the goal
    goal = np.rint(cam.project(np.array([0.8, 0.05, PLANE[3]]))[0]).astype(int)
    assert colour(goal) != (0, 0, 0)

    half = painter.draw(np.zeros((240, 320, 3), np.uint8), 4.0)  # a bag stored at half size
    for p in pixels[:-3:5] // 2:
        assert np.any(np.all(half[p[1] - 1 : p[1] + 2, p[0] - 1 : p[0] + 2] == PATH_BGR, axis=2))


def test_goal_only_on_a_horizontal_plane():
    trial = trial_line(0, 1.0, 2.0, 0.01)
    np.testing.assert_allclose(goal_point(trial, PLANE), [0.8, 0.05, PLANE[3]])
    assert goal_point(trial, (0.0, 1.0, 0.0, 0.0)) is None
    assert goal_point(trial, None) is None


def test_mp4_of_every_trial_reads_back_with_its_frames_and_the_path(tmp_path):
    run = make_run(tmp_path)
    result = make_video(run, 'all')
    assert result.path == run.path / 'video-all.mp4' and result.iterations == (0, 1)
    frames = _frames(result.path)
    assert len(frames) == result.frames == 2 * (FPS + 1)  # two windows of 1 s, ends included
    assert frames[0].shape == (480, 640, 3) and result.fps == pytest.approx(FPS)
    # The last frame of trial 1 (3-4 s) shows its path in green where the puck was at 3.5 s.
    end = np.rint(camera().project(puck(3.5))[0]).astype(int)
    b, g, r = frames[-1][end[1], end[0]].astype(int)
    assert g > 150 and r < 100 and b < 100
    goal = np.rint(camera().project(np.array([0.8, 0.05, PLANE[3]]))[0]).astype(int)
    b, g, r = frames[-1][goal[1], goal[0]].astype(int)  # slide-gc's plane: the goal's cross
    assert b > 150 and r < 100


def test_gif_of_the_best_trial_and_a_scaled_one(tmp_path):
    run = make_run(tmp_path)
    result = make_video(run, 'best', fmt='gif', scale=0.5)
    assert result.path == run.path / 'video-best.gif' and result.iterations == (1,)
    with Image.open(result.path) as gif:
        assert gif.n_frames == result.frames == FPS + 1
        assert gif.size == (320, 240)
    full = make_video(run, 'best', out=tmp_path / 'best.gif', fmt='gif')
    with Image.open(full.path) as gif:
        gif.seek(gif.n_frames - 1)
        last = np.asarray(gif.convert('RGB'))
    u, v = np.rint(camera().project(puck(3.5))[0]).astype(int)
    assert tuple(last[v, u]) == PATH_BGR[::-1]  # the palette holds the path's colour exactly
    one = make_video(run, 0, out=tmp_path / 'first.mp4')
    assert one.path == tmp_path / 'first.mp4' and len(_frames(one.path)) == FPS + 1
    assert not list(run.path.glob('.*tmp*'))  # no temporary files left


def test_clear_errors_no_bag_no_calibration_bad_arguments(tmp_path):
    run = make_run(tmp_path / 'a', bag=False)
    with pytest.raises(InvalidInput, match='recorded before bags existed or without the recorder'):
        make_video(run)
    run = make_run(tmp_path / 'b', calibration=False, markers=False)
    with pytest.raises(
        InvalidInput, match=r'no calibration for run synthetic.*--calibration.*first camera frame'
    ):
        make_video(run)
    with pytest.raises(InvalidInput, match='does not exist'):
        calibration_path(run, tmp_path / 'missing.yaml')
    run = make_run(tmp_path / 'c')
    with pytest.raises(InvalidInput, match='format must be one of'):
        make_video(run, fmt='avi')
    with pytest.raises(InvalidInput, match='scale'):
        make_video(run, scale=0.0)
    (run.path / BAG_FILE).write_bytes(b'not an mcap file')
    with pytest.raises(InvalidInput, match='cannot read bag'):
        make_video(run)


@pytest.mark.parametrize('shrink', [1, 2])
def test_without_a_calibration_file_the_markers_of_the_first_frame_give_the_pose(tmp_path, shrink):
    run = make_run(tmp_path, calibration=False, shrink=shrink)  # 2: stored at 320x240
    images = read_bag_images(run.path / BAG_FILE)
    rotation, translation, source = camera_pose(run, images)
    assert source == 'the ArUco markers of the first frame'
    np.testing.assert_allclose(translation, camera().translation, atol=0.005 * shrink)
    np.testing.assert_allclose(rotation, camera().rotation, atol=0.005 * shrink)
    result = make_video(run, 1)
    assert result.pose_from == source
    last = _frames(result.path)[-1]
    assert last.shape == (480 // shrink, 640 // shrink, 3)
    u, v = np.rint(camera().project(puck(3.5))[0] / shrink).astype(int)
    b, g, r = last[v, u].astype(int)
    assert g > 150 and r < 100 and b < 100


def test_calibration_named_in_the_config_is_used(tmp_path):
    run = make_run(tmp_path, calibration=False)
    elsewhere = tmp_path / 'cal.yaml'
    cam = camera()
    from icpi_ros.core.vision.camera import save_extrinsics

    save_extrinsics(elsewhere, cam.rotation, cam.translation)
    config = {**run.config, 'calibration_file': str(elsewhere)}
    run = RunRecord(run.path, run.run_id, config, 0)
    assert calibration_path(run) == elsewhere
    result = make_video(run, 1)
    assert result.frames == FPS + 1 and result.pose_from == str(elsewhere)


def test_write_video_refuses_no_frames_and_mixed_sizes(tmp_path):
    with pytest.raises(InvalidInput, match='no frames'):
        write_video([], tmp_path / 'x.mp4', 10, 'mp4')
    mixed = [np.zeros((48, 64, 3), np.uint8), np.zeros((24, 32, 3), np.uint8)]
    for fmt in ('mp4', 'gif'):
        with pytest.raises(InvalidInput, match='frame of size'):
            write_video(mixed, tmp_path / f'x.{fmt}', 10, fmt)
        assert not (tmp_path / f'x.{fmt}').exists()
