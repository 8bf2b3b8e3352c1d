# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""End to end: the sim graph improving slide-gc through the Improve action.

Five processes (MuJoCo bridge, OpenCV tracker, planner, executor, loop), run record on disk.
"""

import json
import sys
import threading

import cv2
import numpy as np
import pytest
import yaml
from action_msgs.msg import GoalStatus
from bringup_graph import running_graph
from icpi_interfaces.action import Improve

from icpi_ros.core.bag_read import read_messages, summarize
from icpi_ros.core.sim.simulator import TrialRunner
from icpi_ros.core.tasks import load_tasks
from icpi_ros.graph.bringup import Bringup
from icpi_ros.graph.demo import calibrate_sim_camera
from icpi_ros.graph.description import sim_graph

TASK = load_tasks()['slide-gc']
Codes = Improve.Result


@pytest.fixture(scope='module')
def graph(tmp_path_factory):
    work = tmp_path_factory.mktemp('bringup')
    calibration = work / 'calibration.yaml'
    calibrate_sim_camera('slide-gc', calibration)
    bringup = Bringup(sim_graph(calibration, 'auto', 1.0, work / 'runs'), work)
    with running_graph(bringup, 'bringup_test') as client:
        yield bringup, client, work / 'runs'


def test_improve_over_the_graph_records_every_trial(graph):
    bringup, client, runs = graph
    seen = []
    status, result = client.improve(
        'slide-gc',
        [0.86, 0.03],
        theta0=[-0.2, 0.08, 0.4],
        max_iterations=5,
        on_feedback=seen.append,
    )
    assert status == GoalStatus.STATUS_SUCCEEDED, result.error_msg
    assert [f.iteration for f in seen] == [0, 1, 2, 3, 4]
    costs = list(result.costs)
    assert len(costs) == 5 and result.best_cost == min(costs) < costs[0]
    assert len(result.history) == 5 and result.history[1].startswith(f'1: {result.run_id}-1 ')
    # Brief as `ros2 action send_goal` prints it: well under 100 lines for 20 iterations.
    lines = _printed_lines(result)
    empty = type(result)(**{f: getattr(result, f) for f in ('run_id', 'best_theta', 'best_cost')})
    per_iteration = (lines - _printed_lines(empty)) / 5
    assert per_iteration <= 3 and _printed_lines(empty) + 20 * per_iteration < 100, lines
    run = runs / result.run_id
    trials = [json.loads(line) for line in (run / 'trials.jsonl').read_text().splitlines()]
    assert [t['iteration'] for t in trials] == [0, 1, 2, 3, 4]
    np.testing.assert_allclose([t['cost'] for t in trials], costs)
    assert trials[0]['improver'] == '' and trials[1]['improver'] == 'knn_linear'
    assert len(trials[1]['planner']['neighbours']) == 20
    summary = json.loads((run / 'summary.json').read_text())
    assert summary['task'] == 'slide-gc' and summary['improver'] == 'knn_linear'
    assert summary['costs'] == pytest.approx(costs) and summary['status'] == 'succeeded'
    assert (run / 'costs.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert (runs / 'latest').resolve() == run.resolve()

    _check_bag(bringup, run, trials)

    # The tracked outcome matches the simulator's ground truth for the same theta.
    runner = TrialRunner(TASK)
    try:
        for t in trials[:2]:
            truth = runner.run(np.array(t['theta']), np.array(t['goal'])).outcome
            assert np.linalg.norm(np.array(t['outcome']) - truth) < 0.005, (t['outcome'], truth)
    finally:
        runner.close()


def _check_bag(bringup, run, trials) -> None:
    """The run's MCAP bag: every topic, one trajectory and one result per trial, a frame."""
    recorder = next(p for p in bringup.graph.processes if p.name == 'run_recorder')
    recorder.wait_for_output(rf'closed \S*{run.name}/run\.mcap', 15.0)
    summary = summarize(run / 'run.mcap')
    assert summary.complete, summary.problem
    counts = {topic: info.count for topic, info in summary.topics.items()}
    assert counts['/trial_executor/trial_result'] == len(trials), counts
    assert counts['/trajectory_tracker/trajectory'] == len(trials), counts
    assert counts['/arm_controller/joint_trajectory'] >= len(trials), counts
    # The camera at 30 Hz capped at 15 frames per second; joint states and ground truth faster.
    frames = counts['/camera/image_raw/compressed']
    assert 5 * len(trials) <= frames <= 15 * summary.duration_s + 2, (frames, summary.duration_s)
    for topic in ('/joint_states', '/sim/object_pose', '/trajectory_tracker/point'):
        assert counts[topic] > frames, counts
    assert counts['/camera/camera_info'] > 0, counts
    results = [m for _, _, m in read_messages(run / 'run.mcap', ['/trial_executor/trial_result'])]
    assert [r.trial_id for r in results] == [t['trial_id'] for t in trials]
    np.testing.assert_allclose([r.cost for r in results], [t['cost'] for t in trials])
    _, _, frame = next(read_messages(run / 'run.mcap', ['/camera/image_raw/compressed']))
    image = cv2.imdecode(np.frombuffer(bytes(frame.data), np.uint8), cv2.IMREAD_COLOR)
    assert frame.format == 'jpeg' and image.shape == (480, 640, 3)


