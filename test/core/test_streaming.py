# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Closed-loop trials on the arm (core/streaming.py): streamed steps, observations, checks."""

import numpy as np
import pytest

from icpi_ros.core.arm import ArmSpec
from icpi_ros.core.closed_loop import OBSERVATION_FIELDS, rollout
from icpi_ros.core.controllers import reference_controller
from icpi_ros.core.motion import JointPlan, PlanRejected
from icpi_ros.core.safety import SafetyLimits
from icpi_ros.core.scoring import score_trajectory, trial_cost
from icpi_ros.core.streaming import (
    VELOCITY_WINDOW_S,
    StepSegment,
    StreamStats,
    TrackedPoints,
    extrapolate,
    observation,
    observation_vector,
    step_to_send,
    streamed_episode,
    tool_state,
)
from icpi_ros.core.tasks import load_tasks
from icpi_ros.core.validation import InvalidInput

TASK = load_tasks()['push-gc']
DT = TASK.closed_loop.dt
ARM = ArmSpec()


def test_a_segment_runs_its_command_for_a_period_then_stops_within_one_more():
    seg = StepSegment(10.0, np.array([0.3, 0.0]), np.array([0.2, -0.1]), DT)
    np.testing.assert_allclose(seg.position(9.0), [0.3, 0.0])  # before its start: the origin
    np.testing.assert_allclose(seg.position(10.0 + DT), [0.3 + 0.2 * DT, -0.1 * DT])
    np.testing.assert_allclose(seg.velocity_at(10.0 + DT), [0.2, -0.1])  # still running
    np.testing.assert_allclose(seg.velocity_at(10.0 + 1.5 * DT), [0.1, -0.05])
    np.testing.assert_allclose(seg.velocity_at(10.0 + 2 * DT), [0.0, 0.0], atol=1e-12)
    stopped = [0.3 + 0.2 * 1.5 * DT, -0.1 * 1.5 * DT]  # the stop covers half a period's run
    np.testing.assert_allclose(seg.position(10.0 + 2 * DT), stopped)
    np.testing.assert_allclose(seg.position(20.0), stopped)
    # The position is the integral of the velocity, and the energy the integral of its square.
    t = np.linspace(9.99, 10.0 + 2.5 * DT, 20001)
    v = np.array([seg.velocity_at(x) for x in t])
    dt = t[1] - t[0]
    np.testing.assert_allclose(seg.position(t[-1]) - seg.position(t[0]), v[:-1].sum(0) * dt, 1e-3)
    assert seg.energy(t[0], t[-1]) == pytest.approx((v[:-1] ** 2).sum() * dt, rel=1e-3)
    assert seg.energy(10.0, 10.0 + DT) == pytest.approx(0.05 * DT)  # |u|^2 dt
    assert seg.energy(10.0 + DT, 10.0 + 2 * DT) == pytest.approx(0.05 * DT / 3)
    times, xy, velocity = seg.points()
    np.testing.assert_allclose(times, [0.0, DT, 2 * DT])
    np.testing.assert_allclose(xy[-1], stopped)
    np.testing.assert_allclose(velocity, [[0.2, -0.1], [0.2, -0.1], [0.0, 0.0]])


def test_streamed_segments_follow_the_commanded_path_of_the_fast_path():
    """The same commands, chained as the executor streams them, give the rollout's targets."""
    policy = reference_controller(TASK, TASK.theta_middle())
    episode = rollout(TASK, policy, TASK.default_goal, seed=0)
    segment = StepSegment.rest(0.0, TASK.motion.home[:2], DT)
    for k, command in enumerate(episode.actions):
        at = k * DT
        here = segment.position(at)
        np.testing.assert_allclose(here, episode.target_path[k], atol=1e-9)
        segment = StepSegment(at, here, np.array(command), DT)
    # The effort the stream accounts is the rollout's.
    effort = sum(float(np.dot(a, a)) * DT for a in episode.actions)
    assert effort == pytest.approx(episode.effort)


def test_a_step_is_sent_as_checked_joint_points_on_the_tool_path():
    segment = StepSegment(0.0, np.array([0.4, 0.05]), np.array([0.2, 0.1]), DT)
    plan = step_to_send(TASK.motion, ARM, SafetyLimits(), segment)
    assert isinstance(plan, JointPlan) and plan.joint_names == ARM.joint_names
    tip, pitch = ARM.forward(plan.positions)
    _, xy, _ = segment.points()
    np.testing.assert_allclose(tip[:, :2], xy, atol=1e-9)
    np.testing.assert_allclose(tip[:, 2], TASK.motion.contact_height, atol=1e-9)
    np.testing.assert_allclose(pitch, TASK.motion.tool_pitch, atol=1e-9)
    # Joint velocities carry the tool's: the forward kinematics along them gives [vx, vy].
    _, v = tool_state(ARM, plan.positions[0], plan.velocities[0])
    np.testing.assert_allclose(v, [0.2, 0.1], atol=1e-5)
    np.testing.assert_allclose(plan.velocities[-1], 0.0, atol=1e-9)  # it ends at rest


@pytest.mark.parametrize(
    ('limits', 'origin', 'reason'),
    [
        (SafetyLimits(workspace_max=(0.41, 1.0, 1.0)), [0.4, 0.0], 'workspace'),
        (SafetyLimits(max_joint_speed=0.1), [0.4, 0.0], 'speed'),
        (SafetyLimits(), [1.2, 0.0], 'unreachable'),
        (SafetyLimits(), [0.2, 0.3], 'limits'),  # an arm whose base turns less (below)
    ],
)
def test_a_step_over_a_limit_is_refused_with_the_reason(limits, origin, reason):
    segment = StepSegment(0.0, np.array(origin), np.array([0.25, 0.0]), DT)
    if reason == 'limits':  # a base yaw of atan2(0.3, 0.2) = 0.98 rad under a tighter arm
        arm = ArmSpec(lower=(-0.5, -1.6, 0.0, -1.5), upper=(0.5, 1.2, 2.8, 2.6))
    else:
        arm = ARM
    with pytest.raises(PlanRejected) as refused:
        step_to_send(TASK.motion, arm, limits, segment)
    assert refused.value.reason == reason, str(refused.value)


