# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Test stand-ins for the closed-loop PromptPO search: a toy task, its rollout, the LLM.

- `CONTRACT`: a module with the closed-loop contract's names (`OBSERVATION_FIELDS` of
  `ObservationField` entries, `ClosedLoopPolicy`, `ClosedLoopEpisode`), standing in for
  icpi_ros.core.closed_loop.
- `TOY_TASK`: a TaskSpec with closed-loop settings (`closed_loop`: control rate, episode
  length, `CommandLimits` with its check), as issue 19's push-gc has.
- `toy_evaluate`: a small real closed-loop evaluation standing in for the MuJoCo rollout
  through the sandboxed policy process: the real static check (layer 1), then the program's
  `Policy` drives a point mass (the puck under the tool) at 20 Hz for 2 s, every command
  through `CommandLimits.check` (speed, change per step, workspace; each counted as a safety
  event); a step that raises or returns a bad action fails the episode, which holds, as the
  contract's rollout does. Not isolated: it runs only code
  the tests script.
- `toy_summarise`: runs a `Feedback` program in-process (stand-in for the sandboxed one).
- `RoutedLLM`: the loopback OpenAI-compatible server on 127.0.0.1 (test/openai_loopback.py),
  standing in for the LLM service, answering each kind of request from its own queue.
"""

import dataclasses
import threading
import traceback
import types
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import numpy as np
from openai_loopback import LoopbackLLM

from icpi_ros.core.errors import Failed, IcpiError
from icpi_ros.core.promptpo.static_check import check_code
from icpi_ros.core.scoring import euclidean_cost
from icpi_ros.core.tasks import TaskSpec, load_tasks

RATE_HZ = 20.0
STEPS = 40
START = (0.80, 0.0)
EFFORT = 0.001  # cost per metre of commanded motion


class StepFailed(IcpiError, RuntimeError):
    """A step that gave no usable command."""


class ObservationField(NamedTuple):
    """One entry of an observation: its length, unit and meaning."""

    size: int
    unit: str
    description: str


@dataclass(frozen=True)
class CommandLimits:
    """The limits every velocity command passes."""

    max_speed: float  # m/s, |command|
    max_accel: float  # m/s^2, |command - previous command| / dt
    workspace_low: tuple[float, float]  # the tool's box on the table (x, y), m
    workspace_high: tuple[float, float]

    def check(self, tool_xy, command, previous, dt: float) -> tuple[np.ndarray, int]:
        """Return the command to execute and how many limits it hit."""
        u = np.asarray(command, dtype=float).reshape(-1)
        if u.size != 2 or not np.all(np.isfinite(u)):
            raise StepFailed(f'the action must be 2 finite numbers, got {u.tolist()}')
        events = 0
        if np.linalg.norm(u) > self.max_speed:
            u, events = u * self.max_speed / np.linalg.norm(u), events + 1
        change = u - previous
        if np.linalg.norm(change) > self.max_accel * dt:
            u = previous + change * self.max_accel * dt / np.linalg.norm(change)
            events += 1
        ahead = np.asarray(tool_xy) + u * dt
        for axis in (0, 1):
            if not self.workspace_low[axis] <= ahead[axis] <= self.workspace_high[axis]:
                u[axis], events = 0.0, events + 1
        return u, events


@dataclass(frozen=True)
class ToyClosedLoopConfig:
    """A closed-loop task's timing and limits."""

    control_rate_hz: float  # Hz, act() calls per second
    episode_s: float  # s, length of an episode
    limits: CommandLimits


class ClosedLoopPolicy(Protocol):
    """A controller: reset at the start of an episode, act at every control step."""

    def reset(self, goal: list[float]) -> None:
        """Start an episode with this goal [x, y] (m, table frame)."""

    def act(self, obs: dict) -> Sequence[float]:
        """Return the tool's planar velocity command [vx, vy] (m/s) for this observation."""


@dataclass
class ClosedLoopEpisode:
    """One episode: what was observed and commanded, where the puck ended, its cost."""

    observations: list[dict] = field(default_factory=list)
    actions: list[list[float]] = field(default_factory=list)
    outcome: list[float] = field(default_factory=list)  # final puck [x, y] (m)
    cost: float = 0.0
    safety_events: int = 0  # commands changed by the limits
    failed: str = ''  # why the episode failed ('' if not)
    missed_deadlines: int = 0

    def as_dict(self) -> dict:
        """JSON-friendly form."""
        return dataclasses.asdict(self)