@pytest.mark.parametrize(
    ('kwargs', 'message'),
    [
        ({'task': 'slide-gc', 'goal': [float('nan'), 0.0]}, 'goal[0] is nan'),
        ({'task': 'slide-gc', 'goal': [2.0, 0.0]}, 'outside the range'),
        ({'task': 'nope'}, "unknown task 'nope'"),
        ({'task': 'slide-gc', 'max_iterations': 0}, 'max_iterations must be at least 1'),
        ({'task': 'slide-gc', 'resume_run_id': '../etc'}, 'run id'),
    ],
)
def test_bad_goals_are_rejected_with_a_code(graph, kwargs, message):
    _, client, _ = graph
    status, result = client.improve(**{'max_iterations': 3, **kwargs})
    assert status == GoalStatus.STATUS_ABORTED
    assert result.error_code in (Codes.INVALID_GOAL, Codes.RESUME_FAILED), result.error_msg
    assert message in result.error_msg, result.error_msg


def _as_dict(msg):
    """A message as the nested mapping ros2cli dumps to YAML (block style) when it prints it."""
    if hasattr(msg, 'get_fields_and_field_types'):
        return {f: _as_dict(getattr(msg, f)) for f in msg.get_fields_and_field_types()}
    if isinstance(msg, str | int | float | bool):
        return msg
    return [_as_dict(v) for v in msg]


def _printed_lines(msg) -> int:
    text = yaml.safe_dump(_as_dict(msg), default_flow_style=False, width=sys.maxsize)
    return len(text.splitlines())


def _trials(runs, run_id: str) -> list[dict]:
    return [json.loads(line) for line in (runs / run_id / 'trials.jsonl').read_text().splitlines()]


def test_cancel_mid_run_stops_the_trial_and_keeps_the_record(graph):
    bringup, client, runs = graph
    seen = []

    def cancel_after_first(feedback) -> None:
        seen.append(feedback.iteration)
        client.cancel()  # iteration 1's trial is starting: the executor must stop the arm

    status, result = client.improve('slide-gc', max_iterations=6, on_feedback=cancel_after_first)
    assert status == GoalStatus.STATUS_CANCELED, result.error_msg
    assert result.error_code == Codes.CANCELED and 'canceled' in result.error_msg
    trials = _trials(runs, result.run_id)
    assert seen[0] == 0 and 1 <= len(trials) < 6
    assert [t['iteration'] for t in trials] == list(range(len(trials)))
    summary = json.loads((runs / result.run_id / 'summary.json').read_text())
    assert summary['status'] == 'canceled' and summary['iterations'] == len(trials)
    # The result holds every finished trial (and the one canceled, with its status).
    ids = [t['trial_id'] for t in trials]
    assert list(result.trial_ids[: len(trials)]) == ids and len(result.trial_ids) <= len(ids) + 1
    assert list(result.costs[: len(trials)]) == pytest.approx([t['cost'] for t in trials])
    assert all(' OK' in line for line in result.history[: len(trials)])
    executor = next(p for p in bringup.graph.processes if p.name == 'trial_executor')
    executor.wait_for_output(rf'{result.run_id}-{len(trials)} failed: canceled while', 10.0)


