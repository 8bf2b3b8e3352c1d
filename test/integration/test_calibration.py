# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""ArUco calibration: on a rendered image of the simulated table, and through `icpi calibrate`."""

import json
import re
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from icpi_ros.core.sim.simulator import Simulator
from icpi_ros.core.tasks import load_tasks
from icpi_ros.core.validation import InvalidInput
from icpi_ros.core.vision.calibration import calibrate, load_layout
from icpi_ros.core.vision.camera import load_extrinsics, read_camera_info

TASK = load_tasks()['slide-gc']


@pytest.fixture(scope='module')
def rendered():
    layout = load_layout()
    sim = Simulator(TASK, markers=layout)
    sim.reset(np.array(TASK.default_goal))
    image = cv2.cvtColor(sim.render(), cv2.COLOR_RGB2BGR)
    camera = sim.camera_model()
    sim.close()
    return layout, image, camera


def test_pose_from_markers_matches_the_simulator(rendered):
    layout, image, camera = rendered
    result = calibrate(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), camera.k, camera.dist, layout)
    assert result.marker_ids == (0, 1, 2, 3)
    assert result.reprojection_error_px < 1.0
    cos = (np.trace(result.rotation.T @ camera.rotation) - 1) / 2
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))) < 0.1
    assert np.linalg.norm(result.translation - camera.translation) < 0.003


def test_too_few_markers_is_an_error(rendered):
    layout, image, camera = rendered
    blank = np.full_like(image[:, :, 0], 128)
    with pytest.raises(InvalidInput, match='found 0 of the layout markers'):
        calibrate(blank, camera.k, camera.dist, layout)


DATA = Path(__file__).parents[1] / 'data'
# Written by rosidl_runtime_py's message_to_yaml, which `ros2 topic echo --once` prints (block
# and --flow-style), then the trailing '---' echo adds.
ECHOED = ('camera_info_echo.yaml', 'camera_info_echo_flow.yaml')


@pytest.mark.parametrize('name', ECHOED)
def test_camera_info_as_ros2_topic_echo_prints_it(tmp_path, name):
    width, height, k, dist = read_camera_info(DATA / name)
    assert (width, height) == (640, 480)
    np.testing.assert_allclose(k, [[552.5, 0, 320.5], [0, 551.0, 240.25], [0, 0, 1]])
    np.testing.assert_allclose(dist, [0.1, -0.05, 0.001, 0.002, 0.0])
    # Without the trailing '---' (copied from a terminal) it reads the same.
    cut = tmp_path / 'cut.yaml'
    cut.write_text((DATA / name).read_text().replace('---\n', ''))
    assert read_camera_info(cut)[:2] == (640, 480)


@pytest.mark.parametrize(
    ('text', 'message'),
    [
        ('height: 480\nk: [1, 0, 0, 0, 1, 0, 0, 0, 1]\n', "missing field 'width'"),
        ('image_width: 640\nimage_height: 480\n', "missing field 'camera_matrix.data'"),
        ('width: 640\nheight: 480\nk: [a, b]\n', 'malformed field'),
        ('width: 640\nheight: 480\nk: [1, 2]\n', 'K must be 9 finite values'),
        ('- 1\n- 2\n', 'no mapping of fields'),
        ('width: [\n', 'is not YAML'),
    ],
)
def test_camera_info_errors_name_the_field_and_the_formats(tmp_path, text, message):
    path = tmp_path / 'info.yaml'
    path.write_text(text)
    with pytest.raises(InvalidInput, match=re.escape(message)) as failure:
        read_camera_info(path)
    if 'YAML' not in message:
        assert 'ros2 topic echo --once' in str(failure.value)


def _echoed_camera_info(camera) -> str:
    """The sim camera's CameraInfo in the echoed format (the fixture's fields replaced)."""
    doc = yaml.safe_load((DATA / ECHOED[0]).read_text().split('---')[0])
    doc.update(width=camera.width, height=camera.height, k=camera.k.reshape(-1).tolist())
    doc['d'] = [0.0] * 5
    return yaml.safe_dump(doc, sort_keys=False) + '---\n'


@pytest.mark.parametrize('form', ['camera_calibration', 'ros2 topic echo'])
def test_calibrate_command_round_trip_on_a_saved_image(tmp_path, rendered, form):
    # The real-camera path: an image file plus the camera's intrinsics as a file.
    _, image, camera = rendered
    cv2.imwrite(str(tmp_path / 'table.png'), image)
    info = {
        'image_width': camera.width,
        'image_height': camera.height,
        'camera_matrix': {'rows': 3, 'cols': 3, 'data': camera.k.reshape(-1).tolist()},
        'distortion_coefficients': {'rows': 1, 'cols': 5, 'data': [0.0] * 5},
    }
    text = yaml.safe_dump(info) if form == 'camera_calibration' else _echoed_camera_info(camera)
    (tmp_path / 'camera_info.yaml').write_text(text)
    out = tmp_path / 'calibration.yaml'
    done = subprocess.run(
        [
            'icpi',
            'calibrate',
            '--image',
            str(tmp_path / 'table.png'),
            '--camera-info',
            str(tmp_path / 'camera_info.yaml'),
            '--out',
            str(out),
            '--json',
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report['reprojection_error_px'] < 1.0
    rotation, translation = load_extrinsics(out)
    assert np.linalg.norm(translation - camera.translation) < 0.003


@pytest.mark.parametrize(
    ('args', 'message'),
    [
        (['--image', 'missing.png', '--camera-info', 'x.yaml'], 'cannot read image'),
        (['--sim', 'slide-gc', '--markers', 'missing.yaml'], 'cannot read marker layout'),
        ([], 'give --image and --camera-info, or --sim TASK'),
    ],
)
def test_calibrate_command_errors(tmp_path, args, message):
    done = subprocess.run(
        ['icpi', 'calibrate', *args, '--out', str(tmp_path / 'c.yaml')],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2 and message in done.stderr
    assert 'Traceback' not in done.stderr


def test_malformed_layout(tmp_path):
    path = tmp_path / 'layout.yaml'
    path.write_text('dictionary: DICT_NOPE\nmarkers: [{id: 0, x: 0, y: 0, size: 0.1}]\n')
    with pytest.raises(InvalidInput, match='unknown ArUco dictionary'):
        load_layout(path)
    path.write_text('dictionary: DICT_4X4_50\nmarkers: [{id: 0, x: 0}]\n')
    with pytest.raises(InvalidInput, match='malformed'):
        load_layout(path)
