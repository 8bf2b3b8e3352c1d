# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Growing a dataset with runs' hindsight examples: merge, deduplication, bound, provenance."""

import json

import numpy as np
import pytest
from scipy.spatial import cKDTree

from icpi_ros.core.dataset import load_dataset
from icpi_ros.core.dataset_grow import (
    DUPLICATE_TOL,
    RunTrials,
    check_grown_path,
    grow_dataset,
)
from icpi_ros.core.episode_memory import hindsight_examples
from icpi_ros.core.paths import data_dir
from icpi_ros.core.recorded_runs import read_run, read_runs
from icpi_ros.core.records import RunRecord
from icpi_ros.core.retrieval import ExampleIndex
from icpi_ros.core.run_lines import append_line
from icpi_ros.core.tasks import load_tasks
from icpi_ros.core.validation import InvalidInput

TASK = load_tasks()['slide-gc']


@pytest.fixture(scope='module')
def base():
    return load_dataset(data_dir() / 'slide-gc.json')


def outcome_of(theta: np.ndarray) -> np.ndarray:
    """A smooth stand-in for the physics: outcome (x, y) of theta (angle, distance, time)."""
    theta = np.atleast_2d(theta)
    return np.column_stack([0.4 + 4.0 * theta[:, 1] - 0.3 * theta[:, 2], 0.3 * theta[:, 0]])


def run_of(name: str, n: int, seed: int) -> RunTrials:
    theta = np.random.default_rng(seed).uniform(TASK.theta_low, TASK.theta_high, (n, 3))
    return RunTrials(name, theta, outcome_of(theta))


def test_the_grown_dataset_is_the_base_then_each_runs_hindsight_examples_tagged(base):
    runs = [run_of('run-a', 5, 1), run_of('run-b', 4, 2)]
    growth = grow_dataset(base, runs, 1000, spacing=0, provenance={'command': 'icpi x'})
    grown = growth.dataset
    assert len(base) == 300 and base.source is None  # the dataset grown is not changed
    assert len(grown) == 300 + 5 * 4 + 4 * 3 and growth.total('added') == 32
    for name in ('theta', 'outcome', 'goal', 'delta_theta'):
        np.testing.assert_array_equal(getattr(grown, name)[:300], getattr(base, name))
    # The new rows are exactly hindsight_examples of each run, in order.
    for run, rows in ((runs[0], slice(300, 320)), (runs[1], slice(320, 332))):
        memory = hindsight_examples(run.theta, run.outcome, max_trials=len(run.theta))
        np.testing.assert_array_equal(grown.theta[rows], memory.theta)
        np.testing.assert_array_equal(grown.goal[rows], memory.goal)
        np.testing.assert_array_equal(grown.delta_theta[rows], memory.delta_theta)
    # theta + delta theta is another trial of the run, and the goal is its outcome.
    np.testing.assert_allclose(
        outcome_of(grown.theta[300:] + grown.delta_theta[300:]), grown.goal[300:]
    )
    assert grown.sources() == (None,) * 300 + ('run-a',) * 20 + ('run-b',) * 12
    assert grown.task == 'slide-gc' and grown.normalisation.mean['theta'].shape == (3,)


def test_every_trial_of_a_long_run_is_relabelled_not_only_the_memorys_last_64(base):
    growth = grow_dataset(base, [run_of('long', 70, 3)], max_examples=10_000, spacing=0)
    assert growth.runs[0].examples == 70 * 69 == growth.runs[0].added


def test_a_run_given_twice_and_a_repeated_trial_are_not_added_again(base):
    run = run_of('a', 4, 5)
    again = RunTrials('a-again', run.theta.copy(), run.outcome.copy())
    growth = grow_dataset(base, [run, again], max_examples=1000, spacing=0)
    first, second = growth.runs
    assert (first.examples, first.duplicates, first.added) == (12, 0, 12)
    assert (second.examples, second.duplicates, second.added) == (12, 12, 0)
    # A theta tried again (a run that held its best theta): copies of its pairs are dropped.
    held = RunTrials('held', run.theta[[0, 1, 1, 1]], run.outcome[[0, 1, 1, 1]])
    growth = grow_dataset(base, [held], max_examples=1000, spacing=0)
    # Distinct: 0->1, 1->0 and 1->1 (the "stay" example, delta theta 0): 3 of the 12.
    assert (growth.runs[0].duplicates, growth.runs[0].added) == (9, 3)
    assert sum(np.all(growth.dataset.delta_theta[300:] == 0, axis=1)) == 1


