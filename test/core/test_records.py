# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Run records: config snapshot, fsync'd trial lines, resume after a crash, summary and plot."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from icpi_ros.core import records
from icpi_ros.core.records import RunRecord, check_run_id, default_runs_dir, new_run_id
from icpi_ros.core.validation import InvalidInput

CONFIG = {
    'task': 'slide-gc',
    'goal': [0.5, 0.1],
    'theta0': [1.0, 0.0],
    'improver': 'knn_linear',
    'max_iterations': 20,
    'tolerance': 0.01,
    'seed': 3,
}
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def trial(i: int, cost: float, **extra) -> dict:
    return {'iteration': i, 'cost': cost, 'theta': [float(i), -float(i)], **extra}


def fill(record: RunRecord, costs: list[float]) -> None:
    for i, cost in enumerate(costs):
        record.append(trial(i, cost))


def test_create_writes_config_snapshot_and_empty_trials(tmp_path):
    record = RunRecord.create(tmp_path / 'runs', CONFIG)
    assert re.fullmatch(r'\d{8}-\d{6}-slide-gc-[0-9a-f]{4}', record.run_id)
    assert record.path == tmp_path / 'runs' / record.run_id
    on_disk = json.loads((record.path / 'config.json').read_text())
    assert on_disk == record.config
    assert on_disk['run_id'] == record.run_id and on_disk['created']
    assert {k: on_disk[k] for k in CONFIG} == CONFIG
    assert (record.path / 'trials.jsonl').read_bytes() == b''
    assert record.next_iteration() == 0 and record.trials() == []
    assert not list(record.path.glob('.*'))  # no temporary files left behind


def test_round_trip_create_append_summary(tmp_path):
    record = RunRecord.create(tmp_path, CONFIG, run_id='run-1')
    costs = [0.4, 0.05, 0.2, 0.05]
    for i, cost in enumerate(costs):
        record.append(trial(i, cost, outcome=np.array([0.1, 0.2]), prompt='line 1\nline 2'))
        assert record.next_iteration() == i + 1
    lines = (record.path / 'trials.jsonl').read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(line) for line in lines)
    got = record.trials()
    assert [t['cost'] for t in got] == costs
    assert got[0]['outcome'] == [0.1, 0.2] and got[0]['prompt'] == 'line 1\nline 2'

    summary = record.write_summary('succeeded', 'reached the tolerance')
    assert json.loads((record.path / 'summary.json').read_text()) == summary
    assert summary['run_id'] == 'run-1'
    assert summary['task'] == 'slide-gc' and summary['improver'] == 'knn_linear'
    assert summary['status'] == 'succeeded' and summary['message'] == 'reached the tolerance'
    assert summary['costs'] == costs and summary['iterations'] == 4
    assert summary['final_cost'] == 0.05  # the last trial
    assert summary['best_cost'] == 0.05 and summary['best_iteration'] == 1  # first of the ties
    assert summary['best_theta'] == [1.0, -1.0]
    assert (record.path / 'costs.png').read_bytes()[:8] == PNG_MAGIC


def test_append_without_waiting_keeps_order_and_the_summary_waits(tmp_path, monkeypatch):
    from icpi_ros.core import files

    record = RunRecord.create(tmp_path, CONFIG, run_id='run-2')
    synced = []
    real_fsync = files.os.fsync
    monkeypatch.setattr(files.os, 'fsync', lambda fd: (real_fsync(fd), synced.append(fd)))
    for i, cost in enumerate([0.3, 0.2, 0.1]):
        record.append(trial(i, cost), wait=False)
        # The line is in the file at once; the one before is on disk by now.
        assert len((record.path / 'trials.jsonl').read_text().splitlines()) == i + 1
        assert len(synced) >= i
    summary = record.write_summary('succeeded')
    assert summary['costs'] == [0.3, 0.2, 0.1] and len(synced) >= 3


def test_summary_best_theta_is_that_of_the_lowest_cost(tmp_path):
    record = RunRecord.create(tmp_path, CONFIG)
    fill(record, [3.0, 2.0, 0.5, 1.0, 4.0])
    summary = record.write_summary('failed', 'ran out of iterations')
    assert summary['final_cost'] == 4.0 and summary['best_cost'] == 0.5
    assert summary['best_theta'] == [2.0, -2.0]


def test_summary_without_trials_has_no_plot(tmp_path):
    record = RunRecord.create(tmp_path, CONFIG)
    summary = record.write_summary('running')
    assert summary['iterations'] == 0 and summary['costs'] == []
    assert summary['final_cost'] is None and summary['best_theta'] is None
    assert summary['message'] == ''
    assert (record.path / 'summary.json').exists()
    assert not (record.path / 'costs.png').exists()
    with pytest.raises(InvalidInput, match='status'):
        record.write_summary('')


