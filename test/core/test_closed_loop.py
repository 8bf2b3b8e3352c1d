# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The closed-loop push task: command limits, rollouts, failed steps, the controllers."""

import json
import time

import numpy as np
import pytest

from icpi_ros.cli import main
from icpi_ros.core.closed_loop import (
    OBSERVATION_FIELDS,
    ClosedLoopPolicy,
    CommandLimits,
    StepFailed,
    require_closed_loop,
    rollout,
)
from icpi_ros.core.controllers import proportional_controller, reference_controller
from icpi_ros.core.motion import plan_motion
from icpi_ros.core.scoring import euclidean_cost, trial_cost
from icpi_ros.core.sim.simulator import Simulator, TrialRunner
from icpi_ros.core.tasks import load_tasks
from icpi_ros.core.validation import InvalidInput

TASK = load_tasks()['push-gc']
CONFIG = TASK.closed_loop
# Gains that push to every goal of the range (found by a grid search over the bounds).
GOOD = [1.5, 5.0, 4.0]
LIMITS = CommandLimits(0.25, 2.0, (0.15, -0.2), (0.64, 0.2))
DT = 0.05


@pytest.fixture(scope='module')
def sim():
    made = Simulator(TASK)
    yield made
    made.close()


def test_a_command_within_the_limits_passes_unchanged():
    command, events = LIMITS.check([0.4, 0.0], [0.1, -0.05], [0.08, -0.04], DT)
    np.testing.assert_array_equal(command, [0.1, -0.05])
    assert events == []


def test_speed_is_clipped_and_counted():
    command, events = LIMITS.check([0.4, 0.0], [3.0, 4.0], [0.15, 0.2], DT)
    np.testing.assert_allclose(command, [0.15, 0.2])  # 5 m/s scaled to 0.25 along the same line
    assert events == ['speed']


def test_the_change_per_step_is_clipped_and_counted():
    command, events = LIMITS.check([0.4, 0.0], [0.2, 0.0], [0.0, 0.0], DT)
    np.testing.assert_allclose(command, [2.0 * DT, 0.0])
    assert events == ['accel']
    command, events = LIMITS.check([0.4, 0.0], [1.0, 0.0], [0.0, 0.0], DT)
    assert events == ['speed', 'accel']
    np.testing.assert_allclose(command, [0.1, 0.0])


def test_an_axis_that_would_leave_the_workspace_is_zeroed_and_counted():
    command, events = LIMITS.check([0.635, 0.199], [0.2, 0.1], [0.2, 0.1], DT)
    np.testing.assert_array_equal(command, [0.0, 0.0])
    assert events == ['workspace_x', 'workspace_y']
    command, events = LIMITS.check([0.635, 0.0], [-0.2, 0.1], [-0.2, 0.1], DT)  # moving back in
    np.testing.assert_allclose(command, [-0.2, 0.1])
    assert events == []
    command, events = LIMITS.check([0.16, -0.1], [-0.25, 0.0], [-0.25, 0.0], DT)
    assert events == ['workspace_x'] and command.tolist() == [0.0, 0.0]


@pytest.mark.parametrize(
    ('action', 'message'),
    [
        ([0.1], 'must be 2 numbers'),
        ([0.1, 0.2, 0.3], 'must be 2 numbers'),
        ([float('nan'), 0.0], 'must be finite'),
        ([0.1, float('inf')], 'must be finite'),
        ('fast', 'must be 2 numbers'),
        (None, 'must be 2 numbers'),
    ],
)
def test_a_bad_action_fails_the_step(action, message):
    with pytest.raises(StepFailed, match=message):
        LIMITS.check([0.4, 0.0], action, [0.0, 0.0], DT)


def test_the_workspace_box_is_within_the_arms_reach():
    from icpi_ros.core.arm import ArmSpec

    arm, box = ArmSpec(), CONFIG.limits
    (x0, y0), (x1, y1) = box.workspace_low, box.workspace_high
    corners = [[x, y, TASK.motion.contact_height] for x in (x0, x1) for y in (y0, y1)]
    q = arm.inverse(np.array(corners), TASK.motion.tool_pitch)
    assert arm.limit_violation(q) is None


def _trace(episode):
    return json.dumps([episode.observations, episode.actions, episode.outcome, episode.cost])


def test_a_rollout_is_deterministic_for_its_seed(sim):
    policy = reference_controller(TASK, TASK.theta_middle())
    a = rollout(TASK, policy, [0.6, 0.05], seed=3, sim=sim)
    b = rollout(TASK, policy, [0.6, 0.05], seed=3)  # a fresh simulator: the same bits
    c = rollout(TASK, policy, [0.6, 0.05], seed=4, sim=sim)
    assert _trace(a) == _trace(b)
    assert a.observations[0]['puck'] != c.observations[0]['puck']  # the seed moves the start
    assert len(a.observations) == len(a.actions) == CONFIG.steps
    assert list(a.observations[0]) == list(OBSERVATION_FIELDS)
    assert a.observations[0]['time_left'] == CONFIG.episode_s
    json.dumps(a.as_dict())  # plain JSON types