def test_duplicates_are_within_the_tolerance_of_the_datasets_spread(base):
    """A run repeating a base example's two rollouts gives that example again: dropped."""
    theta0 = base.theta[0]
    theta1 = base.theta[0] + base.delta_theta[0]
    std = base.normalisation.std['theta']
    for shift, duplicate in ((0.5 * DUPLICATE_TOL, True), (2 * DUPLICATE_TOL, False)):
        theta = np.array([theta0 + shift * std, theta1])
        run = RunTrials('r', theta, np.array([base.outcome[0], base.goal[0]]))
        growth = grow_dataset(base, [run], max_examples=1000, spacing=0)
        assert growth.runs[0].duplicates == int(duplicate), shift
    with pytest.raises(InvalidInput, match='nothing to add: all 6 hindsight examples'):
        run = RunTrials('r', np.array([theta0, theta1, theta0]), base.outcome[[0, 0, 0]])
        grow_dataset(grow_dataset(base, [run], 1000, 0).dataset, [run], 1000, 0)


def test_over_the_bound_the_base_stays_and_the_new_ones_are_chosen_farthest_first(base):
    runs = [run_of('a', 12, 7), run_of('b', 12, 8)]  # 264 new examples
    room = 40
    growth = grow_dataset(base, runs, max_examples=300 + room, spacing=0)
    grown = growth.dataset
    assert len(grown) == 340 and growth.total('added') == room
    assert growth.total('over_bound') == 264 - room and growth.total('duplicates') == 0
    assert growth.total('too_close') == 0
    for name in ('theta', 'goal'):
        np.testing.assert_array_equal(getattr(grown, name)[:300], getattr(base, name))
    # Coverage in the retrieval space: every left-out example is nearer to what was kept
    # than it would be with the first `room` new examples (the order the runs gave).
    index = ExampleIndex(base, 'error')
    everything = grow_dataset(base, runs, max_examples=10_000, spacing=0).dataset
    new = index.features(everything.blocks())[300:]
    kept = index.features(grown.blocks())
    naive = np.vstack([index.features(base.blocks()), new[:room]])
    fps_radius = cKDTree(kept).query(new)[0].max()
    naive_radius = cKDTree(naive).query(new)[0].max()
    assert fps_radius < 0.8 * naive_radius
    # The first pick is the new example farthest from the base.
    farthest = np.argmax(cKDTree(index.features(base.blocks())).query(new)[0])
    assert any(np.array_equal(row, new[farthest]) for row in kept[300:])
    assert growth.runs[0].added + growth.runs[1].added == room
    with pytest.raises(InvalidInput, match='max examples 300 leaves no room'):
        grow_dataset(base, runs, max_examples=300)


def test_new_examples_keep_the_spacing_from_the_examples_kept(base):
    """A crowd of near-copies (a run that converged) is thinned; isolated examples stay."""
    rng = np.random.default_rng(4)
    spread = rng.uniform(TASK.theta_low, TASK.theta_high, (4, 3))
    crowd = spread[0] + rng.normal(0, 0.01, (8, 3)) * (TASK.theta_high - TASK.theta_low)
    theta = np.vstack([spread, crowd])
    run = RunTrials('crowded', theta, outcome_of(theta))
    growth = grow_dataset(base, [run], max_examples=10_000)  # the default spacing
    index = ExampleIndex(base, 'error')
    features = index.features(base.blocks())
    median = np.median(cKDTree(features).query(features, k=2)[0][:, 1])
    assert growth.spacing == pytest.approx(0.5 * median)
    counts = growth.runs[0]
    assert counts.examples == 12 * 11 and counts.duplicates == 0 and counts.over_bound == 0
    assert counts.too_close == counts.examples - counts.added > 0 and counts.added >= 4 * 3
    kept = index.features(growth.dataset.blocks())
    added = kept[300:]
    others = [np.delete(kept, 300 + r, axis=0) for r in range(len(added))]
    least = [
        np.linalg.norm(rest - row, axis=1).min() for row, rest in zip(added, others, strict=True)
    ]
    # Farthest-first: each was at least the spacing from all kept when taken, so from all.
    assert min(least) >= growth.spacing
    assert grow_dataset(base, [run], 10_000, spacing=0).runs[0].added == counts.examples
    with pytest.raises(InvalidInput, match='spacing must be finite and >= 0'):
        grow_dataset(base, [run], 10_000, spacing=-1)


