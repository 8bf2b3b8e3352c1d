# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Package manifests, interface list and lint: the things a fresh clone must get right."""

import ast
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_package_manifests_are_format_3_with_valid_maintainers():
    for path, build_type in (
        (ROOT / 'package.xml', 'ament_python'),
        (ROOT / 'icpi_interfaces' / 'package.xml', 'ament_cmake'),
        (ROOT / 'examples' / 'icpi_flick' / 'package.xml', 'ament_python'),
    ):
        root = ET.parse(path).getroot()
        assert root.get('format') == '3'
        assert root.findtext('export/build_type') == build_type
        assert root.findtext('license') == 'Apache-2.0'
        email = root.find('maintainer').get('email')
        assert re.fullmatch(r'[^@\s]+@[^@\s]+\.[a-z]{2,}', email), email


# The dependency package.xml names for an imported module whose name is not the package's.
DECLARED_AS = {
    'numpy': 'python3-numpy',
    'scipy': 'python3-scipy',
    'yaml': 'python3-yaml',
    'cv2': 'python3-opencv',
    'matplotlib': 'python3-matplotlib',
    'PIL': 'python3-pil',
    'tqdm': 'python3-tqdm',
    'bayes_opt': 'bayesian-optimization',
    'mcap_ros2': 'mcap-ros2-support',
    'sklearn': 'python3-sklearn',
}


def _imported_modules() -> set[str]:
    """Top-level modules that the package and its launch files import, beyond the stdlib."""
    found = set()
    for path in [*(ROOT / 'icpi_ros').rglob('*.py'), *(ROOT / 'launch').glob('*.py')]:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split('.')[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split('.')[0])
    return found - set(sys.stdlib_module_names) - {'icpi_ros'}


def test_package_xml_declares_exactly_what_the_package_imports():
    text = (ROOT / 'package.xml').read_text()
    declared = set(re.findall(r'<exec_depend>([^<]+)</exec_depend>', text))
    pip_only = re.search(r'install with pip \(see README\)\. -->\s*<!-- ([^>]+) -->', text)
    assert pip_only, 'package.xml: no list of the pip-only dependencies'
    declared |= {name.strip() for name in pip_only.group(1).split(',')}
    needed = {DECLARED_AS.get(module, module) for module in _imported_modules()}
    assert needed - declared == set(), 'imported but not declared in package.xml'
    assert declared - needed == set(), 'declared in package.xml but never imported'


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