def test_the_tool_state_comes_from_the_joints_through_the_forward_kinematics():
    q0 = ARM.inverse(np.array([0.45, 0.02, 0.02]), TASK.motion.tool_pitch)
    q1 = ARM.inverse(np.array([0.4510, 0.0205, 0.02]), TASK.motion.tool_pitch)
    qd = (q1 - q0) / 0.01  # the tip moved 1 mm in x, 0.5 mm in y in 10 ms
    xy, v = tool_state(ARM, q0, qd)
    np.testing.assert_allclose(xy, [0.45, 0.02], atol=1e-9)
    np.testing.assert_allclose(v, [0.1, 0.05], atol=1e-3)
    np.testing.assert_allclose(extrapolate(xy, v, 1.0, 1.02), [0.452, 0.021], atol=1e-4)


def test_tracked_points_give_the_newest_position_and_the_velocity_of_the_recent_ones():
    points = TrackedPoints()
    assert points.latest() is None
    rng = np.random.default_rng(0)
    for i in range(10):  # 30 Hz, moving at (0.3, -0.1) m/s, with 0.2 mm of noise
        t = 5.0 + i / 30
        points.add(t, [0.4 + 0.3 * (t - 5.0), -0.1 * (t - 5.0)] + rng.normal(0, 2e-4, 2))
    stamp, xy, v = points.latest()
    assert stamp == pytest.approx(5.3)
    np.testing.assert_allclose(xy, [0.49, -0.03], atol=1e-3)
    np.testing.assert_allclose(v, [0.3, -0.1], atol=0.03)
    points.forget(10.0)  # a new scene: nothing before it counts, also arriving late
    points.add(9.99, [0.1, 0.1])
    assert points.latest() is None
    points.add(10.0, [0.42, 0.0])
    stamp, xy, v = points.latest()
    assert stamp == 10.0 and xy.tolist() == [0.42, 0.0] and v.tolist() == [0.0, 0.0]
    points.add(10.0 + 2 * VELOCITY_WINDOW_S, [0.5, 0.0])  # the first is too old for a velocity
    assert points.latest()[2].tolist() == [0.0, 0.0]


def test_an_observation_has_the_fields_of_the_contract_in_order_as_plain_floats():
    obs = observation(
        np.array([0.42, 0.0]), [0.1, 0.0], (0.3, 0.01), np.zeros(2), [0.6, 0.0], np.float64(2.5)
    )
    assert list(obs) == list(OBSERVATION_FIELDS)
    assert obs['time_left'] == 2.5 and type(obs['time_left']) is float
    assert all(type(v) is float for k in obs if k != 'time_left' for v in obs[k])
    assert obs['tool'] == [0.3, 0.01] and obs['goal'] == [0.6, 0.0]


def test_a_tracked_closed_loop_trial_is_scored_with_the_tasks_cost_and_its_effort():
    times = np.linspace(0.0, 4.5, 136)
    points = np.tile([0.598, 0.001, 0.042], (136, 1))
    valid = np.ones(136, dtype=bool)
    goal = np.array([0.6, 0.0])
    score = score_trajectory(TASK, times, points, valid, goal, 4.5, effort=0.07)
    assert score.cost == pytest.approx(trial_cost(TASK, score.outcome, goal, 0.07))
    assert score.cost == pytest.approx(np.hypot(0.002, 0.001) + TASK.effort_weight * 0.07)


def test_a_streamed_trial_reads_back_as_the_fast_paths_episode():
    # What the executor keeps per asked step, flattened into TrialResult, and the episode the
    # improvement loop rebuilds from it for PromptPO's search (its Feedback class reads it).
    stats = StreamStats()
    seen = []
    for k in range(3):
        obs = observation([0.5 + k, 0.01], [0.1, -k], [0.3, 0.0], [0.0, 0.2], [0.6, 0.05], 4 - k)
        seen.append(obs)
        stats.add_step(obs, np.array([0.05 * k, -0.01]))
    assert len(stats.observations) == 3 * sum(f.size for f in OBSERVATION_FIELDS.values())
    assert observation_vector(seen[1])[:4] == [1.5, 0.01, 0.1, -1.0]
    episode = streamed_episode(
        'push-gc', [0.6, 0.05], 7, stats.observations, stats.actions, cost=0.02, effort=0.1
    )
    assert episode.observations == seen and list(episode.observations[2]) == list(
        OBSERVATION_FIELDS
    )
    assert episode.actions == [[0.0, -0.01], [0.05, -0.01], [0.1, -0.01]]
    assert (episode.seed, episode.cost, episode.effort, episode.failed) == (7, 0.02, 0.1, '')
    failed = streamed_episode('push-gc', [0.6, 0.05], 0, [], [], failed='step 3: late')
    assert failed.observations == [] and failed.failed and np.isnan(failed.cost)
    with pytest.raises(InvalidInput, match='not whole steps'):
        streamed_episode('push-gc', [0.6, 0.05], 0, stats.observations[:-1], stats.actions)
    with pytest.raises(InvalidInput, match='3 observations but 2 actions'):
        streamed_episode('push-gc', [0.6, 0.05], 0, stats.observations, stats.actions[:4])
