# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Every launch file names executables and package files that exist, and describes its args."""

from pathlib import Path

import pytest

# This folder's helper: pytest's default import mode (prepend) puts a test module's folder on
# sys.path, as for test/bringup/bringup_graph.py.
from launch_check import (
    Typed,
    console_scripts,
    declared_parameter_types,
    declared_parameters,
    description_calls,
    launch_type_problems,
    node_sources,
    read_launch_file,
    undeclared,
)

ROOT = Path(__file__).resolve().parents[2]
NODES = ROOT / 'icpi_ros' / 'nodes'
LAUNCH_FILES = sorted((ROOT / 'launch').glob('*.launch.py'))


def test_expected_launch_files_exist():
    names = {p.name for p in LAUNCH_FILES}
    assert {'bringup.launch.py', 'sim.launch.py', 'real_roll.launch.py'} <= names


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
        if 'required' in description:
            assert name not in refs.defaults, f'{path.name}: required {name!r} has a default'
    assert refs.node_parameters == 0, f'{path.name}: parameters=[...] not from the description'


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


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_files_take_their_nodes_from_the_description(path):
    """No node is spelled out in a launch file: they come from the graph description."""
    import inspect

    import icpi_ros.graph.description as description

    refs = read_launch_file(path)
    assert refs.executables == [], f'{path.name}: Node(...) written by hand'
    calls = description_calls(path)
    assert any(calls.get(name) for name in ('core_graph', 'sim_bridge', 'real_graph')), path.name
    for name, keyword_sets in calls.items():
        assert hasattr(description, name), f'{path.name}: {description.__name__} has no {name}'
        target = getattr(description, name)
        if callable(target):
            accepted = set(inspect.signature(target).parameters)
            for keywords in keyword_sets:
                assert keywords <= accepted, f'{path.name}: {name}() has no {keywords - accepted}'


def test_every_described_node_exists_and_declares_what_it_is_given(repo_root):
    from icpi_ros.graph.description import (
        CORE_ARGUMENTS,
        REAL_ARGUMENTS,
        SIM_ARGUMENTS,
        real_graph,
        sim_graph,
    )

    executables = console_scripts(repo_root / 'setup.py')
    real = real_graph('calibration.yaml', kinematics_file='arm.urdf', joint_names='[a, b, c, d]')
    for spec in [*sim_graph('calibration.yaml', runs_dir='runs'), *real]:
        assert spec.executable in executables
        for name in spec.params_files:
            assert (repo_root / 'config' / name).is_file(), name
        declared = declared_parameters(*node_sources(NODES, spec.executable))
        assert not undeclared(spec.params, declared), (spec.executable, spec.params)
    for name, (_, description) in {**CORE_ARGUMENTS, **SIM_ARGUMENTS, **REAL_ARGUMENTS}.items():
        assert description, f'launch argument {name!r} has no description'


def test_the_local_llm_graph_starts_the_server_first_and_points_the_planner_at_it(repo_root):
    from icpi_ros.cli import build_parser
    from icpi_ros.cli.llm import serve
    from icpi_ros.graph.description import sim_graph

    plain = {s.name: s for s in sim_graph('calibration.yaml')}
    assert 'local_llm' not in plain
    assert plain['icpi_planner'].params['llm.base_url'] == ''  # left to the node's default
    specs = sim_graph('calibration.yaml', local_llm=True, local_llm_port=8765)
    server, planner = specs[0], next(s for s in specs if s.name == 'icpi_planner')
    assert server.name == 'local_llm' and server.starts_first
    assert not any(s.starts_first for s in specs[1:])
    assert server.executable in console_scripts(repo_root / 'setup.py')
    args = build_parser().parse_args(server.argv()[1:])  # `icpi llm serve` takes its argv
    assert (args.func, args.port, args.model) == (serve, 8765, 'smollm2')
    assert planner.params['llm.base_url'] == 'http://127.0.0.1:8765/v1'
    assert planner.params['llm.model'] == 'smollm2-135m'
    declared = declared_parameters(*node_sources(NODES, 'icpi_planner'))
    assert not undeclared(planner.params, declared)
    # Port 0 (the project's own graph): a port free now, the same in server and planner.
    specs = sim_graph('calibration.yaml', local_llm=True)
    port = specs[0].port
    assert port > 0 and specs[0].argv()[4] == str(port)
    assert next(s for s in specs if s.name == 'icpi_planner').params['llm.base_url'] == (
        f'http://127.0.0.1:{port}/v1'
    )


