# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The sim bridge's timing rules without ROS (core.sim.pacing)."""

import numpy as np
import pytest

from icpi_ros.core.motion import JointPlan
from icpi_ros.core.sim.pacing import (
    IDLE_AFTER_S,
    SETTLE_S,
    IdleWatch,
    Pacer,
    StreamSchedule,
    pace,
    trajectory_running,
    trajectory_start,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_bridge_idles_only_after_nothing_needed_full_rates_for_a_while():
    clock = FakeClock()
    watch = IdleWatch(clock=clock)
    assert not watch.idle(False, 2.0)  # just started: busy since then
    clock.now += IDLE_AFTER_S + 0.01
    assert watch.idle(False, 2.0)
    assert not watch.idle(False, 0.0)  # idle_rate_hz 0: never idle
    assert not watch.idle(True, 2.0)  # a trial, a trajectory or a reset: full rates at once
    clock.now += IDLE_AFTER_S - 0.01
    assert not watch.idle(False, 2.0)  # and for IDLE_AFTER_S after it
    clock.now += 0.02
    assert watch.idle(False, 2.0)
    watch.mark_busy()  # a parameter change, a trial_active message
    assert not watch.idle(False, 2.0)


def test_a_trajectory_keeps_full_rates_until_what_it_struck_has_settled():
    plan = JointPlan(('a',), np.array([0.0, 2.0]), np.zeros((2, 1)), np.zeros((2, 1)))
    assert trajectory_running(plan, 10.0, 11.9)
    assert trajectory_running(plan, 10.0, 12.0 + SETTLE_S - 0.01)
    assert not trajectory_running(plan, 10.0, 12.0 + SETTLE_S)
    assert not trajectory_running(None, 10.0, 11.0)


@pytest.mark.parametrize(
    ('factor', 'idle', 'expected'),
    [(5.0, False, 5.0), (0.0, False, 0.0), (5.0, True, 1.0), (0.5, True, 0.5), (0.0, True, 1.0)],
)
def test_idling_runs_at_most_at_real_time(factor, idle, expected):
    assert pace(factor, idle) == expected


def test_the_pacer_holds_sim_time_to_wall_time_and_restarts_on_a_new_factor():
    pacer = Pacer(wall=0.0, sim=0.0, factor=2.0)
    assert pacer.delay(2.0, sim=1.0, wall=0.2) == pytest.approx(0.3)  # 1 sim s = 0.5 wall s
    assert pacer.delay(2.0, sim=1.0, wall=0.7) < 0  # behind: no wait
    assert pacer.delay(1.0, sim=1.0, wall=0.7) == 0.0  # a new factor measures from here
    assert pacer.delay(1.0, sim=1.5, wall=0.8) == pytest.approx(0.4)
    assert pacer.delay(0.0, sim=9.0, wall=0.8) == 0.0  # as fast as possible
    pacer = Pacer(wall=0.0, sim=0.0, factor=1.0)
    pacer.restart(wall=5.0, sim=0.0)  # a reset: the new scene's clock from 0
    assert pacer.delay(1.0, sim=0.25, wall=5.0) == pytest.approx(0.25)


def test_streams_tick_every_step_at_full_rates_and_at_the_idle_rate_when_idle():
    streams = StreamSchedule(start=0.0, camera_rate_hz=30.0)
    assert streams.state_due(0.01, False, 2.0) and streams.state_due(0.02, False, 2.0)
    assert streams.state_due(0.03, True, 2.0)  # the first idle tick goes at once
    assert not streams.state_due(0.4, True, 2.0)
    assert streams.state_due(0.53, True, 2.0)
    assert streams.state_due(0.54, False, 2.0)  # full rates again: at once


def test_frames_follow_the_camera_rate_or_the_slower_idle_rate():
    streams = StreamSchedule(start=0.0, camera_rate_hz=10.0)
    due = [t for t in np.arange(0.0, 1.0, 0.01).round(2) if streams.frame_due(t, False, 2.0, True)]
    assert due == pytest.approx(np.arange(0.0, 1.0, 0.1), abs=0.011)
    idle = [t for t in np.arange(1.0, 3.0, 0.01).round(2) if streams.frame_due(t, True, 2.0, True)]
    assert len(idle) == 4 and idle[1] - idle[0] == pytest.approx(0.5, abs=0.011)
    assert streams.frame_due(3.01, False, 2.0, True)  # a rate that goes up applies at once
    assert not streams.frame_due(3.2, False, 2.0, False)  # no frame while a reset waits
    assert streams.frame_due(3.21, False, 2.0, True)
    streams.restart_frames(0.0)  # a reset: the new scene's first frame at once
    assert streams.frame_due(0.0, False, 2.0, True)


def test_a_trajectory_stamped_in_the_past_is_late_and_zero_means_now():
    assert trajectory_start(0.0, 5.0).start == 5.0 and trajectory_start(0.0, 5.0).late == 0.0
    ahead = trajectory_start(5.3, 5.0)
    assert (ahead.start, ahead.late) == (5.3, 0.0)
    assert trajectory_start(5.0, 5.0).late == 0.0  # exactly now: starts now
    late = trajectory_start(4.5, 5.0)
    assert late.late == pytest.approx(0.5)
    message = late.refusal(4.5, 5.0, 2.0)
    assert message.startswith(
        'rejected trajectory: it starts at 4.500 s, 0.500 s in the past on the simulation clock '
        '(5.000 s)'
    )
    assert 'idle, the bridge ticks /clock at 2 Hz' in message
    assert 'idle' not in late.refusal(4.5, 5.0, 0.0)
