# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Every launch file names executables and package files that exist, and describes its args."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from launch_check import console_scripts, read_launch_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_FILES = sorted((ROOT / 'launch').glob('*.launch.py'))


def test_expected_launch_files_exist():
    names = {p.name for p in LAUNCH_FILES}
    assert {'bringup.launch.py', 'sim.launch.py'} <= names


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_references_exist(path):
    refs = read_launch_file(path)
    assert refs.has_entry_point, f'{path.name}: no generate_launch_description()'
    executables = console_scripts(ROOT / 'setup.py')
    for package, executable in refs.executables:
        assert package == 'icpi_ros', f'{path.name}: unexpected package {package!r}'
        assert executable in executables, f'{path.name}: no executable {executable!r} in setup.py'
    for parts in refs.share_paths:
        assert (ROOT.joinpath(*parts)).is_file(), f'{path.name}: {"/".join(parts)} does not exist'
    for name, description in refs.arguments.items():
        assert description, f'{path.name}: launch argument {name!r} has no description'


def test_checker_catches_a_missing_executable_and_file(tmp_path):
    bad = tmp_path / 'bad.launch.py'
    bad.write_text(
        'def generate_launch_description():\n'
        "    Node(package='icpi_ros', executable='no_such_node')\n"
        "    PathJoinSubstitution([share, 'config', 'missing.yaml'])\n"
        "    DeclareLaunchArgument('x')\n"
    )
    refs = read_launch_file(bad)
    assert refs.executables == [('icpi_ros', 'no_such_node')]
    assert 'no_such_node' not in console_scripts(ROOT / 'setup.py')
    assert refs.share_paths == [('config', 'missing.yaml')]
    assert not (ROOT / 'config' / 'missing.yaml').exists()
    assert refs.arguments == {'x': None}


def test_sim_launch_starts_the_same_nodes_as_the_bringup_command(repo_root):
    """`ros2 launch icpi_ros sim.launch.py` and `icpi demo` / Bringup cannot drift apart."""
    from icpi_ros.bringup import sim_graph

    launched = [
        exe
        for name in ('sim.launch.py', 'bringup.launch.py')
        for _, exe in read_launch_file(repo_root / 'launch' / name).executables
    ]
    described = [spec.executable for spec in sim_graph('calibration.yaml')]
    assert sorted(launched) == sorted(described)
