# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The sim bridge's timing rules, without ROS.

When the bridge idles (nothing has needed full rates for IDLE_AFTER_S wall seconds), how fast
the simulation then runs, when the state streams and the camera publish next, and when a
received trajectory starts (refused when its stamp is already past on the simulation clock).
The physics itself never changes with any of these.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

from icpi_ros.core.motion import JointPlan

# Wall seconds without a trial, a running trajectory or a reset before the bridge idles.
IDLE_AFTER_S = 0.5
# Simulated seconds a trajectory keeps full rates after its last point: what the arm struck
# still moves (a puck slides, a ball rolls, a rope swings) and a camera watching it by hand,
# without ~/trial_active, sees it at the full rate. Trial windows in tasks.yaml are <= 4 s.
SETTLE_S = 4.0


class IdleWatch:
    """Whether the bridge may idle: nothing has needed full rates for `after_s` wall seconds."""

    def __init__(
        self, after_s: float = IDLE_AFTER_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._after_s, self._clock = after_s, clock
        self._busy_at = clock()  # when something last needed full rates

    def mark_busy(self) -> None:
        """Full rates from now on (a trial, a trajectory, a reset or a parameter change)."""
        self._busy_at = self._clock()

    def idle(self, busy: bool, idle_rate_hz: float) -> bool:
        """Return whether to idle now.

        Args:
            busy: whether something needs full rates now (a trial, a running trajectory, a
                pending reset); it restarts the wait.
            idle_rate_hz: the idle rate; 0 never idles.

        Returns:
            True when idling is allowed and nothing needed full rates for `after_s`.

        """
        if busy:
            self.mark_busy()
        return idle_rate_hz > 0 and self._clock() - self._busy_at > self._after_s


def trajectory_running(plan: JointPlan | None, start: float, now: float) -> bool:
    """Whether a trajectory (`plan`, from sim time `start`) or what it struck moves at `now`.

    True from the trajectory's arrival until SETTLE_S after its last point.
    """
    return plan is not None and now < start + plan.duration + SETTLE_S


def pace(realtime_factor: float, idle: bool) -> float:
    """Return the real-time factor to run at: idling, at most real time (also for 0)."""
    if not idle:
        return realtime_factor
    return min(realtime_factor, 1.0) if realtime_factor > 0 else 1.0


class Pacer:
    """Holds simulated time to wall time at a real-time factor (0: as fast as possible)."""

    def __init__(self, wall: float, sim: float, factor: float) -> None:
        self._wall0, self._sim0, self._factor = wall, sim, factor

    def restart(self, wall: float, sim: float) -> None:
        """Measure from here (a reset: the new scene's clock)."""
        self._wall0, self._sim0 = wall, sim

    def delay(self, factor: float, sim: float, wall: float) -> float:
        """Return how long to wait (wall s) before simulating past `sim`.

        Args:
            factor: the real-time factor now; a change measures from here on.
            sim: the simulated time reached (s).
            wall: the wall time now (s, monotonic).

        Returns:
            Seconds to wait; 0 or less: none (also for a factor of 0).

        """
        if factor != self._factor:
            self._wall0, self._sim0, self._factor = wall, sim, factor
        if self._factor <= 0:
            return 0.0
        return self._wall0 + (sim - self._sim0) / self._factor - wall


class StreamSchedule:
    """When the state streams and the camera publish next (simulated time).

    At full rates the state goes out at every physics tick and the camera at `camera_rate_hz`;
    idling, both at the idle rate (the camera at most at its own rate). A rate that goes up
    applies at once.
    """

    def __init__(self, start: float, camera_rate_hz: float) -> None:
        self.next_state = self.next_frame = start
        self._camera_rate = camera_rate_hz

    def restart_frames(self, now: float) -> None:
        """Schedule the next frame at once (a reset: the new scene)."""
        self.next_frame = now

    def state_due(self, now: float, idle: bool, idle_rate_hz: float) -> bool:
        """Return whether /clock, the joint states and the object pose go out at `now`."""
        due = not idle or now >= self.next_state
        if due:
            self.next_state = now + (1.0 / idle_rate_hz if idle else 0.0)
        return due

    def frame_due(self, now: float, idle: bool, idle_rate_hz: float, may_render: bool) -> bool:
        """Return whether to render and publish a camera frame at `now`.

        Args:
            now: the simulated time (s).
            idle: whether the bridge idles.
            idle_rate_hz: the idle rate (positive when idling).
            may_render: false while no frame may go out (camera off, a reset pending).

        Returns:
            True when a frame is due; the next one is scheduled.

        """
        period = 1.0 / (min(self._camera_rate, idle_rate_hz) if idle else self._camera_rate)
        self.next_frame = min(self.next_frame, now + period)  # a rate that went up applies now
        if may_render and now >= self.next_frame:
            self.next_frame = max(self.next_frame + period, now)
            return True
        return False


@dataclass(frozen=True)
class TrajectoryStart:
    """When a received trajectory starts on the simulation clock, or how late it came."""

    start: float  # sim time the arm leaves its pose (a zero stamp: now)
    late: float  # > 0: the stamp was already this far in the past, the trajectory is refused

    def refusal(self, stamp: float, now: float, idle_rate_hz: float) -> str:
        """Return why a late trajectory is refused, and what to do."""
        idle = (
            f'; idle, the bridge ticks /clock at {idle_rate_hz:g} Hz: a time read off it '
            'lags up to one tick (or set idle_rate_hz 0)'
            if idle_rate_hz > 0
            else ''
        )
        return (
            f'rejected trajectory: it starts at {stamp:.3f} s, {self.late:.3f} s in the past on '
            f'the simulation clock ({now:.3f} s); starting it part-way would make the arm '
            f'jump. Stamp it ahead of the clock (or 0: now){idle}'
        )


def trajectory_start(stamp: float, now: float) -> TrajectoryStart:
    """Return when a trajectory stamped `stamp` starts, received at sim time `now`.

    Sampling a trajectory whose start is past at `now - start` would begin part-way through,
    a jump; a zero stamp means "now", as for joint_trajectory_controller.

    Args:
        stamp: the trajectory's header stamp (s; 0: now).
        now: the simulation clock (s).

    Returns:
        The start, and how late it is (0 unless the stamp is past).

    """
    if stamp != 0 and stamp < now:
        return TrajectoryStart(start=stamp, late=now - stamp)
    return TrajectoryStart(start=stamp or now, late=0.0)