CONTRACT = types.ModuleType(
    'toy_closed_loop',
    'Closed-loop control (test stand-in): at every control step the policy gets an '
    'observation and returns a planar tool velocity [vx, vy] (m/s), checked by CommandLimits.',
)
CONTRACT.OBSERVATION_FIELDS = {
    'puck': ObservationField(2, 'm', 'puck position [x, y]'),
    'puck_vel': ObservationField(2, 'm/s', 'puck velocity [vx, vy]'),
    'tool': ObservationField(2, 'm', 'tool tip position [x, y]'),
    'tool_vel': ObservationField(2, 'm/s', 'tool tip velocity [vx, vy]'),
    'goal': ObservationField(2, 'm', 'goal [x, y]'),
    'time_left': ObservationField(1, 's', 'time left in the episode'),
}
CONTRACT.ClosedLoopPolicy = ClosedLoopPolicy
CONTRACT.ClosedLoopEpisode = ClosedLoopEpisode


@dataclass(frozen=True)
class ClosedLoopTaskSpec(TaskSpec):
    """A TaskSpec with closed-loop settings, as issue 19's tasks have."""

    closed_loop: ToyClosedLoopConfig | None = None


_BASE = load_tasks()['slide-gc']
TOY_TASK = ClosedLoopTaskSpec(
    **{f.name: getattr(_BASE, f.name) for f in dataclasses.fields(TaskSpec)}
    | {
        'name': 'toy-push',
        'description': 'push the puck to a goal on the table (test stand-in)',
        'motion': dataclasses.replace(_BASE.motion, kind='push', object_start=START),
        'closed_loop': ToyClosedLoopConfig(
            RATE_HZ, STEPS / RATE_HZ, CommandLimits(0.3, 2.0, (0.6, -0.2), (1.0, 0.2))
        ),
    }
)


def _where(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == '<policy>']
    line = f' (line {frames[-1].lineno})' if frames else ''
    return f'{type(exc).__name__}: {exc}{line}'


def toy_rollout(policy, goal: list[float], seed: int) -> ClosedLoopEpisode:
    """Run one episode of the toy point mass under `policy`."""
    rng = np.random.default_rng(seed)
    puck = np.array(START) + rng.uniform(-0.01, 0.01, 2)
    velocity = np.zeros(2)
    limits = TOY_TASK.closed_loop.limits
    episode = ClosedLoopEpisode()
    for step in range(STEPS):
        obs = {
            'puck': puck.tolist(),
            'puck_vel': velocity.tolist(),
            'tool': puck.tolist(),
            'tool_vel': velocity.tolist(),
            'goal': list(goal),
            'time_left': (STEPS - step) / RATE_HZ,
        }
        episode.observations.append(obs)
        try:
            action, events = limits.check(puck, policy.act(obs), velocity, 1.0 / RATE_HZ)
        except Exception as exc:  # the policy raised, or StepFailed: the tool holds
            episode.failed = f'step {step}: {_where(exc)}'
            break
        episode.safety_events += events
        episode.actions.append(action.tolist())
        velocity = action
        puck = puck + velocity / RATE_HZ
    effort = sum(float(np.linalg.norm(a)) for a in episode.actions) / RATE_HZ
    episode.outcome = puck.tolist()
    episode.cost = euclidean_cost(puck, np.array(goal)) + EFFORT * effort
    return episode


class ToyEvaluator:
    """`evaluate(source, goals, seeds)` over the toy; counts the programs it ran."""

    def __init__(self) -> None:
        self.sources: list[str] = []

    def __call__(self, source: str, goals, seeds) -> list[ClosedLoopEpisode]:
        check_code(source)  # raises CodeRejected, like the sandbox's layer 1
        self.sources.append(source)
        scope: dict = {}
        try:
            exec(compile(source, '<policy>', 'exec'), scope)
        except Exception as exc:
            return [ClosedLoopEpisode(failed=f'load: {_where(exc)}', cost=1.0) for _ in goals]
        episodes = []
        for goal, seed in zip(goals, seeds, strict=True):
            policy = scope['Policy']()  # one policy per episode, as one process per episode
            try:
                policy.reset(list(goal))
            except Exception as exc:
                episodes.append(ClosedLoopEpisode(failed=f'reset: {_where(exc)}', cost=1.0))
                continue
            episodes.append(toy_rollout(policy, list(goal), seed))
        return episodes


