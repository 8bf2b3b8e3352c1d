# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""`icpi dataset grow` end to end on run folders written as the improvement loop writes them."""

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from icpi_ros.cli import main
from icpi_ros.core.dataset import load_dataset
from icpi_ros.core.improvers import ImproverContext, make_improver
from icpi_ros.core.loop import draw_goal, improve
from icpi_ros.core.paths import data_dir
from icpi_ros.core.records import RunRecord
from icpi_ros.core.retrieval import ExampleLibrary
from icpi_ros.core.run_lines import ExecutedTrial, trial_line
from icpi_ros.core.sim.simulator import TrialRunner
from icpi_ros.core.tasks import load_tasks

TASKS = load_tasks()


def record_run(runs: Path, task_name: str, seed: int, iterations: int, improver: str) -> str:
    """Run the core loop on the sim and record each trial as the improvement_loop node does.

    The node's ImproveRun appends `trial_line(executed trial, iteration, timing)` to a
    RunRecord created from its run config; here the executed trial is the sim's own.
    """
    task = TASKS[task_name]
    goal = draw_goal(task, seed)
    config = {
        'task': task.name,
        'goal': goal.tolist(),
        'theta0': task.theta_middle().tolist(),
        'max_iterations': iterations,
        'tolerance': 0.0,
        'improver': improver,
        'seed': seed,
    }
    record = RunRecord.create(runs, config)
    context = ImproverContext(seed=seed, examples=ExampleLibrary())
    runner = TrialRunner(task)
    sims = []

    def trial(theta: np.ndarray) -> np.ndarray:
        sims.append(runner.run(theta, goal))
        return sims[-1].outcome

    def on_iteration(it) -> None:
        executed = ExecutedTrial.from_sim(sims[it.iteration], f'{record.run_id}-{it.iteration}')
        record.append(trial_line(executed, it, {'trial_s': it.trial_s}))

    try:
        improve(
            task,
            trial,
            goal,
            task.theta_middle(),
            make_improver(improver, context),
            iterations,
            on_iteration=on_iteration,
        )
    finally:
        runner.close()
    record.write_summary('succeeded')
    return record.run_id


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp('runs')
    slide = [record_run(root, 'slide-gc', seed, 6, 'random_shooting') for seed in (1, 2)]
    roll = record_run(root, 'roll-gc', 3, 3, 'knn_linear')
    return root, slide, roll


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_grow_writes_a_new_dataset_the_improve_command_and_planner_folder_can_use(runs, capsys):
    root, (a, b), _ = runs
    shipped = data_dir() / 'slide-gc.json'
    before = _sha(shipped)
    assert main(['dataset', 'grow', a, b, '--runs-dir', str(root)]) == 0
    out = capsys.readouterr().out
    path = Path(out.split(':', 1)[0])
    # The default: a folder of its own under the runs folder, the file named as the task.
    assert path.parent.parent == root / 'datasets' and path.name == 'slide-gc.json'
    assert re.fullmatch(r'\d{8}-\d{6}-slide-gc-grown-[0-9a-f]{4}', path.parent.name)
    grown = load_dataset(path)
    assert _sha(shipped) == before  # the shipped file is untouched
    entry = grown.provenance['grown'][-1]
    added = sum(run['added'] for run in entry['runs'])
    assert len(grown) == 300 + added and added > 0
    assert [run['run'] for run in entry['runs']] == [a, b]
    assert [run['trials'] for run in entry['runs']] == [6, 6]
    assert all(run['examples'] == 30 for run in entry['runs'])
    assert entry['command'].startswith(f'icpi dataset grow {a} {b} --task slide-gc')
    assert entry['commit'] is None or re.match(r'[0-9a-f]{40}', entry['commit'])
    assert f'{added} added from 2 run(s) (60 hindsight examples of 12 trials' in out
    assert grown.sources()[300:].count(a) == entry['runs'][0]['added']
    # Every added example is two of the recorded trials: theta_i, and theta_j = theta_i + delta.
    trials = [line for run in (a, b) for line in RunRecord.open(root, run).trials()]
    thetas = {tuple(np.round(t['theta'], 12)) for t in trials}
    for theta, delta in zip(grown.theta[300:], grown.delta_theta[300:], strict=True):
        assert tuple(np.round(theta, 12)) in thetas
        assert tuple(np.round(theta + delta, 12)) in thetas
    # Usable: `icpi improve --dataset` runs on it, and the printed planner folder holds it.
    assert f'icpi improve --task slide-gc --dataset {path}' in out
    assert f'datasets_dir:={path.parent}' in out
    argv = ['improve', '--task', 'slide-gc', '--improver', 'knn_linear', '--iterations', '2']
    assert main([*argv, '--dataset', str(path)]) == 0
    assert ExampleLibrary(path.parent).index(TASKS['slide-gc']).dataset.sources() == (
        grown.sources()
    )


