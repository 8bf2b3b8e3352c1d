# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Closed-loop control: observations, policies, the command limits and one episode.

A closed-loop task (motion kind `push`, e.g. push-gc) asks its policy for a command at every
control step (`control_rate_hz`) for `episode_s` seconds: the policy sees one observation
(`OBSERVATION_FIELDS`, plain floats, table frame) and answers the tool tip's planar velocity
`[vx, vy]` (m/s). Every command goes through `CommandLimits.check` (speed, change per step,
workspace box), the same check the ROS executor applies to each streamed command. A policy
whose step failed raises `StepFailed`: the tool holds (zero velocity) for the rest of the
episode and the episode is failed with the reason. After the episode the tool holds until
`trial_duration_s` so the object comes to rest; the outcome is its final position.
`rollout()` runs one episode on the fast sim path (MuJoCo ground truth, no ROS).
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from icpi_ros.core.errors import IcpiError
from icpi_ros.core.validation import InvalidInput

if TYPE_CHECKING:
    from icpi_ros.core.sim.simulator import Simulator
    from icpi_ros.core.tasks import TaskSpec


class ObservationField(NamedTuple):
    """One entry of an observation: its length (1: a plain float), unit and meaning."""

    size: int
    unit: str
    description: str


# The observation of one control step, in this order (table frame: metres, m/s, seconds).
OBSERVATION_FIELDS: dict[str, ObservationField] = {
    'puck': ObservationField(2, 'm', "the puck's centre [x, y]"),
    'puck_vel': ObservationField(2, 'm/s', "the puck's velocity [vx, vy]"),
    'tool': ObservationField(2, 'm', "the tool tip's centre [x, y]"),
    'tool_vel': ObservationField(2, 'm/s', "the tool tip's velocity [vx, vy]"),
    'goal': ObservationField(2, 'm', 'where the puck should end [x, y]'),
    'time_left': ObservationField(1, 's', 'time left in the episode (a float)'),
}
# The action: the tool tip's planar velocity command [vx, vy], m/s, table frame.
ACTION_SIZE = 2


class StepFailed(IcpiError, RuntimeError):
    """A policy step that gave no usable command (late, crashed, bad action)."""


@runtime_checkable
class ClosedLoopPolicy(Protocol):
    """A policy served one observation per control step."""

    def reset(self, goal: list[float]) -> None:
        """Start an episode towards `goal` ([x, y], m)."""

    def act(self, obs: dict) -> Sequence[float]:
        """Return the tool's velocity command [vx, vy] (m/s) for observation `obs`.

        Raises:
            StepFailed: the step gave no command (e.g. late or crashed).
        """


def _vector(raw: Mapping[str, Any], key: str, where: str) -> tuple[float, float]:
    value = raw.get(key)
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        or not np.all(np.isfinite(value))
    ):
        raise InvalidInput(f'{where}.{key}: expected 2 finite numbers [x, y], got {value!r}')
    return float(value[0]), float(value[1])


def _positive(raw: Mapping[str, Any], key: str, where: str, zero: bool = False) -> float:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise InvalidInput(f'{where}.{key}: expected a finite number, got {value!r}')
    if value < 0 or (value == 0 and not zero):
        raise InvalidInput(f'{where}.{key}: must be {"at least 0" if zero else "positive"}')
    return float(value)


