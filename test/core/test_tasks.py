# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Task definitions: the shipped tasks.yaml, clipping, goal checks, malformed files."""

import numpy as np
import pytest
import yaml

from icpi_ros.core.paths import config_file
from icpi_ros.core.tasks import load_tasks, require_simulated
from icpi_ros.core.validation import InvalidInput

DESIGN_TASKS = {'slide', 'slide-gc', 'roll-gc', 'rope-swing', 'push-gc', 'roll-gc-real'}


def test_shipped_tasks_file_defines_every_design_task():
    tasks = load_tasks()
    assert set(tasks) == DESIGN_TASKS
    for task in tasks.values():
        assert task.theta_dim == 3
        assert np.all(task.theta_low < task.theta_high)
        assert task.check_goal(task.default_goal).shape == (task.outcome_dim,)
        assert task.trial_duration_s > 0
    assert not tasks['slide'].goal_conditioned
    assert tasks['slide-gc'].goal_conditioned
    push = tasks['push-gc']
    assert push.closed_loop.control_rate_hz == 20.0 and push.closed_loop.steps == 80
    assert push.cost == 'euclidean_effort' and push.effort_weight > 0
    assert all(task.closed_loop is None for name, task in tasks.items() if name != 'push-gc')


def test_clip_reports_whether_it_clipped():
    task = load_tasks()['slide']
    inside = task.theta_middle()
    clipped, was = task.clip(inside)
    assert not was and np.array_equal(clipped, inside)
    clipped, was = task.clip(np.array([10.0, -10.0, 0.3]))
    assert was
    np.testing.assert_array_equal(clipped, [task.theta_high[0], task.theta_low[1], 0.3])


def test_goal_outside_range_names_the_coordinate():
    task = load_tasks()['slide-gc']
    with pytest.raises(InvalidInput, match=r'goal\[1\] \(y\).*outside the range'):
        task.check_goal([0.85, 5.0])
    with pytest.raises(InvalidInput, match='goal: expected 2 values, got 3'):
        task.check_goal([0.85, 0.0, 0.0])


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(InvalidInput, match="unknown task 'nope'; known tasks: push-gc, roll-gc"):
        load_tasks()['nope']


def _write(tmp_path, data) -> str:
    path = tmp_path / 'tasks.yaml'
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return str(path)


THREE = [{'name': n, 'unit': 'm', 'low': 0.0, 'high': 1.0} for n in 'abc']


def _minimal_task(**overrides):
    task = {
        'parameters': THREE,
        'outcome': {'names': ['x'], 'unit': 'm'},
        'goal': {'default': [0.5], 'low': [0.0], 'high': [1.0]},
        'trial_duration_s': 1.0,
        'motion': {'kind': 'swing', 'home': [0.4, 0.0, 0.4], 'tool_pitch': 0.0},
    }
    task.update(overrides)
    return {'version': 1, 'tasks': {'t': task}}


def test_only_sim_tasks_pass_the_sim_guard():
    tasks = load_tasks()
    assert require_simulated(tasks['slide-gc']) is tasks['slide-gc']
    message = r"task 'roll-gc-real' is not a sim task \(a real-robot task: it has no simulation\)"
    with pytest.raises(InvalidInput, match='^' + message):
        require_simulated(tasks['roll-gc-real'])
    with pytest.raises(InvalidInput, match='^tasks: ' + message):
        require_simulated(tasks['roll-gc-real'], where='tasks')


def test_minimal_file_loads(tmp_path):
    task = load_tasks(_write(tmp_path, _minimal_task()))['t']
    assert task.theta_dim == 3 and task.outcome_names == ('x',)
    assert task.plugin == 'icpi_ros' and task.outcome_kind == 'final_position'