def test_checker_sees_hand_written_nodes_and_unknown_parameters(tmp_path):
    bad = tmp_path / 'bad.launch.py'
    bad.write_text(
        'from icpi_ros.graph.description import core_graph\n'
        'def generate_launch_description():\n'
        '    core_graph(calibration=1)\n'
        "    Node(package='icpi_ros', executable='icpi_planner')\n"
    )
    assert description_calls(bad) == {'core_graph': [{'calibration'}]}
    node = tmp_path / 'node.py'
    node.write_text(
        "declare(self, 'known', 1, 'd')\nself.declare_parameter('other', 2)\n"
        "declare(self, f'low{i}', 1, 'd')\n"
    )
    declared = declared_parameters(node)
    assert undeclared(['known', 'low_2', 'use_sim_time', 'other', 'lo'], declared) == {
        'other',
        'lo',
    }


@pytest.mark.parametrize('name', ['real_roll.yaml', 'sim.yaml', 'tracker.yaml'])
def test_config_files_only_set_parameters_their_nodes_declare(repo_root, name):
    import yaml

    for node, section in yaml.safe_load((repo_root / 'config' / name).read_text()).items():
        declared = declared_parameters(*node_sources(NODES, node))
        unknown = undeclared(section['ros__parameters'], declared)
        assert not unknown, f'{name}: {node} declares no {sorted(unknown)}'


class Substitution:
    """Stands for a LaunchConfiguration: what sim.launch.py hands sim_bridge()."""

    def __init__(self, name: str) -> None:
        self.name = name


def _types(executable: str) -> dict:
    types = {}
    for path in node_sources(NODES, executable):
        types |= declared_parameter_types(path, f'icpi_ros.nodes.{path.stem}')
    return types


def _graphs_as_launched() -> list:
    """The nodes as the launch files build them: strings from launch arguments, substitutions."""
    from icpi_ros.graph.description import real_graph, sim_bridge, sim_graph

    args = {'calibration_file': '/c.yaml', 'runs_dir': '', 'improver': 'auto'}
    real = real_graph(
        **args,
        config_file='real_roll.yaml',
        kinematics_file='/arm.urdf',
        joint_names='[j1, j2, j3, j4]',
        controller_topic='/c',
        dry_run='true',
    )
    bridge = sim_bridge(Substitution('realtime_factor'), Substitution('headless'))
    return [*real, bridge, *sim_graph('/c.yaml', realtime_factor=0)]


def test_every_parameter_reaches_launch_ros_with_the_type_its_node_declares():
    """launch_ros writes a plain str as a YAML string: `dry_run: 'true'` kills the executor."""
    for spec in _graphs_as_launched():
        params = spec.launch_parameters(Typed)
        assert not launch_type_problems(params, _types(spec.executable)), spec.executable


def test_the_type_table_is_what_the_nodes_declare():
    from icpi_ros.graph.spec import PARAMETER_TYPES

    for spec in _graphs_as_launched():
        types = _types(spec.executable)
        for name in spec.params:
            typed = {name: Typed(None, PARAMETER_TYPES[name])}
            assert not launch_type_problems(typed, types), (spec.executable, name)


def test_type_checker_catches_a_plain_string_for_a_bool_an_array_and_a_double():
    types = _types('trial_executor') | _types('sim_bridge')
    assert types['dry_run'] == 'bool' and types['joint_names'] == 'string_array'
    assert types['realtime_factor'] == 'double'
    problems = launch_type_problems(
        {'dry_run': 'true', 'joint_names': '[j1, j2]', 'realtime_factor': '0'}, types
    )
    assert [p.split(':')[0] for p in problems] == ['dry_run', 'joint_names', 'realtime_factor']
    assert "str 'true' arrives as string, the node declares bool" in problems[0]
    fine = {'dry_run': True, 'realtime_factor': 0, 'joint_names': Typed('[a]', 'string_array')}
    assert launch_type_problems(fine, types) == []


def test_required_arguments_have_no_default(tmp_path):
    from icpi_ros.graph.description import CORE_ARGUMENTS, REAL_ARGUMENTS, SIM_ARGUMENTS

    for name, (default, description) in {
        **CORE_ARGUMENTS,
        **SIM_ARGUMENTS,
        **REAL_ARGUMENTS,
    }.items():
        assert ('(required)' in description) == (default is None), name
    bad = tmp_path / 'bad.launch.py'
    bad.write_text(
        "DeclareLaunchArgument('cal', default_value='', description='Camera pose (required).')\n"
        "Node(parameters=[{'dry_run': 'true'}])\n"
    )
    refs = read_launch_file(bad)
    assert refs.defaults == {'cal': ''} and refs.node_parameters == 1