@dataclass(frozen=True)
class CommandLimits:
    """The safety limits every velocity command passes; pure, shared by sim and robot."""

    max_speed: float  # m/s, |command|
    max_accel: float  # m/s^2, |command - previous command| / dt
    workspace_low: tuple[float, float]  # the tool tip's box on the table (x, y), m
    workspace_high: tuple[float, float]

    def check(
        self,
        tool_xy: Sequence[float],
        command: Sequence[float],
        previous_command: Sequence[float],
        dt: float,
    ) -> tuple[np.ndarray, list[str]]:
        """Return the command to execute for the next `dt` s, and the limits it hit.

        In order: the speed is scaled down to `max_speed`; the change from the previous
        command to `max_accel * dt`; then each axis that would take the tool (at `tool_xy`)
        out of the workspace box within `dt` is zeroed. Each one applied is an event.

        Args:
            tool_xy: where the tool is (its commanded position on the sim path).
            command: the policy's answer.
            previous_command: the command executed in the step before (zeros at the start).
            dt: the control period, s.

        Returns:
            The command ([vx, vy], finite, within the limits) and the events, of
            'speed', 'accel', 'workspace_x', 'workspace_y'.

        Raises:
            StepFailed: a command that is not 2 finite numbers.
        """
        try:
            u = np.array(command, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            raise StepFailed(f'the action must be 2 numbers [vx, vy], got {command!r}') from None
        if u.size != ACTION_SIZE:
            raise StepFailed(f'the action must be 2 numbers [vx, vy], got {u.size}')
        if not np.all(np.isfinite(u)):
            raise StepFailed(f'the action must be finite, got {u.tolist()}')
        events = []
        speed = float(np.linalg.norm(u))
        if speed > self.max_speed:
            u *= self.max_speed / speed
            events.append('speed')
        previous = np.asarray(previous_command, dtype=float)
        change = u - previous
        step = float(np.linalg.norm(change))
        if step > self.max_accel * dt:
            u = previous + change * (self.max_accel * dt / step)
            events.append('accel')
        ahead = np.asarray(tool_xy, dtype=float) + u * dt
        for axis, name in enumerate('xy'):
            low, high = self.workspace_low[axis], self.workspace_high[axis]
            if (ahead[axis] < low and u[axis] < 0) or (ahead[axis] > high and u[axis] > 0):
                u[axis] = 0.0
                events.append(f'workspace_{name}')
        return u, events

    def inside(self, xy: Sequence[float]) -> bool:
        """Return whether the point `xy` lies in the workspace box."""
        x, y = xy
        (x0, y0), (x1, y1) = self.workspace_low, self.workspace_high
        return x0 <= x <= x1 and y0 <= y <= y1


@dataclass(frozen=True)
class ClosedLoopConfig:
    """A closed-loop task's timing and limits (its `motion:` of kind push)."""

    control_rate_hz: float
    episode_s: float
    limits: CommandLimits
    # The object's start is jittered by N(0, start_noise_m) per axis, drawn from the seed.
    start_noise_m: float = 0.0

    @property
    def dt(self) -> float:
        """The control period, s."""
        return 1.0 / self.control_rate_hz

    @property
    def steps(self) -> int:
        """Control steps in one episode."""
        return int(round(self.episode_s * self.control_rate_hz))

    @classmethod
    def parse(cls, task: str, raw: Mapping[str, Any]) -> 'ClosedLoopConfig':
        """Validate the closed-loop fields of a task's `motion:` mapping.

        Args:
            task: the task's name, for the messages.
            raw: its `motion:` mapping.

        Returns:
            The configuration.

        Raises:
            InvalidInput: naming the field that is missing or wrong.
        """
        where = f'tasks.{task}.motion'
        rate = _positive(raw, 'control_rate_hz', where)
        episode = _positive(raw, 'episode_s', where)
        if episode * rate < 1:
            raise InvalidInput(f'{where}.episode_s: shorter than one control period')
        box = raw.get('workspace')
        if not isinstance(box, Mapping):
            raise InvalidInput(f'{where}.workspace: expected a mapping with low and high [x, y]')
        low = _vector(box, 'low', f'{where}.workspace')
        high = _vector(box, 'high', f'{where}.workspace')
        if not (low[0] < high[0] and low[1] < high[1]):
            raise InvalidInput(f'{where}.workspace: low must be below high on both axes')
        limits = CommandLimits(
            _positive(raw, 'max_speed', where), _positive(raw, 'max_accel', where), low, high
        )
        noise = _positive(raw, 'start_noise_m', where, zero=True) if 'start_noise_m' in raw else 0
        return cls(rate, episode, limits, noise)


@dataclass
class ClosedLoopEpisode:
    """One closed-loop episode: what the policy saw and did, and how it ended."""

    task: str
    goal: list[float]
    seed: int
    observations: list[dict] = field(default_factory=list)
    actions: list[list[float]] = field(default_factory=list)  # as executed, after the limits
    outcome: list[float] = field(default_factory=list)  # the object's final [x, y]
    cost: float = float('nan')
    distance: float = float('nan')  # final distance to the goal, m
    effort: float = 0.0  # sum of |command|^2 dt over the episode, m^2/s
    safety_events: int = 0
    failed: str = ''  # why the episode failed ('' if it did not)
    missed_deadlines: int = 0  # steps whose act() took longer than the control period
    wall_s: float = 0.0
    # Ground truth at every control step and at the end (not in as_dict): time (s), the
    # object's and the tool's positions (x, y, z) and the commanded tool position (x, y).
    times: list[float] = field(default_factory=list, repr=False)
    object_path: list[list[float]] = field(default_factory=list, repr=False)
    tool_path: list[list[float]] = field(default_factory=list, repr=False)
    target_path: list[list[float]] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict:
        """Return the episode as plain JSON types (without the ground-truth paths)."""
        return {
            'task': self.task,
            'goal': list(self.goal),
            'seed': self.seed,
            'observations': self.observations,
            'actions': self.actions,
            'outcome': list(self.outcome),
            'cost': self.cost,
            'distance': self.distance,
            'effort': self.effort,
            'safety_events': self.safety_events,
            'failed': self.failed,
            'missed_deadlines': self.missed_deadlines,
            'wall_s': self.wall_s,
        }


def _floats(values: np.ndarray) -> list[float]:
    return [float(v) for v in values]


def rollout(
    task: 'TaskSpec',
    policy: ClosedLoopPolicy,
    goal: Sequence[float],
    seed: int = 0,
    sim: 'Simulator | None' = None,
    on_step: Callable[[float], None] | None = None,
) -> ClosedLoopEpisode:
    """Run one closed-loop episode of `task` on the fast sim path (deterministic per seed).

    Args:
        task: a closed-loop sim task (motion kind push).
        policy: the policy; `reset(goal)` is called first, then `act(obs)` once per step.
        goal: the goal [x, y], inside the task's goal range.
        seed: jitters the object's start (the task's `start_noise_m`).
        sim: a simulator of `task` to reuse (default: a new one).
        on_step: called at every instant the episode records (each control step's start and
            the end, the times of `ClosedLoopEpisode.times`), with its time (e.g. to render).

    Returns:
        The episode.

    Raises:
        InvalidInput: not a closed-loop sim task, or a goal outside its range.
    """
    import time

    from icpi_ros.core.scoring import euclidean_cost, trial_cost
    from icpi_ros.core.sim.simulator import Simulator
    from icpi_ros.core.tasks import require_simulated

    start = time.perf_counter()
    config = require_closed_loop(require_simulated(task))
    goal_vec = task.check_goal(goal)
    sim = sim or Simulator(task)
    sim.reset(goal_vec, seed, config.start_noise_m)
    episode = ClosedLoopEpisode(task.name, _floats(goal_vec), seed)
    dt, limits = config.dt, config.limits
    target = np.array(task.motion.home[:2], dtype=float)
    command = np.zeros(2)
    policy.reset(_floats(goal_vec))

    def record(t: float) -> None:
        episode.times.append(t)
        episode.object_path.append(_floats(sim.object_position()))
        episode.tool_path.append(_floats(sim.tip_position()))
        episode.target_path.append(_floats(target))
        if on_step is not None:
            on_step(t)

    for k in range(config.steps):
        t = k * dt
        obs = {**sim.planar_state(), 'goal': _floats(goal_vec), 'time_left': config.episode_s - t}
        episode.observations.append(obs)
        record(t)
        if not episode.failed:
            asked = time.perf_counter()
            try:
                command, events = limits.check(target, policy.act(obs), command, dt)
            except StepFailed as exc:
                episode.failed = f'step {k} (t = {t:.2f} s): {exc}'
                command, events = np.zeros(2), []
            episode.missed_deadlines += int(time.perf_counter() - asked > dt)
            episode.safety_events += len(events)
        episode.actions.append(_floats(command))
        episode.effort += float(command @ command) * dt
        target = sim.drive_tip(target, command, dt)
    settle = task.trial_duration_s - config.steps * dt
    if settle > 0:
        sim.drive_tip(target, np.zeros(2), settle)
    record(max(task.trial_duration_s, config.steps * dt))
    outcome = sim.object_position()[:2]
    episode.outcome = _floats(outcome)
    episode.distance = euclidean_cost(outcome, goal_vec)
    episode.cost = trial_cost(task, outcome, goal_vec, episode.effort)
    episode.wall_s = time.perf_counter() - start
    return episode


def require_closed_loop(task: 'TaskSpec') -> ClosedLoopConfig:
    """Return a closed-loop task's configuration.

    Args:
        task: the task.

    Returns:
        Its `closed_loop` configuration.

    Raises:
        InvalidInput: a task without one (an open-loop stroke or swing).
    """
    if task.closed_loop is None:
        raise InvalidInput(f'task {task.name!r} is not a closed-loop task (motion kind push)')
    return task.closed_loop
