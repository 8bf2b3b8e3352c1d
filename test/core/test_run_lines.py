# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""One run-line format (core/run_lines.py): the graph's trials.jsonl, `icpi improve --record`."""

import json

import numpy as np
import pytest

from icpi_ros.cli import main
from icpi_ros.core.dataset import load_dataset
from icpi_ros.core.loop import FailedStep, Iteration, LoopResult
from icpi_ros.core.records import RunRecord
from icpi_ros.core.run_lines import (
    ExecutedTrial,
    ObjectPath,
    failed_trial_line,
    iteration_line,
    read_run_file,
    summarise,
    trial_line,
    trial_timing,
)
from icpi_ros.core.validation import InvalidInput

LINE_KEYS = [
    'iteration',
    'trial_id',
    'task',
    'theta_requested',
    'theta',
    'goal',
    'outcome',
    'error',
    'cost',
    'status_message',
    'start_s',
    'end_s',
    'timing',
    'trajectory',
    'improver',
    'planner',
]


def test_a_graph_trial_becomes_the_same_line_as_before():
    """The node's TrialResult through the core: the line the node wrote itself, plus `task`."""
    from geometry_msgs.msg import Point
    from icpi_interfaces.msg import ObjectTrajectory, TrialResult

    from icpi_ros.nodes.conversions import executed_trial, to_time

    msg = TrialResult(
        trial_id='run-3',
        task='slide-gc',
        theta_requested=[0.1, 0.2, 0.3],
        theta=[0.1, 0.2, 0.25],
        goal=[0.9, 0.0],
        outcome=[0.88, 0.01],
        error=[-0.02, 0.01],
        cost=0.0223606797749979,
        status_message='ok',
        start_stamp=to_time(12.5),
        end_stamp=to_time(15.25),
        wall_time_s=3.123456,
        reset_wall_s=0.2,
        window_wall_s=2.75,
        tracker_wall_s=0.1,
        trajectory=ObjectTrajectory(
            stamps=[to_time(12.5), to_time(12.533333)],
            points=[Point(x=0.5, y=0.0, z=0.02), Point(x=0.5123456, y=0.001, z=0.02)],
            valid=[True, False],
            coverage=0.5,
        ),
    )
    it = Iteration(3, np.array([0.1, 0.2, 0.25]), np.array([0.88, 0.01]), 0.02236, None, 'llm')
    it.details = {'prompt': 'p', 'repairs': 0}
    trial = executed_trial(msg)
    timing = trial_timing(trial, 4.0, (0.5, 0.4))
    assert timing == {
        'cycle_s': 4.0,
        'trial_s': 3.12346,
        'reset_s': 0.2,
        'window_s': 2.75,
        'tracker_s': 0.1,
        'planner_call_s': 0.5,
        'planner_compute_s': 0.4,
        'overhead_s': 0.75,
    }
    line = trial_line(trial, it, timing)
    assert list(line) == LINE_KEYS
    assert line == {
        'iteration': 3,
        'trial_id': 'run-3',
        'task': 'slide-gc',
        'theta_requested': [0.1, 0.2, 0.3],
        'theta': [0.1, 0.2, 0.25],
        'goal': [0.9, 0.0],
        'outcome': [0.88, 0.01],
        'error': [-0.02, 0.01],
        'cost': 0.0223606797749979,
        'status_message': 'ok',
        'start_s': 12.5,
        'end_s': 15.25,
        'timing': timing,
        'trajectory': {
            'stamps': [12.5, 12.5333],
            'points': [[0.5, 0.0, 0.02], [0.51235, 0.001, 0.02]],
            'valid': [True, False],
            'coverage': 0.5,
        },
        'improver': 'llm',
        'planner': {'prompt': 'p', 'repairs': 0},
    }
    assert iteration_line(trial, 3, 'llm') == (
        '3: run-3 theta [0.1000, 0.2000, 0.2500] outcome [0.8800, 0.0100] cost 0.02236 OK by llm'
    )
    msg.status, msg.status_message = 5, 'aborted by the operator'  # ExecuteTrial ABORTED
    aborted = executed_trial(msg)
    assert failed_trial_line(aborted, 4) == {
        'iteration': 4,
        'trial_id': 'run-3',
        'status': 'ABORTED',
        'message': 'aborted by the operator',
        'theta_requested': [0.1, 0.2, 0.3],
        'theta': [0.1, 0.2, 0.25],
        'goal': [0.9, 0.0],
        'trial_s': 3.1235,
    }
    assert iteration_line(aborted, 4, '').endswith('cost 0.02236 ABORTED')


def _improve(record, improver: str, *extra: str) -> int:
    argv = ['improve', '--task', 'slide-gc', '--improver', improver, '--seed', '2']
    return main([*argv, '--iterations', '4', '--json', '--record', str(record), *extra])