def test_plot_with_zero_cost_and_is_replaced(tmp_path):
    record = RunRecord.create(tmp_path, CONFIG)
    fill(record, [0.3, 0.0])  # not all positive: linear y axis
    record.write_summary('running')
    first = (record.path / 'costs.png').read_bytes()
    record.append(trial(2, 0.1))
    record.write_summary('canceled')
    second = (record.path / 'costs.png').read_bytes()
    assert first[:8] == second[:8] == PNG_MAGIC and first != second
    assert not list(record.path.glob('.*'))


def test_fresh_open_reads_the_fsynced_lines(tmp_path):
    record = RunRecord.create(tmp_path, CONFIG)
    fill(record, [1.0, 0.5])
    again = RunRecord.open(tmp_path, record.run_id)
    assert again.run_id == record.run_id and again.config == record.config
    assert again.path == record.path
    assert again.trials() == record.trials()
    assert again.next_iteration() == 2
    again.append(trial(2, 0.25))
    assert [t['cost'] for t in RunRecord.open(tmp_path, record.run_id).trials()] == [
        1.0,
        0.5,
        0.25,
    ]


@pytest.mark.parametrize('iteration', [0, 1, 3, -1])
def test_repeated_or_skipped_iteration_is_rejected(tmp_path, iteration):
    record = RunRecord.create(tmp_path, CONFIG)
    fill(record, [1.0, 0.5])
    before = (record.path / 'trials.jsonl').read_bytes()
    with pytest.raises(InvalidInput, match='the next one is 2'):
        record.append(trial(iteration, 0.1))
    assert (record.path / 'trials.jsonl').read_bytes() == before
    assert record.next_iteration() == 2


@pytest.mark.parametrize(
    ('bad', 'match'),
    [
        ({'cost': 1.0}, 'iteration must be an integer'),
        ({'iteration': True, 'cost': 1.0}, 'iteration must be an integer'),
        ({'iteration': 0}, 'cost must be a finite number'),
        ({'iteration': 0, 'cost': float('nan')}, 'cost must be a finite number'),
        ({'iteration': 0, 'cost': float('inf')}, 'cost must be a finite number'),
        ({'iteration': 0, 'cost': '1.0'}, 'cost must be a finite number'),
        ({'iteration': 0, 'cost': 1.0, 'outcome': object()}, 'not JSON-friendly'),
        ({'iteration': 0, 'cost': 1.0, 'outcome': [float('nan')]}, 'not JSON-friendly'),
    ],
)
def test_bad_trials_are_rejected_and_nothing_is_written(tmp_path, bad, match):
    record = RunRecord.create(tmp_path, CONFIG)
    with pytest.raises(InvalidInput, match=match):
        record.append(bad)
    assert (record.path / 'trials.jsonl').read_bytes() == b''
    assert record.next_iteration() == 0


def test_numpy_numbers_are_stored_as_plain_json(tmp_path):
    record = RunRecord.create(tmp_path, CONFIG)
    record.append({'iteration': np.int64(0), 'cost': np.float32(0.5), 'theta': np.zeros(2)})
    assert record.trials() == [{'iteration': 0, 'cost': 0.5, 'theta': [0.0, 0.0]}]


@pytest.mark.parametrize(
    'torn', [b'{"iteration": 2, "co', b'{"iteration": 2, "cost": 0.', b'\x00' * 9]
)
def test_truncated_last_line_is_dropped_and_appending_continues(tmp_path, torn):
    record = RunRecord.create(tmp_path, CONFIG)
    fill(record, [1.0, 0.5])
    path = record.path / 'trials.jsonl'
    good = path.read_bytes()
    with path.open('ab') as f:  # a crash in the middle of the third append
        f.write(torn)
    resumed = RunRecord.open(tmp_path, record.run_id)
    assert [t['cost'] for t in resumed.trials()] == [1.0, 0.5]
    assert path.read_bytes() == good  # cut back to the last complete line
    assert resumed.next_iteration() == 2
    resumed.append(trial(2, 0.25))
    assert [t['iteration'] for t in RunRecord.open(tmp_path, record.run_id).trials()] == [0, 1, 2]


def test_garbage_last_line_with_newline_is_dropped(tmp_path):
    record = RunRecord.create(tmp_path, CONFIG)
    fill(record, [1.0])
    path = record.path / 'trials.jsonl'
    good = path.read_bytes()
    with path.open('ab') as f:  # file size extended, data never written (power loss)
        f.write(b'\x00' * 20 + b'\n')
    assert [t['cost'] for t in record.trials()] == [1.0]
    assert path.read_bytes() == good and record.next_iteration() == 1


