# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The task plugin registry: discovery by entry point, refusals and clashes named, checks.

Plugins here are small modules written to tmp_path and named by real
importlib.metadata.EntryPoint objects (what an installed package's entry point is).
"""

import importlib.metadata
import sys

import numpy as np
import pytest
import yaml

from icpi_ros.core import task_plugins
from icpi_ros.core.scoring import trial_cost
from icpi_ros.core.task_check import check_task
from icpi_ros.core.task_plugins import ENTRY_POINT_GROUP, plugin_registry, theta_corners
from icpi_ros.core.tasks import load_tasks
from icpi_ros.core.validation import InvalidInput

TASK = {
    'description': 'A plugin task.',
    'goal_conditioned': True,
    'sim_object': 'puck',
    'parameters': [
        {'name': 'reach', 'unit': 'm', 'low': 0.05, 'high': 0.10},
        {'name': 'time', 'unit': 's', 'low': 0.3, 'high': 0.5},
    ],
    'outcome': {'names': ['distance'], 'unit': 'm', 'kind': 'reach_travel'},
    'goal': {'default': [0.1], 'low': [0.0], 'high': [0.5]},
    'trial_duration_s': 2.0,
    'cost': 'squared',
    'motion': {
        'kind': 'poke',
        'home': [0.22, 0.0, 0.02],
        'tool_pitch': 1.5708,
        'object_start': [0.42, 0.0],
        'contact_height': 0.02,
        'contact_offset': 0.0605,
        'scale': 1.0,
    },
}
PLUGIN_SOURCE = """
import numpy as np
from pathlib import Path
from icpi_ros.core.builtin_plugin import straight_stroke, stroke_start
from icpi_ros.core.task_plugins import CostFunction, MotionPrimitive, OutcomeExtractor, TaskPlugin

def poke_path(motion, theta, t):
    reach, duration = theta
    start = np.array([*motion.object_start, motion.contact_height]) - [motion.contact_offset, 0, 0]
    end = start + [motion.setting('scale') * reach, 0.0, 0.0]
    return straight_stroke(motion, start, end, duration, t)

def poke_stroke(motion, theta):
    return stroke_start(motion), stroke_start(motion) + theta[1]

def travel(task, times, points):
    return {size}

def squared(outcome, goal):
    return float(np.sum((np.asarray(outcome) - goal) ** 2))

PLUGIN = TaskPlugin(
    name={name!r},
    tasks_file=Path(__file__).with_suffix('.yaml'),
    motions=(
        MotionPrimitive('{motion}', poke_path, poke_stroke, settings=('scale',), theta_dim=2),
    ),
    outcomes=(OutcomeExtractor('{outcome}', travel, names=('distance',)),),
    costs=(CostFunction('{cost}', squared),),
)
"""
GOOD_OUTCOME = 'np.array([np.linalg.norm(points[-1, :2] - points[0, :2])])'


def _module(
    tmp_path,
    module,
    name,
    tasks=None,
    motion='poke',
    outcome='reach_travel',
    size=GOOD_OUTCOME,
    source=None,
    cost='squared',
):
    (tmp_path / f'{module}.py').write_text(
        source
        or PLUGIN_SOURCE.format(name=name, motion=motion, outcome=outcome, size=size, cost=cost)
    )
    (tmp_path / f'{module}.yaml').write_text(
        yaml.safe_dump({'version': 1, 'tasks': tasks or {'poke': TASK}})
    )
    return importlib.metadata.EntryPoint(name, f'{module}:PLUGIN', ENTRY_POINT_GROUP)


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """Install entry points (a list the test fills) in place of the real ones."""
    points: list = []
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(task_plugins, '_entry_points', lambda: points)
    plugin_registry.cache_clear()
    yield points
    plugin_registry.cache_clear()
    for name in [m for m in sys.modules if m.startswith('plug_')]:
        del sys.modules[name]


BLOCK_SOURCE = (
    PLUGIN_SOURCE.replace(
        'costs=(',
        """objects=(SimObject('block', block_xml, (0.0, 0.0, 1.0, 0.041)),),
    costs=(""",
    )
    .replace(
        'def squared(',
        """def block_xml(task, context):
    x, y = task.motion.object_start
    return (
        '<body name="block" pos="%g %g 0.02"><freejoint name="block"/>'
        '<geom name="object" type="box" size="0.035 0.035 0.02" mass="0.1"'
        ' friction="0.15 0.005 0.0001"/>'
        '<geom name="marker" type="box" size="0.025 0.025 0.001" pos="0 0 0.021" mass="0"'
        ' contype="0" conaffinity="0" rgba="%s"/>'
        '<site name="object" pos="0 0 0.02" size="0.004"/></body>'
    ) % (x, y, context.marker_rgba)

def squared(""",
    )
    .replace('CostFunction, MotionPrimitive', 'CostFunction, MotionPrimitive, SimObject')
)


def test_the_built_in_tasks_come_through_the_plugin_interface():
    registry = plugin_registry()
    assert list(registry.plugins)[0] == 'icpi_ros'
    assert {'strike', 'swing', 'push'} <= set(registry.motions)
    assert set(registry.objects) >= {'puck', 'ball', 'rope'}
    assert registry.outcomes['final_position'][0] == 'icpi_ros'
    assert {task.plugin for task in load_tasks().values()} >= {'icpi_ros'}


def test_a_plugin_adds_a_task_with_its_own_motion_and_outcome(installed, tmp_path):
    installed.append(_module(tmp_path, 'plug_good', 'poker'))
    task = load_tasks()['poke']
    assert task.plugin == 'poker' and task.motion.kind == 'poke'
    assert task.outcome_kind == 'reach_travel' and task.motion.setting('scale') == 1.0
    assert 'slide-gc' in load_tasks()  # beside the built-in ones
    assert trial_cost(task, np.array([0.3]), np.array([0.1])) == pytest.approx(0.04)  # its cost
    found = check_task(task)
    assert found.problems == () and found.plans == 5  # 4 corners and the middle
    assert 0.0 < found.outcome[0] < 0.5  # the puck was poked forward


def test_a_broken_plugin_is_refused_with_its_name(installed, tmp_path):
    installed.append(
        importlib.metadata.EntryPoint('ghost', 'plug_missing:PLUGIN', ENTRY_POINT_GROUP)
    )
    (tmp_path / 'plug_wrong.py').write_text('PLUGIN = {"name": "wrong"}\n')
    installed.append(importlib.metadata.EntryPoint('wrong', 'plug_wrong:PLUGIN', ENTRY_POINT_GROUP))
    registry = plugin_registry()
    assert 'cannot be loaded: ModuleNotFoundError' in registry.refused['ghost']
    assert 'expected a TaskPlugin' in registry.refused['wrong']
    with pytest.raises(InvalidInput, match=r"unknown task 'poke'.*refused plugins: ghost"):
        load_tasks()['poke']


def test_a_bad_tasks_file_refuses_its_plugin_naming_the_field(installed, tmp_path):
    broken = dict(TASK, parameters=TASK['parameters'][:1])
    installed.append(_module(tmp_path, 'plug_badfile', 'badfile', tasks={'poke': broken}))
    tasks = load_tasks()
    assert 'poke' not in tasks
    with pytest.raises(InvalidInput, match=r"badfile.*motion kind 'poke' takes 2 parameters"):
        tasks['poke']


@pytest.mark.parametrize(
    ('kind', 'message'),
    [
        ('motion', "kind 'strike' is already defined by plugin 'icpi_ros'"),
        ('outcome', "kind 'final_position' is already defined by plugin 'icpi_ros'"),
        ('cost', "kind 'euclidean' is already defined by plugin 'icpi_ros'"),
    ],
)
def test_a_kind_defined_twice_is_refused(installed, tmp_path, kind, message):
    clash = {
        'motion': {'motion': 'strike'},
        'outcome': {'outcome': 'final_position'},
        'cost': {'cost': 'euclidean'},
    }[kind]
    installed.append(_module(tmp_path, f'plug_clash_{kind}', 'clash', **clash))
    assert message in plugin_registry().refused['clash']


def test_a_task_name_defined_by_two_plugins_names_both(installed, tmp_path):
    installed.append(_module(tmp_path, 'plug_one', 'one'))
    other = _module(tmp_path, 'plug_two', 'two', motion='poke2', outcome='travel2', cost='sq2')
    text = (tmp_path / 'plug_two.yaml').read_text().replace('poke\n', 'poke2\n')
    text = text.replace('reach_travel', 'travel2').replace('squared', 'sq2')
    (tmp_path / 'plug_two.yaml').write_text(text)
    installed.append(other)
    with pytest.raises(
        InvalidInput, match=r"task 'poke' is defined twice: by plugin 'one' and by plugin 'two'"
    ):
        load_tasks()


def test_an_outcome_of_the_wrong_size_names_the_kind(installed, tmp_path):
    installed.append(_module(tmp_path, 'plug_size', 'size', size='np.zeros(2)'))
    task = load_tasks()['poke']
    with pytest.raises(InvalidInput, match=r"outcome kind 'reach_travel' of task 'poke' returned"):
        task.outcome_of(np.zeros(3), np.zeros((3, 3)))
    found = check_task(task)
    assert found.problems and 'plugin size, task poke' in found.problems[0]


def test_a_motion_over_the_limits_at_a_corner_is_named(installed, tmp_path):
    far = dict(
        TASK,
        parameters=[
            {'name': 'reach', 'unit': 'm', 'low': 0.05, 'high': 0.9},
            {'name': 'time', 'unit': 's', 'low': 0.3, 'high': 0.5},
        ],
    )
    installed.append(_module(tmp_path, 'plug_far', 'far', tasks={'poke': far}))
    found = check_task(load_tasks()['poke'], simulate=False)
    assert found.problems
    assert all(
        p.startswith("plugin far, task poke: motion 'poke' at theta") for p in found.problems
    )
    assert any('reach=0.9, time=0.3' in p and 'out of reach' in p for p in found.problems)


def test_theta_corners_are_every_combination():
    corners = theta_corners(np.array([0.0, 1.0]), np.array([2.0, 3.0]))
    assert sorted(map(tuple, corners)) == [(0, 1), (0, 3), (2, 1), (2, 3)]


def test_a_plugin_brings_its_own_simulated_object(installed, tmp_path):
    block = dict(
        TASK, sim_object='block', tracking={'plane_normal': [0, 0, 1.0], 'plane_offset': 0.041}
    )
    point = _module(tmp_path, 'plug_block', 'blocks', tasks={'poke': block})
    (tmp_path / 'plug_block.py').write_text(
        BLOCK_SOURCE.format(
            name='blocks', motion='poke', outcome='reach_travel', size=GOOD_OUTCOME, cost='squared'
        )
    )
    installed.append(point)
    task = load_tasks()['poke']
    found = check_task(task)  # plans, then one simulated trial in the plugin's scene
    assert found.problems == () and 0.0 < found.outcome[0] < 0.5, found
    from icpi_ros.core.sim.simulator import TrialRunner

    runner = TrialRunner(task)
    try:
        normal, offset = runner.sim.marker_plane()
        assert offset == pytest.approx(0.041) and runner.sim.camera == 'top'
        runner.sim.reset(np.array(task.default_goal))
        assert runner.sim.object_position() == pytest.approx([0.42, 0.0, 0.04], abs=1e-3)
    finally:
        runner.close()