def test_a_file_written_by_icpi_improve_record_is_read_by_icpi_dataset_from_runs(tmp_path, capsys):
    record = tmp_path / 'R.jsonl'
    assert _improve(record, 'knn_linear') == 0
    summary = json.loads(capsys.readouterr().out)
    lines = [json.loads(raw) for raw in record.read_text().splitlines()]
    assert [line['iteration'] for line in lines] == [0, 1, 2, 3]
    for line in lines:
        assert list(line) == [*LINE_KEYS, 'theta_next']  # the graph's line, and theta_next
        assert line['task'] == 'slide-gc' and line['goal'] == summary['goal']
        assert line['trial_id'].endswith(f'-{line["iteration"]}')
        assert set(line['timing']) == {'trial_s', 'plan_s'} and line['timing']['trial_s'] > 0
        path = line['trajectory']
        assert len(path['stamps']) == len(path['points']) == len(path['valid']) > 10
        assert path['coverage'] == 1.0 and all(path['valid'])  # ground truth
        assert line['trajectory']['points'][-1][:2] == pytest.approx(line['outcome'], abs=1e-5)
    assert lines[0]['improver'] == '' and lines[0]['planner'] == {}  # theta0
    assert all(line['improver'] == 'knn_linear' and line['planner'] for line in lines[1:])
    assert [line['theta_next'] for line in lines[:-1]] == [line['theta'] for line in lines[1:]]
    assert lines[-1]['theta_next'] is None
    assert [line['cost'] for line in lines] == summary['costs']

    out = tmp_path / 'from-record.json'
    argv = ['dataset', 'from-runs', str(record), '--task', 'slide-gc', '--max-examples', '6']
    assert main([*argv, '--out', str(out)]) == 0
    assert 'from 4 recorded trials' in capsys.readouterr().out
    dataset = load_dataset(out)
    assert dataset.task == 'slide-gc' and len(dataset) == 6
    thetas = {tuple(line['theta']) for line in lines}
    assert {tuple(theta) for theta in dataset.theta} <= thetas  # pairs of the recorded trials
    assert dataset.provenance['rollouts'] == 4 and dataset.provenance['runs'] == [str(record)]
    # The same file is the trials.jsonl of a run record: RunRecord reads it as it is.
    run = RunRecord.create(tmp_path / 'runs', {'task': 'slide-gc', 'improver': 'knn_linear'})
    run.trials_path.write_bytes(record.read_bytes())
    assert [t['theta'] for t in RunRecord.open(tmp_path / 'runs', run.run_id).trials()] == [
        line['theta'] for line in lines
    ]
    wrong = ['dataset', 'from-runs', str(record), '--task', 'roll-gc', '--out', str(out)]
    assert main(wrong) == 2
    assert "not runs of task 'roll-gc'" in capsys.readouterr().err


def test_the_record_of_an_llm_run_keeps_every_exchange_and_the_failed_step(
    tmp_path, monkeypatch, capsys
):
    """What `--record` showed before stays: the details (exchanges), improver, failed step."""
    from openai_loopback import LoopbackLLM

    monkeypatch.setenv('OPENAI_API_KEY', 'sk-test')
    record = tmp_path / 'R.jsonl'
    with LoopbackLLM() as llm:
        llm.script.extend(['answer', 'text:no idea', 'text:no idea', 'text:no idea'])
        llm_args = ['--llm-base-url', llm.base_url, '--llm-model', 'loopback-model']
        assert _improve(record, 'llm', '--fallback', 'none', *llm_args) == 4
    assert 'run failed' in capsys.readouterr().err
    trials, failed = read_run_file(record)
    assert [t['improver'] for t in trials] == ['', 'llm']
    assert trials[1]['planner']['exchanges'][0]['model'] == 'loopback-model'
    assert trials[1]['theta_next'] is None  # nobody answered the step after it
    assert len(failed) == 1 and failed[0]['iteration'] == 1
    assert len(failed[0]['details']['exchanges']) == 3
    assert all(e['refused'] for e in failed[0]['details']['exchanges'])


def test_a_failed_step_is_a_planner_failed_line_apart_from_the_trials(tmp_path):
    record = tmp_path / 'R.jsonl'
    record.write_text('')
    trial = ExecutedTrial('r-0', 'slide-gc', [0.0, 0.1, 0.3], [0.0, 0.1, 0.3], [0.9, 0.0],
                          [0.8, 0.0], [-0.1, 0.0], 0.1)  # fmt: skip
    it = Iteration(0, np.array([0.0, 0.1, 0.3]), np.array([0.8, 0.0]), 0.1)
    line = trial_line(trial, it)
    step = FailedStep(0, 'rejected 3 times', {'exchanges': [{'refused': 'prose'}]}).as_dict()
    record.write_text(json.dumps(line) + '\n' + json.dumps(step) + '\n{"iteration": 1, "co')
    trials, failed = read_run_file(record)  # the torn last line is left out, the file kept
    assert [t['trial_id'] for t in trials] == ['r-0'] and failed == [step]
    assert record.read_text().endswith('"co')