def test_complete_last_line_without_newline_is_kept(tmp_path):
    record = RunRecord.create(tmp_path, CONFIG)
    fill(record, [1.0])
    path = record.path / 'trials.jsonl'
    with path.open('ab') as f:  # killed between the line and its newline: the trial happened
        f.write(json.dumps(trial(1, 0.5)).encode())
    resumed = RunRecord.open(tmp_path, record.run_id)
    assert resumed.next_iteration() == 2
    assert path.read_bytes().endswith(b'}\n')
    resumed.append(trial(2, 0.25))
    assert [t['cost'] for t in resumed.trials()] == [1.0, 0.5, 0.25]


def test_corrupt_middle_line_is_an_error_naming_file_and_line(tmp_path):
    record = RunRecord.create(tmp_path, CONFIG)
    fill(record, [1.0, 0.5, 0.25])
    path = record.path / 'trials.jsonl'
    lines = path.read_bytes().split(b'\n')
    lines[1] = lines[1][:10]
    path.write_bytes(b'\n'.join(lines))
    before = path.read_bytes()
    with pytest.raises(InvalidInput, match=rf'{re.escape(str(path))} line 2 is not valid JSON'):
        RunRecord.open(tmp_path, record.run_id)
    with pytest.raises(InvalidInput, match='line 2'):
        record.trials()
    assert path.read_bytes() == before  # nothing is dropped when it is not the last line


def test_valid_json_with_a_wrong_iteration_is_an_error(tmp_path):
    record = RunRecord.create(tmp_path, CONFIG)
    fill(record, [1.0])
    path = record.path / 'trials.jsonl'
    with path.open('ab') as f:
        f.write(json.dumps(trial(5, 0.5)).encode() + b'\n')
    with pytest.raises(InvalidInput, match='line 2: iteration 5 skips a trial'):
        RunRecord.open(tmp_path, record.run_id)


def test_failed_write_leaves_no_partial_line(tmp_path, monkeypatch):
    record = RunRecord.create(tmp_path, CONFIG)
    fill(record, [1.0])
    path = record.path / 'trials.jsonl'
    good = path.read_bytes()

    def broken_fsync(fd):
        raise OSError(5, 'Input/output error')

    with monkeypatch.context() as m:
        m.setattr(records.os, 'fsync', broken_fsync)
        with pytest.raises(OSError):
            record.append(trial(1, 0.5))
    assert path.read_bytes() == good and record.next_iteration() == 1
    record.append(trial(1, 0.5))
    assert [t['iteration'] for t in record.trials()] == [0, 1]


@pytest.mark.parametrize('run_id', ['../x', 'a/b', '', '.', '..', '.hidden', 'latest', 'a b', 'é'])
def test_invalid_run_ids_are_rejected(tmp_path, run_id):
    with pytest.raises(InvalidInput, match='run id'):
        RunRecord.create(tmp_path, CONFIG, run_id=run_id)
    with pytest.raises(InvalidInput, match='run id'):
        check_run_id(run_id)
    assert not (tmp_path / 'x').exists()
    if run_id != 'latest':
        with pytest.raises(InvalidInput, match='run id'):
            RunRecord.open(tmp_path, run_id)


def test_generated_ids_are_safe_folder_names():
    for task in ('slide-gc', '../../etc', 'a/b c', '', '..'):
        run_id = new_run_id(task)
        assert check_run_id(run_id) == run_id
    assert new_run_id('../../etc').split('-')[2] == 'etc'


def test_existing_run_id_is_not_overwritten(tmp_path):
    RunRecord.create(tmp_path, CONFIG, run_id='same')
    with pytest.raises(InvalidInput, match='already exists'):
        RunRecord.create(tmp_path, {'task': 'other'}, run_id='same')
    assert RunRecord.open(tmp_path, 'same').config['task'] == 'slide-gc'


def test_config_must_be_json_friendly(tmp_path):
    with pytest.raises(InvalidInput, match='run config'):
        RunRecord.create(tmp_path, {'task': 't', 'bad': object()}, run_id='r')
    with pytest.raises(InvalidInput, match='run config'):
        RunRecord.create(tmp_path, ['not', 'a', 'mapping'])  # type: ignore[arg-type]
    assert not (tmp_path / 'r').exists()