def test_provenance_is_kept_and_each_growth_appended_and_it_round_trips(base, tmp_path):
    once = grow_dataset(base, [run_of('a', 3, 1)], 1000, 0, provenance={'command': 'first'})
    twice = grow_dataset(once.dataset, [run_of('b', 3, 2)], 1000, 0, provenance={'command': 'x'})
    provenance = twice.dataset.provenance
    assert provenance['command'] == base.provenance['command']  # how the base was made
    assert provenance['method'] == 'hindsight relabelling'
    assert [entry['command'] for entry in provenance['grown']] == ['first', 'x']
    entry = provenance['grown'][1]
    assert entry['base_size'] == 306 and entry['max_examples'] == 1000
    assert entry['runs'] == [
        {
            'run': 'b',
            'trials': 3,
            'examples': 6,
            'duplicates': 0,
            'too_close': 0,
            'over_bound': 0,
            'added': 6,
        }
    ]
    assert twice.dataset.sources()[300:] == ('a',) * 6 + ('b',) * 6
    path = twice.dataset.save(tmp_path / 'grown.json')
    back = load_dataset(path)
    assert back.sources() == twice.dataset.sources() and back.provenance == provenance
    np.testing.assert_array_equal(back.theta, twice.dataset.theta)
    assert back.subset(np.array([0, 305, 306])).sources() == (None, 'a', 'b')
    doc = json.loads(path.read_text())
    doc['examples']['source'][3] = 7
    path.write_text(json.dumps(doc))
    with pytest.raises(InvalidInput, match='examples.source: expected a list of 312'):
        load_dataset(path)


def test_runs_too_short_or_of_other_dimensions_are_refused(base):
    with pytest.raises(InvalidInput, match='run one has only one trial'):
        grow_dataset(base, [run_of('one', 1, 1)], 1000)
    bad = RunTrials('wide', np.zeros((3, 4)), np.zeros((3, 2)))
    with pytest.raises(InvalidInput, match='run wide: expected trials of 3 parameters'):
        grow_dataset(base, [bad], 1000)


def test_the_shipped_datasets_and_the_base_are_never_the_output(tmp_path):
    shipped = data_dir() / 'slide-gc.json'
    for out in (shipped, data_dir() / 'slide-gc-grown.json'):
        with pytest.raises(InvalidInput, match='is in the shipped datasets folder'):
            check_grown_path(out, shipped)
    link = tmp_path / 'link.json'
    link.symlink_to(shipped)
    with pytest.raises(InvalidInput, match='shipped datasets folder'):
        check_grown_path(link, shipped)
    mine = tmp_path / 'mine.json'
    mine.write_text('{}')
    with pytest.raises(InvalidInput, match='is the dataset being grown'):
        check_grown_path(tmp_path / '.' / 'mine.json', mine)
    assert check_grown_path(tmp_path / 'new' / 'g.json', mine) == tmp_path / 'new' / 'g.json'


def test_recorded_runs_name_their_task_and_are_refused_empty_or_mixed(tmp_path):
    config = {'task': 'slide-gc', 'improver': 'knn_linear'}
    for run_id, task in (('a', 'slide-gc'), ('b', 'roll-gc')):
        record = RunRecord.create(tmp_path, {**config, 'task': task}, run_id=run_id)
        for i in range(3):
            record.append(
                {'iteration': i, 'cost': 0.1, 'theta': [0.0, 0.1, 0.3], 'outcome': [i, 0]}
            )
    RunRecord.create(tmp_path, config, run_id='empty')
    assert read_run('a', tmp_path).task == 'slide-gc'
    with pytest.raises(InvalidInput, match='run empty has no trials'):  # latest, resolved
        read_run('latest', tmp_path)
    with pytest.raises(InvalidInput, match=r'different tasks \(slide-gc: a; roll-gc: b\)'):
        read_runs(['a', 'b'], tmp_path)
    with pytest.raises(InvalidInput, match=r"not runs of task 'slide-gc': b \(roll-gc\)"):
        read_runs(['a', 'b'], tmp_path, 'slide-gc')
    with pytest.raises(InvalidInput, match='run empty has no trials'):
        read_runs(['a', 'empty'], tmp_path)
    theta, outcome = read_run('a', tmp_path).arrays(TASK)
    assert theta.shape == (3, 3) and outcome[:, 0].tolist() == [0, 1, 2]
    record = RunRecord.create(tmp_path, config, run_id='short')
    record.append({'iteration': 0, 'cost': 0.1, 'theta': [0.0, 0.1], 'outcome': [0, 0]})
    with pytest.raises(InvalidInput, match=r'short iteration 0: theta: expected 3 values'):
        read_run('short', tmp_path).arrays(TASK)
    # An `icpi improve --record` file: the task of each line.
    mixed = tmp_path / 'R.jsonl'
    for i, task in enumerate(('slide-gc', 'roll-gc')):
        append_line(mixed, {'iteration': i, 'cost': 0.1, 'task': task})
    with pytest.raises(InvalidInput, match="iteration 1 is of task 'roll-gc', iteration 0 of"):
        read_run(str(mixed), tmp_path)
