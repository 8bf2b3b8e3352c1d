# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Improvement datasets: collection by hindsight relabelling / brute force, file format, errors."""

import json

import numpy as np
import pytest

from icpi_ros.core.collect import collect_dataset
from icpi_ros.core.dataset import ImprovementDataset, load_dataset
from icpi_ros.core.paths import data_dir
from icpi_ros.core.sim.simulator import TrialRunner
from icpi_ros.core.tasks import load_tasks
from icpi_ros.core.validation import InvalidInput

TASKS = load_tasks()


@pytest.fixture(scope='module')
def slide_gc():
    task = TASKS['slide-gc']
    runner = TrialRunner(task)
    yield task, lambda theta: runner.run(theta, np.array(task.default_goal)).outcome
    runner.close()


@pytest.fixture(scope='module')
def small(slide_gc):
    task, run = slide_gc
    return collect_dataset(task, run, rollouts=30, max_examples=40, seed=7)


def test_hindsight_examples_are_real_rollout_pairs(slide_gc, small):
    task, run = slide_gc
    assert len(small) == 40
    assert small.provenance['method'] == 'hindsight relabelling'
    np.testing.assert_allclose(small.error, small.outcome - small.goal)
    # theta + delta is another rollout, and its outcome (deterministic physics) is the goal.
    for i in (0, 17, 39):
        np.testing.assert_allclose(run(small.theta[i]), small.outcome[i], atol=1e-12)
        np.testing.assert_allclose(
            run(small.theta[i] + small.delta_theta[i]), small.goal[i], atol=1e-12
        )
    assert not np.any(np.all(small.delta_theta == 0, axis=1))  # never a rollout with itself
    assert np.all((small.theta >= task.theta_low) & (small.theta <= task.theta_high))


def test_collection_is_reproducible_by_seed(slide_gc, small):
    task, run = slide_gc
    again = collect_dataset(task, run, rollouts=30, max_examples=40, seed=7)
    other = collect_dataset(task, run, rollouts=30, max_examples=40, seed=8)
    for name, values in small.blocks().items():
        np.testing.assert_array_equal(values, again.blocks()[name])
    assert not np.array_equal(small.theta, other.theta)


def test_fixed_goal_brute_force_points_every_example_at_the_best_theta():
    task = TASKS['slide']
    runner = TrialRunner(task)
    goal = np.array(task.default_goal)
    try:
        ds = collect_dataset(task, lambda t: runner.run(t, goal).outcome, 10, 30, seed=1)
        best = np.array(ds.provenance['best_theta'])
        np.testing.assert_allclose(ds.theta + ds.delta_theta, np.tile(best, (len(ds), 1)))
        np.testing.assert_array_equal(ds.goal, np.tile(goal, (len(ds), 1)))
        # The search refines: the best theta beats every one of the first rollouts.
        best_cost = np.linalg.norm(runner.run(best, goal).outcome - goal)
        assert best_cost <= np.linalg.norm(ds.error, axis=1).min() + 1e-12
    finally:
        runner.close()


def test_round_trip_is_exact(small, tmp_path):
    path = small.save(tmp_path / 'sub' / 'slide-gc.json')
    back = load_dataset(path)
    for name, values in small.blocks().items():
        np.testing.assert_array_equal(back.blocks()[name], values)
    np.testing.assert_array_equal(back.delta_theta, small.delta_theta)
    assert back.provenance == small.provenance
    assert (back.task, back.theta_names) == ('slide-gc', ('angle', 'distance', 'time'))
    assert not list(path.parent.glob('.*.tmp'))  # the atomic write left nothing behind


def test_normalisation_gives_zero_mean_unit_spread(small):
    norm = small.normalisation
    z = norm.apply('theta', small.theta)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-9)
    # A constant block (a fixed goal) is not blown up by a zero spread.
    fixed = ImprovementDataset(
        't', ('a',), ('x',), np.ones((3, 1)), np.ones((3, 1)), np.ones((3, 1)), np.zeros((3, 1))
    )
    assert np.all(np.isfinite(fixed.normalisation.apply('goal', np.ones((3, 1)))))


def _corrupt(small, tmp_path, edit) -> str:
    doc = small.to_dict()
    edit(doc)
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(
    ('edit', 'message'),
    [
        (lambda d: d.update(format='other'), 'not an improvement dataset'),
        (lambda d: d.update(version=99), 'version 99 is not supported'),
        (lambda d: d.pop('task'), 'task: expected a task name'),
        (lambda d: d['examples']['theta'][3].pop(), r'examples.theta: .* of 3 numbers'),
        (lambda d: d['examples']['goal'].pop(), 'examples.goal: expected a list of 40 rows'),
        (lambda d: d['examples']['delta_theta'][5].__setitem__(1, 'x'), 'examples.delta_theta'),
        (lambda d: d['examples']['error'][2].__setitem__(0, 9.0), r'examples.error\[2\] is not'),
        (lambda d: d.update(size=41), 'size is 41 but there are 40 examples'),
        (lambda d: d['examples'].pop('outcome'), 'examples.outcome: expected a list'),
    ],
)
def test_corrupt_files_are_refused_with_the_field_named(small, tmp_path, edit, message):
    path = _corrupt(small, tmp_path, edit)
    with pytest.raises(InvalidInput, match=message):
        load_dataset(path)


def test_unreadable_files(tmp_path):
    with pytest.raises(InvalidInput, match='cannot read dataset'):
        load_dataset(tmp_path / 'missing.json')
    bad = tmp_path / 'bad.json'
    bad.write_text('{"format": "icpi-improvement-dataset", "version": 1, "examples": {"theta"')
    with pytest.raises(InvalidInput, match='is not valid JSON'):
        load_dataset(bad)
    bad.write_text(
        '{"format": "icpi-improvement-dataset", "version": 1, "examples": {"theta": [[NaN, 1, 2]]}}'
    )
    with pytest.raises(InvalidInput):
        load_dataset(bad)


@pytest.mark.parametrize('name', ['slide', 'slide-gc', 'roll-gc', 'rope-swing'])
def test_shipped_datasets_load_and_match_their_task(name):
    ds = load_dataset(data_dir() / f'{name}.json')
    ds.check_task(TASKS[name])
    assert len(ds) == 300
    assert ds.provenance['seed'] == 0
    with pytest.raises(InvalidInput, match='dataset is for task'):
        ds.check_task(TASKS['roll-gc' if name != 'roll-gc' else 'slide-gc'])