def test_latest_points_to_the_newest_run_and_is_replaced(tmp_path):
    first = RunRecord.create(tmp_path, CONFIG, run_id='first')
    latest = tmp_path / 'latest'
    assert latest.is_symlink() and os.readlink(latest) == 'first'  # relative target
    assert latest.resolve() == first.path.resolve()
    second = RunRecord.create(tmp_path, CONFIG, run_id='second')
    assert os.readlink(latest) == 'second' and latest.resolve() == second.path.resolve()
    assert RunRecord.open(tmp_path, 'latest').run_id == 'second'
    RunRecord.open(tmp_path, 'first')  # resuming does not move the link
    assert os.readlink(latest) == 'second'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['first', 'latest', 'second']


def test_open_missing_or_corrupt_run_names_the_path(tmp_path):
    with pytest.raises(InvalidInput, match=re.escape(str(tmp_path / 'nope'))):
        RunRecord.open(tmp_path, 'nope')
    with pytest.raises(InvalidInput, match='no latest run'):
        RunRecord.open(tmp_path, 'latest')
    record = RunRecord.create(tmp_path, CONFIG, run_id='r')
    config = record.path / 'config.json'
    config.write_text('{"task": ')
    with pytest.raises(InvalidInput, match=re.escape(str(config))):
        RunRecord.open(tmp_path, 'r')
    config.write_text('[1, 2]')
    with pytest.raises(InvalidInput, match='expected a JSON object'):
        RunRecord.open(tmp_path, 'r')
    config.unlink()
    with pytest.raises(InvalidInput, match='has no config.json'):
        RunRecord.open(tmp_path, 'r')
    RunRecord.create(tmp_path, CONFIG, run_id='s')
    (tmp_path / 's' / 'trials.jsonl').unlink()
    with pytest.raises(InvalidInput, match='has no trials.jsonl'):
        RunRecord.open(tmp_path, 's')


def test_default_runs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv('ICPI_RUNS_DIR', str(tmp_path / 'elsewhere'))
    assert default_runs_dir() == tmp_path / 'elsewhere'
    monkeypatch.delenv('ICPI_RUNS_DIR')
    monkeypatch.chdir(tmp_path)
    assert default_runs_dir() == tmp_path / 'runs'


def test_importing_records_does_not_import_matplotlib():
    code = 'import sys, icpi_ros.core.records; print("matplotlib" in sys.modules)'
    done = subprocess.run(
        [sys.executable, '-c', code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == 'False'


def test_failed_trials_are_kept_apart_and_summarised(tmp_path):
    record = RunRecord.create(tmp_path, CONFIG)
    fill(record, [0.3])
    record.append_failed({'iteration': 1, 'trial_id': 'x-1', 'status': 'ABORTED', 'message': 'm'})
    with open(record.path / records.FAILED_FILE, 'ab') as f:
        f.write(b'{"iteration": 2, "tri')  # torn by a crash
    assert len(record.trials()) == 1 and record.next_iteration() == 1  # not in the history
    summary = record.write_summary('failed', 'aborted')
    assert summary['failed_trials'] == [
        {'iteration': 1, 'trial_id': 'x-1', 'status': 'ABORTED', 'message': 'm'}
    ]


def test_dataset_from_recorded_runs_relabels_their_trials(tmp_path):
    """`icpi dataset from-runs`: a real robot's random trials become a dataset."""
    from icpi_ros.cli import main
    from icpi_ros.core.dataset import load_dataset

    rng = np.random.default_rng(0)
    runs = tmp_path / 'runs'
    for run_id in ('a', 'b'):
        record = RunRecord.create(runs, {**CONFIG, 'task': 'roll-gc-real'}, run_id=run_id)
        for i in range(15):
            theta = rng.uniform([-0.35, 0.05, 0.2], [0.35, 0.15, 0.5])
            outcome = [0.6 + 3 * theta[1], 0.5 * theta[0]]  # inside the goal range
            record.append({'iteration': i, 'cost': 0.1, 'theta': theta, 'outcome': outcome})
    out = tmp_path / 'real.json'
    argv = ['dataset', 'from-runs', 'a', 'b', '--task', 'roll-gc-real', '--runs-dir', str(runs)]
    assert main([*argv, '--max-examples', '100', '--out', str(out)]) == 0
    dataset = load_dataset(out)
    assert dataset.task == 'roll-gc-real' and len(dataset) == 100
    # Every relabelled goal is the outcome of a recorded trial, reached by theta + delta.
    reached = dataset.theta + dataset.delta_theta
    goals = np.column_stack([0.6 + 3 * reached[:, 1], 0.5 * reached[:, 0]])
    np.testing.assert_allclose(dataset.goal, goals, atol=1e-9)
    assert main([*argv, '--task', 'roll-gc', '--out', str(out)]) == 2  # wrong task: refused