def test_growing_again_with_the_same_run_adds_nothing(runs, tmp_path, capsys):
    root, (a, _), _ = runs
    argv = ['dataset', 'grow', a, '--runs-dir', str(root)]
    for spacing in ('0', '0.5'):
        first, again = tmp_path / f'once-{spacing}.json', tmp_path / f'twice-{spacing}.json'
        assert main([*argv, '--spacing', spacing, '--out', str(first)]) == 0
        added = len(load_dataset(first)) - 300
        capsys.readouterr()
        assert (
            main([*argv, '--dataset', str(first), '--spacing', spacing, '--out', str(again)]) == 2
        )
        err = capsys.readouterr().err
        assert not again.exists()
        if spacing == '0':  # every example was added: all duplicates now
            assert added == 30 and 'nothing to add: all 30 hindsight examples' in err
        else:  # those not added the first time are still too close
            assert added < 30 and 'nothing to add: of the 30 hindsight examples' in err
            assert f'{added} are duplicates and {30 - added} nearer than the spacing' in err
    assert main([*argv, '--dataset', str(first), '--out', str(first)]) == 2
    assert 'is the dataset being grown' in capsys.readouterr().err


def test_a_bound_keeps_the_shipped_examples_and_says_what_it_left_out(runs, tmp_path, capsys):
    root, (a, b), _ = runs
    out = tmp_path / 'small.json'
    argv = ['dataset', 'grow', a, b, '--runs-dir', str(root), '--max-examples', '310']
    assert main([*argv, '--spacing', '0', '--out', str(out)]) == 0
    text = capsys.readouterr().out
    grown, shipped = load_dataset(out), load_dataset(data_dir() / 'slide-gc.json')
    assert len(grown) == 310
    np.testing.assert_array_equal(grown.theta[:300], shipped.theta)
    over = sum(run['over_bound'] for run in grown.provenance['grown'][-1]['runs'])
    assert over == 50 and '0 too close' in text and f'{over} over --max-examples 310' in text
    # The default spacing: the examples too close to those kept are left out, and said so.
    assert main(['dataset', 'grow', a, b, '--runs-dir', str(root), '--out', str(out)]) == 0
    text = capsys.readouterr().out
    entry = load_dataset(out).provenance['grown'][-1]
    close = sum(run['too_close'] for run in entry['runs'])
    assert entry['spacing'] == 0.5 and f'{close} too close to the examples kept' in text


def test_refusals_shipped_file_mixed_tasks_empty_run(runs, tmp_path, capsys):
    root, (a, _), roll = runs
    shipped = data_dir() / 'slide-gc.json'
    before = _sha(shipped)
    argv = ['dataset', 'grow', a, '--runs-dir', str(root)]
    assert main([*argv, '--out', str(shipped)]) == 2
    err = capsys.readouterr().err
    assert 'is in the shipped datasets folder' in err and 'give another --out' in err
    assert _sha(shipped) == before
    assert main(['dataset', 'grow', a, roll, '--runs-dir', str(root)]) == 2
    err = capsys.readouterr().err
    assert f'different tasks (slide-gc: {a}; roll-gc: {roll})' in err
    assert main([*argv, '--task', 'roll-gc']) == 2
    assert f"not runs of task 'roll-gc': {a} (slide-gc)" in capsys.readouterr().err
    RunRecord.create(tmp_path, {'task': 'slide-gc'}, run_id='empty')
    assert main(['dataset', 'grow', 'empty', '--runs-dir', str(tmp_path)]) == 2
    assert 'run empty has no trials' in capsys.readouterr().err
    assert main(['dataset', 'grow', 'nope', '--runs-dir', str(tmp_path)]) == 2
    assert 'no run' in capsys.readouterr().err
    assert not (tmp_path / 'datasets').exists()  # nothing written