def toy_summarise(source: str, episode: dict) -> dict:
    """Run a Feedback program on one episode (in-process stand-in for the sandbox)."""
    scope: dict = {}
    try:
        exec(compile(source, '<feedback>', 'exec'), scope)
        return scope['Feedback']().summarise(episode)
    except Exception as exc:
        raise Failed(f'{type(exc).__name__}: {exc}') from None


def p_policy(gain: float, note: str = '') -> str:
    """A proportional controller's program, as an LLM writes one."""
    return (
        'import numpy as np\n\n\n'
        'class Policy:\n'
        f'    """Proportional controller, gain {gain}.{note}"""\n\n'
        '    def reset(self, goal):\n'
        '        self.goal = np.asarray(goal, dtype=float)\n\n'
        '    def act(self, obs):\n'
        f'        return ({gain} * (self.goal - np.asarray(obs["puck"]))).tolist()\n'
    )


FEEDBACK = """class Feedback:
    def summarise(self, episode):
        goal = episode['observations'][0]['goal']
        dists = [
            ((o['puck'][0] - goal[0]) ** 2 + (o['puck'][1] - goal[1]) ** 2) ** 0.5
            for o in episode['observations']
        ]
        clipped = episode['safety_events']
        return {'final_distance': dists[-1], 'closest': min(dists), 'clipped': clipped}
"""


def fence(code: str, prose: str = 'Here is the controller.') -> str:
    """An answer holding `code` in one fenced block."""
    return f'{prose}\n\n```python\n{code}```\n'


class RoutedLLM(LoopbackLLM):
    """The loopback LLM server, answering each kind of request from its own queue.

    Kinds: feedback, feedback_repair, policy, repair (code that failed), malformed (an
    answer without one program), reflection. An empty queue answers a default.
    """

    DEFAULTS = {
        'feedback': fence(FEEDBACK),
        'feedback_repair': fence(FEEDBACK),
        'policy': fence(p_policy(1.0)),
        'repair': fence(p_policy(1.0)),
        'malformed': fence(p_policy(1.0)),
        'reflection': 'The higher gain reached the goal sooner; try a little more.',
    }

    def __init__(self) -> None:
        super().__init__()
        self.queues: dict[str, deque] = defaultdict(deque)
        self.kinds: list[str] = []
        # One server per test: poll for shutdown often (the default waits up to 0.5 s).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={'poll_interval': 0.02}, daemon=True
        )

    @staticmethod
    def kind(request: dict) -> str:
        """Which kind of request this is."""
        system, last = request['messages'][0]['content'], request['messages'][-1]['content']
        if 'You review attempts' in system:
            return 'reflection'
        failed = 'This program failed' in last
        if 'class `Feedback`' in system:
            return 'feedback_repair' if failed else 'feedback'
        if failed:
            return 'repair'
        return 'malformed' if 'could not be used' in last else 'policy'

    def answer_text(self, request: dict) -> str:
        kind = self.kind(request)
        self.kinds.append(kind)
        queue = self.queues[kind]
        return queue.popleft() if queue else self.DEFAULTS[kind]


def pusher(gain: float) -> str:
    """A behind-the-puck pusher for push-gc, as an LLM writes one; `gain` scales the push."""
    return PUSHER_TEMPLATE.replace('GAIN', repr(float(gain)))


PUSHER_TEMPLATE = '''import numpy as np


class Policy:
    """Get behind the puck on the line to the goal, then push along it."""

    def reset(self, goal):
        self.goal = np.asarray(goal, dtype=float)

    def act(self, obs):
        puck, tool = np.asarray(obs["puck"]), np.asarray(obs["tool"])
        line = self.goal - puck
        dist = float(np.linalg.norm(line))
        if dist < 0.003:
            return [0.0, 0.0]
        u = line / dist
        off = puck - 0.035 * u - tool
        if float(np.linalg.norm(off)) > 0.01:
            return (3.0 * off).tolist()
        return (GAIN * dist * u + 3.0 * off).tolist()
'''
