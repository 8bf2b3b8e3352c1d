# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""`icpi video` on a synthetic recorded run (test/synthetic_bag.py)."""

import subprocess

import cv2
import pytest
from PIL import Image
from synthetic_bag import FPS, camera, make_run

from icpi_ros.cli import main
from icpi_ros.cli.exit_codes import EXIT_OK, EXIT_REJECTED
from icpi_ros.core.vision.camera import save_extrinsics
from icpi_ros.graph.demo import write_run_video


def test_icpi_video_writes_the_best_trial_next_to_the_run(tmp_path):
    run = make_run(tmp_path)
    done = subprocess.run(
        ['icpi', 'video', 'latest', '--runs-dir', str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == EXIT_OK, done.stderr
    video = run.path / 'video-best.mp4'
    assert done.stdout.startswith(f'{video}  ({FPS + 1} frames at {FPS:.1f} fps; trials 1)')
    assert cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FRAME_COUNT) == FPS + 1


def test_icpi_video_all_as_a_gif_from_the_out_suffix(tmp_path, capsys):
    make_run(tmp_path)
    out = tmp_path / 'run.gif'
    assert (
        main(['video', 'synthetic', '--runs-dir', str(tmp_path), '--all', '--out', str(out)]) == 0
    )
    assert 'trials 0, 1' in capsys.readouterr().out
    with Image.open(out) as gif:
        assert gif.n_frames == 2 * (FPS + 1)


def test_icpi_video_refuses_an_unknown_trial_a_run_without_bag_and_both_choices(tmp_path, capsys):
    run = make_run(tmp_path / 'a')
    assert main(['video', run.run_id, '--runs-dir', str(tmp_path / 'a'), '--trial', '7']) == 2
    assert 'no trial 7: the run has iterations 0..1' in capsys.readouterr().err
    run = make_run(tmp_path / 'b', bag=False)
    assert main(['video', run.run_id, '--runs-dir', str(tmp_path / 'b')]) == EXIT_REJECTED
    err = capsys.readouterr().err
    assert 'recorded before bags existed or without the recorder' in err
    assert main(['video', 'nosuchrun', '--runs-dir', str(tmp_path / 'b')]) == EXIT_REJECTED
    assert 'no run' in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(['video', run.run_id, '--best', '--all'])
    assert exc.value.code == 2


def test_the_demo_keeps_its_calibration_in_the_run_and_writes_every_trial(tmp_path):
    run = make_run(tmp_path / 'runs', calibration=False)
    calibration = tmp_path / 'calibration.yaml'
    cam = camera()
    save_extrinsics(calibration, cam.rotation, cam.translation)
    video, line = write_run_video(run.path, calibration)
    assert video == run.path / 'video-all.mp4' and line.startswith(
        f'{video} ({2 * (FPS + 1)} frames'
    )
    assert (run.path / 'calibration.yaml').read_text() == calibration.read_text()
    (run.path / 'run.mcap').unlink()
    video, line = write_run_video(run.path, calibration)
    assert video is None and 'no run.mcap' in line and 'without the recorder' in line