@pytest.mark.parametrize(
    ('data', 'message'),
    [
        ('tasks: [unclosed', 'not valid YAML'),
        ('- a list', 'expected a mapping at the top level'),
        ({'version': 2, 'tasks': {}}, 'version 2 is not supported'),
        ({'version': 1, 'tasks': {}}, 'non-empty mapping under "tasks"'),
        (_minimal_task(parameters=[]), 'tasks.t.parameters: expected a non-empty list'),
        (
            _minimal_task(parameters=[{'name': 'a', 'low': 1.0, 'high': 0.0}]),
            r'tasks.t.parameters\[0\]: low \(1\) must be below high \(0\)',
        ),
        (
            _minimal_task(parameters=[{'name': 'a', 'low': 'x', 'high': 1.0}]),
            r'tasks.t.parameters\[0\].low: expected a number',
        ),
        (_minimal_task(parameters=[{'low': 0.0, 'high': 1.0}]), "missing field 'name'"),
        (
            _minimal_task(goal={'default': [0.5, 0.1], 'low': [0.0], 'high': [1.0]}),
            'tasks.t.goal.default: expected a list of 1 numbers',
        ),
        (
            _minimal_task(goal={'default': [2.0], 'low': [0.0], 'high': [1.0]}),
            r'tasks.t.goal.default: must lie inside \[low, high\]',
        ),
        (_minimal_task(cost='manhattan'), "unknown cost 'manhattan'"),
        (_minimal_task(trial_duration_s=0.0), 'trial_duration_s: must be positive'),
        (_minimal_task(trial_duration_s=float('nan')), 'must be finite'),
        (
            _minimal_task(motion={'kind': 'throw'}),
            'tasks.t.motion.kind: expected one of strike, swing, push',
        ),
        (
            _minimal_task(motion={'kind': 'swing', 'home': [0.4], 'tool_pitch': 0.0}),
            r'tasks.t.motion.home: expected 3 numbers',
        ),
        (
            _minimal_task(motion={'kind': 'strike', 'home': [0.2, 0, 0.02], 'tool_pitch': 1.5}),
            r'tasks.t.motion.object_start: expected 2 numbers',
        ),
        (_minimal_task(sim_object='cube'), 'tasks.t.sim_object: expected one of puck'),
        (
            _minimal_task(parameters=THREE[:1]),
            "tasks.t.parameters: motion kind 'swing' takes 3 parameters, got 1",
        ),
        (
            _minimal_task(outcome={'names': ['x'], 'kind': 'height'}),
            'tasks.t.outcome.kind: expected one of final_position',
        ),
        (
            _minimal_task(outcome={'names': ['speed']}),
            "tasks.t.outcome.names: outcome kind 'final_position' takes names among x, y, z",
        ),
        (_minimal_task(tracking={'plane_offset': 0.0}), "tracking: missing field 'plane_normal'"),
        (
            _minimal_task(tracking={'plane_normal': [0, 0, 0.0], 'plane_offset': 0.0}),
            'tasks.t.tracking.plane_normal: must not be zero',
        ),
    ],
)
def test_malformed_files_name_the_problem(tmp_path, data, message):
    with pytest.raises(InvalidInput, match=message):
        load_tasks(_write(tmp_path, data))


def _push_task(motion=None, **overrides):
    raw = yaml.safe_load(config_file('tasks.yaml').read_text())['tasks']['push-gc']
    raw = {**raw, 'motion': {**raw['motion'], **(motion or {})}, **overrides}
    return {'version': 1, 'tasks': {'p': raw}}


def test_the_push_task_loads_from_a_copy(tmp_path):
    task = load_tasks(_write(tmp_path, _push_task()))['p']
    assert task.closed_loop == load_tasks()['push-gc'].closed_loop


@pytest.mark.parametrize(
    ('data', 'message'),
    [
        (_push_task({'control_rate_hz': 0.0}), 'tasks.p.motion.control_rate_hz: must be positive'),
        (_push_task({'episode_s': 'long'}), 'tasks.p.motion.episode_s: expected a finite number'),
        (_push_task({'episode_s': 0.01}), 'tasks.p.motion.episode_s: shorter than one control'),
        (_push_task({'max_speed': -1.0}), 'tasks.p.motion.max_speed: must be positive'),
        (_push_task({'max_accel': None}), 'tasks.p.motion.max_accel: expected a finite number'),
        (_push_task({'workspace': [0, 1]}), 'tasks.p.motion.workspace: expected a mapping'),
        (
            _push_task({'workspace': {'low': [0.1], 'high': [0.6, 0.2]}}),
            r'tasks.p.motion.workspace.low: expected 2 finite numbers',
        ),
        (
            _push_task({'workspace': {'low': [0.7, -0.2], 'high': [0.6, 0.2]}}),
            'tasks.p.motion.workspace: low must be below high',
        ),
        (
            _push_task({'workspace': {'low': [0.3, -0.2], 'high': [0.6, 0.2]}}),
            'tasks.p.motion.home: outside motion.workspace',
        ),
        (_push_task({'start_noise_m': -0.1}), 'tasks.p.motion.start_noise_m: must be at least 0'),
        (_push_task(trial_duration_s=3.0), 'tasks.p.trial_duration_s: must be at least motion'),
        (_push_task(effort_weight=-1.0), 'tasks.p.effort_weight: must be at least 0'),
        (_push_task(effort_weight=None), 'tasks.p.effort_weight: expected a number'),
        (_push_task(sim_object='ball'), 'tasks.p.sim_object: a push task pushes a puck'),
    ],
)
def test_malformed_push_tasks_name_the_field(tmp_path, data, message):
    with pytest.raises(InvalidInput, match=message):
        load_tasks(_write(tmp_path, data))


def test_missing_file(tmp_path):
    with pytest.raises(InvalidInput, match='cannot read tasks file .*missing.yaml'):
        load_tasks(tmp_path / 'missing.yaml')