@pytest.mark.parametrize('corner', [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_good_gains_reach_the_corners_of_the_goal_range(sim, corner):
    goal = [(TASK.goal_low, TASK.goal_high)[c][i] for i, c in enumerate(corner)]
    episode = rollout(TASK, reference_controller(TASK, GOOD), goal, sim=sim)
    assert episode.distance <= 0.01
    assert not episode.failed
    expected = euclidean_cost(episode.outcome, goal) + TASK.effort_weight * episode.effort
    assert episode.cost == pytest.approx(expected)
    assert episode.cost == pytest.approx(trial_cost(TASK, episode.outcome, goal, episode.effort))


def test_the_middle_of_the_gains_is_worse_than_good_gains(sim):
    goal = [TASK.goal_high[0], TASK.goal_low[1]]
    middle = rollout(TASK, reference_controller(TASK, TASK.theta_middle()), goal, sim=sim)
    good = rollout(TASK, reference_controller(TASK, GOOD), goal, sim=sim)
    assert middle.cost > 2 * good.cost


class Scripted:
    """A policy answering a fixed command, failing or sleeping at chosen steps."""

    def __init__(self, command, fail_at=None, sleep_at=None):
        self.command, self.fail_at, self.sleep_at = command, fail_at, sleep_at
        self.calls = 0

    def reset(self, goal):
        self.calls = 0

    def act(self, obs):
        self.calls += 1
        if self.calls - 1 == self.fail_at:
            raise StepFailed('late: no answer within 10 ms')
        if self.calls - 1 == self.sleep_at:
            time.sleep(CONFIG.dt * 1.5)
        return self.command


def test_a_failed_step_holds_the_tool_and_fails_the_episode(sim):
    policy = Scripted([0.1, 0.0], fail_at=10)
    episode = rollout(TASK, policy, TASK.default_goal, sim=sim)
    assert episode.failed == 'step 10 (t = 0.50 s): late: no answer within 10 ms'
    assert policy.calls == 11  # never asked again
    assert all(a == [0.0, 0.0] for a in episode.actions[10:])
    assert any(a != [0.0, 0.0] for a in episode.actions[:10])
    held = np.array(episode.target_path[11:])
    np.testing.assert_array_equal(held, np.broadcast_to(held[0], held.shape))
    tool = np.array(episode.tool_path[20:])
    assert np.ptp(tool[:, :2], axis=0).max() < 1e-3  # the tool stands still


def test_a_bad_action_fails_the_episode(sim):
    episode = rollout(TASK, Scripted([0.0, float('nan')]), TASK.default_goal, sim=sim)
    assert episode.failed.startswith('step 0 (t = 0.00 s): the action must be finite')
    assert episode.safety_events == 0


def test_commands_over_the_limits_are_clipped_and_counted(sim):
    episode = rollout(TASK, Scripted([5.0, 5.0]), TASK.default_goal, sim=sim)
    assert not episode.failed and episode.safety_events > 0
    speeds = np.linalg.norm(episode.actions, axis=1)
    assert speeds.max() <= CONFIG.limits.max_speed + 1e-12
    # Until the box zeroes an axis (a stop, at once), the command changes by max_accel * dt.
    changes = np.linalg.norm(np.diff([[0.0, 0.0], *episode.actions[:10]], axis=0), axis=1)
    np.testing.assert_allclose(changes[:2], CONFIG.limits.max_accel * CONFIG.dt)
    assert changes.max() <= CONFIG.limits.max_accel * CONFIG.dt + 1e-12
    assert all(CONFIG.limits.inside(xy) for xy in episode.target_path)
    assert np.array(episode.target_path)[:, 1].max() == pytest.approx(0.2, abs=0.013)


def test_a_slow_step_is_a_missed_deadline(sim):
    episode = rollout(TASK, Scripted([0.0, 0.0], sleep_at=3), TASK.default_goal, sim=sim)
    assert episode.missed_deadlines == 1 and not episode.failed


def test_the_controllers_are_policies_and_the_p_controller_pushes(sim):
    p = proportional_controller(TASK)
    assert isinstance(p, ClosedLoopPolicy)
    assert isinstance(reference_controller(TASK, GOOD), ClosedLoopPolicy)
    episode = rollout(TASK, p, TASK.default_goal, sim=sim)
    assert episode.distance < 0.01 and not episode.failed


def test_rollout_refuses_open_loop_tasks_and_plans_refuse_push():
    with pytest.raises(InvalidInput, match="'slide-gc' is not a closed-loop task"):
        require_closed_loop(load_tasks()['slide-gc'])
    with pytest.raises(InvalidInput, match='outside the range'):
        rollout(TASK, proportional_controller(TASK), [0.9, 0.0])
    with pytest.raises(InvalidInput, match='closed loop'):
        plan_motion(TASK.motion, Simulator(TASK).arm, TASK.theta_middle(), 1.0)


def test_a_push_trial_on_the_fast_path_is_a_reference_controller_rollout():
    runner = TrialRunner(TASK)
    record = runner.run([20.0, 5.0, 6.0], [0.6, 0.05], seed=2)
    episode = rollout(TASK, reference_controller(TASK, [6.0, 5.0, 4.0]), [0.6, 0.05], seed=2)
    assert record.theta_clipped and record.theta.tolist() == [6.0, 5.0, 4.0]
    assert record.outcome.tolist() == episode.outcome
    assert record.cost == episode.cost == record.score().cost
    assert record.closed_loop['safety_events'] == episode.safety_events
    assert record.object_positions.shape == (CONFIG.steps + 1, 3)
    runner.close()


def test_bayes_opt_lowers_the_cost_of_push_gc(capsys):
    code = main(['improve', '--task', 'push-gc', '--improver', 'bayes_opt', '--iterations', '8',
                 '--seed', '1', '--json'])  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary['best_cost'] < 0.5 * summary['costs'][0]
