# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Package manifests, interface list and lint: the things a fresh clone must get right."""

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_package_manifests_are_format_3_with_valid_maintainers():
    for path, build_type in (
        (ROOT / 'package.xml', 'ament_python'),
        (ROOT / 'icpi_interfaces' / 'package.xml', 'ament_cmake'),
    ):
        root = ET.parse(path).getroot()
        assert root.get('format') == '3'
        assert root.findtext('export/build_type') == build_type
        assert root.findtext('license') == 'Apache-2.0'
        email = root.find('maintainer').get('email')
        assert re.fullmatch(r'[^@\s]+@[^@\s]+\.[a-z]{2,}', email), email


def test_every_interface_file_is_generated():
    cmake = (ROOT / 'icpi_interfaces' / 'CMakeLists.txt').read_text()
    listed = set(re.findall(r'"\.\./((?:msg|srv|action)/\w+\.(?:msg|srv|action))"', cmake))
    on_disk = {
        str(p.relative_to(ROOT))
        for folder in ('msg', 'srv', 'action')
        for p in (ROOT / folder).glob(f'*.{folder}')
    }
    assert listed == on_disk


def test_interfaces_are_importable():
    from icpi_interfaces.action import ExecuteTrial, Improve
    from icpi_interfaces.msg import ObjectTrajectory, TrialResult
    from icpi_interfaces.srv import NextPolicy, ResetScene

    assert ExecuteTrial.Result.INVALID_PARAMS != ExecuteTrial.Result.NONE
    assert Improve.Result.CANCELED
    assert TrialResult().trajectory.__class__ is ObjectTrajectory
    assert hasattr(NextPolicy.Response(), 'theta_next')
    assert hasattr(ResetScene.Request(), 'seed')


def test_ruff_lint_and_format():
    ruff = shutil.which('ruff')
    assert ruff, 'ruff not installed: run make setup'
    lint = subprocess.run([ruff, 'check', '.'], cwd=ROOT, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = subprocess.run([ruff, 'format', '--check', '.'], cwd=ROOT, capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