def test_a_corrupt_record_file_is_refused_naming_the_line(tmp_path):
    record = tmp_path / 'R.jsonl'
    record.write_text('{"iteration": 0, "cost": 0.1}\nnot json\n{"iteration": 1, "cost": 0.2}\n')
    with pytest.raises(InvalidInput, match=r'R.jsonl line 2 is not valid JSON'):
        read_run_file(record)
    record.write_text('{"iteration": 0, "cost": 0.1}\n{"iteration": 2, "cost": 0.2}\n')
    with pytest.raises(InvalidInput, match=r'line 2: iteration 2 skips a trial'):
        read_run_file(record)
    with pytest.raises(InvalidInput, match='cannot read'):
        read_run_file(tmp_path / 'missing.jsonl')


def test_the_loop_summary_and_the_record_summary_are_one_summary(tmp_path):
    goal = np.array([0.9, 0.0])
    iterations = [
        Iteration(0, np.array([0.0, 0.1, 0.3]), np.array([0.7, 0.0]), 0.2),
        Iteration(1, np.array([0.0, 0.12, 0.3]), np.array([0.85, 0.0]), 0.05, None, 'llm',
                  {'repairs': 1}),
        Iteration(2, np.array([0.0, 0.13, 0.3]), np.array([0.95, 0.0]), 0.05, None,
                  'knn_linear', {'failed': {'improver': 'llm'}}),
    ]  # fmt: skip
    result = LoopResult('slide-gc', goal, iterations, FailedStep(2, 'nobody answered'))
    from_loop = result.summary('llm')
    config = {'task': 'slide-gc', 'improver': 'llm', 'goal': goal.tolist(), 'max_iterations': 9}
    run = RunRecord.create(tmp_path, config, run_id='r')
    for it in iterations:
        run.append(
            {'iteration': it.iteration, 'cost': it.cost, 'theta': it.theta,
             'improver': it.improver, 'planner': it.details}
        )  # fmt: skip
    run.append_failed_step(result.failed_step.as_dict())
    from_record = run.write_summary(result.status, 'nobody answered')
    assert from_loop == {k: v for k, v in from_record.items() if k in from_loop}
    assert set(from_record) - set(from_loop) == {
        'run_id',
        'created',
        'updated',
        'max_iterations',
        'failed_trials',
    }
    assert from_loop['best_iteration'] == 1 and from_loop['best_theta'] == [0.0, 0.12, 0.3]
    counts = ('steps', 'llm_steps', 'repaired_steps', 'fallback_steps', 'failed_steps')
    assert [from_loop[k] for k in counts] == [2, 1, 1, 1, 1]
    assert from_loop == summarise(config, run.trials(), 'failed', 'nobody answered', 1)


def test_a_sim_trial_as_an_executed_trial():
    from icpi_ros.core.sim.simulator import run_trial
    from icpi_ros.core.tasks import load_tasks

    task = load_tasks()['slide-gc']
    sim = run_trial(task, task.theta_middle(), np.array([0.9, 0.0]))
    trial = ExecutedTrial.from_sim(sim, 'x-0')
    assert (trial.task, trial.trial_id, trial.cost) == ('slide-gc', 'x-0', sim.cost)
    assert trial.theta == sim.theta.tolist() and trial.outcome == sim.outcome.tolist()
    assert trial.start_s == 0.0 and trial.end_s == pytest.approx(task.trial_duration_s)
    assert isinstance(trial.path, ObjectPath) and len(trial.path.points) == len(sim.times)


def test_a_closed_loop_graph_trial_line_reports_its_deadlines_and_safety_events():
    from icpi_interfaces.msg import TrialResult

    from icpi_ros.core.run_lines import CLOSED_LOOP_KEYS
    from icpi_ros.nodes.conversions import executed_trial

    msg = TrialResult(trial_id='run-0', task='push-gc', theta=[3.0, 2.0, 1.0], cost=0.004)
    msg.goal, msg.outcome, msg.error = [0.6, 0.0], [0.597, 0.001], [-0.003, 0.001]
    msg.control_steps, msg.missed_deadlines, msg.safety_events = 80, 2, 19
    msg.effort, msg.step_wall_max_s = 0.064, 0.0031
    it = Iteration(0, np.array([3.0, 2.0, 1.0]), np.array([0.597, 0.001]), 0.004)
    line = trial_line(executed_trial(msg), it)
    assert list(line) == [*LINE_KEYS, 'closed_loop']
    assert line['closed_loop'] == {
        'control_steps': 80,
        'missed_deadlines': 2,
        'safety_events': 19,
        'effort': 0.064,
        'step_wall_max_s': 0.0031,
    }
    assert tuple(line['closed_loop']) == CLOSED_LOOP_KEYS
    # The fast path's push-gc trial carries its episode summary the same way.
    from icpi_ros.core.sim.simulator import run_trial
    from icpi_ros.core.tasks import load_tasks

    task = load_tasks()['push-gc']
    sim = run_trial(task, task.theta_middle(), np.array(task.default_goal))
    fast = trial_line(ExecutedTrial.from_sim(sim, 'x-0'), it)
    assert fast['closed_loop'] == sim.closed_loop and fast['closed_loop']['missed_deadlines'] == 0