def test_resume_after_the_executor_is_killed_loses_and_repeats_nothing(graph):
    bringup, client, runs = graph
    executor = next(p for p in bringup.graph.processes if p.name == 'trial_executor')

    def kill_during_third_trial(feedback) -> None:
        if feedback.iteration == 1:  # two trials on disk: kill the executor mid-way the third
            threading.Timer(1.5, executor.proc.kill).start()

    status, result = client.improve(
        'slide-gc', [0.9, -0.02], max_iterations=4, on_feedback=kill_during_third_trial
    )
    assert executor.wait(5.0) == -9
    assert status == GoalStatus.STATUS_ABORTED, result.error_msg
    assert result.error_code == Codes.TRIAL_FAILED, result.error_msg
    assert 'executor has been silent' in result.error_msg
    before = (runs / result.run_id / 'trials.jsonl').read_text().splitlines()
    assert [json.loads(line)['iteration'] for line in before] == [0, 1]

    spec = next(s for s in bringup.specs if s.executable == 'trial_executor')
    bringup.graph.start(spec.executable, spec.argv(), ready=r'\]: ready', timeout=30.0)
    status, resumed = client.improve('', resume_run_id=result.run_id, max_iterations=4)
    assert status == GoalStatus.STATUS_SUCCEEDED, resumed.error_msg
    assert resumed.run_id == result.run_id and len(resumed.history) == 2
    after = (runs / result.run_id / 'trials.jsonl').read_text().splitlines()
    assert after[:2] == before  # kept byte for byte
    trials = [json.loads(line) for line in after]
    assert [t['iteration'] for t in trials] == [0, 1, 2, 3]
    assert [t['trial_id'] for t in trials[2:]] == list(resumed.trial_ids)
    assert all(t['goal'] == [0.9, -0.02] for t in trials)
    summary = json.loads((runs / result.run_id / 'summary.json').read_text())
    assert summary['status'] == 'succeeded' and len(summary['costs']) == 4


def test_improve_graph_command_follows_a_run_and_reports_bad_goals(graph):
    bringup, _, runs = graph
    done = bringup.graph.run(
        ['icpi', 'improve-graph', '--task', 'slide-gc', '--iterations', '2', '--json'], 60.0
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out['status'] == 'succeeded' and len(out['costs']) == 2
    assert len(_trials(runs, out['run_id'])) == 2
    bad = bringup.graph.run(['icpi', 'improve-graph', '--task', 'slide-gc', '--goal', '5,0'])
    assert bad.returncode == 2 and 'outside the range' in bad.stderr, bad.stderr


def test_ctrl_c_in_improve_graph_cancels_the_run_without_a_traceback(graph):
    bringup, _, runs = graph
    command = bringup.graph.start(
        'icpi', ['icpi', 'improve-graph', '--task', 'slide-gc', '--iterations', '6']
    )
    command.wait_for_output(r'\[ 1/6\]', 30.0)  # the second trial is starting
    assert command.stop(30.0) == 4  # SIGINT: the run is canceled, exit code "run failed"
    stderr = command.output('stderr')
    assert 'Traceback' not in stderr and 'ended with code 4' in stderr, stderr
    summary = json.loads((runs / 'latest' / 'summary.json').read_text())
    assert summary['status'] == 'canceled' and 1 <= summary['iterations'] < 6


def test_a_second_goal_while_a_run_is_running_is_told_why(graph):
    """Not a bare 'Goal was rejected.': the goal is accepted and aborted with BUSY and why."""
    bringup, client, _ = graph
    answer = {}

    def second_goal(feedback) -> None:
        if not answer:  # the first run has 5 trials to go: it is surely still running
            done = bringup.graph.run(
                ['icpi', 'improve-graph', '--task', 'slide-gc', '--iterations', '2', '--json'],
                30.0,
            )
            answer.update(code=done.returncode, out=done.stdout, err=done.stderr)
            client.cancel()  # the first run has served its purpose

    status, result = client.improve('slide-gc', max_iterations=6, on_feedback=second_goal)
    assert status == GoalStatus.STATUS_CANCELED, result.error_msg
    assert answer['code'] == 4, answer
    busy = json.loads(answer['out'])
    assert busy['error_code'] == 7  # Improve.Result.BUSY
    assert busy['error_msg'] == f'busy: another run is running (run {result.run_id}, slide-gc)'
