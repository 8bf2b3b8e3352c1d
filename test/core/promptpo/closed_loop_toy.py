# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Test stand-ins for the closed-loop PromptPO search: a toy task, its rollout, the LLM.

- `CONTRACT`: a module with the closed-loop contract's names (`OBSERVATION_FIELDS`,
  `ClosedLoopPolicy`, `ClosedLoopEpisode`), standing in for icpi_ros.core.closed_loop.
- `TOY_TASK`: a real TaskSpec whose motion settings are a push-like dataclass (control rate,
  episode length, speed limit, workspace box).
- `toy_evaluate`: a small real closed-loop evaluation standing in for the MuJoCo rollout
  through the sandboxed policy process: the real static check (layer 1), then the program's
  `Policy` drives a point mass (the puck under the tool) at 20 Hz for 2 s, actions clipped to
  the speed limit (counted as safety events); a step that raises or returns a bad action fails
  the episode, which holds, as the contract's rollout does. Not isolated: it runs only code
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
from typing import Protocol

import numpy as np
from openai_loopback import LoopbackLLM

from icpi_ros.core.errors import Failed
from icpi_ros.core.promptpo.static_check import check_code
from icpi_ros.core.scoring import euclidean_cost
from icpi_ros.core.tasks import load_tasks

RATE_HZ = 20.0
STEPS = 40
START = (0.80, 0.0)
EFFORT = 0.001  # cost per metre of commanded motion


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
    safety_events: int = 0  # commands clipped to the limits
    failed: str = ''  # why the episode failed ('' if not)
    missed_deadlines: int = 0

    def as_dict(self) -> dict:
        """JSON-friendly form."""
        return dataclasses.asdict(self)


CONTRACT = types.ModuleType(
    'toy_closed_loop',
    'Closed-loop control (test stand-in): at every control step the policy gets an '
    'observation and returns a planar tool velocity [vx, vy] (m/s), clipped to max_speed.',
)
CONTRACT.OBSERVATION_FIELDS = {
    'puck': 'puck position [x, y] (m)',
    'puck_vel': 'puck velocity [vx, vy] (m/s)',
    'tool': 'tool tip position [x, y] (m)',
    'tool_vel': 'tool tip velocity [vx, vy] (m/s)',
    'goal': 'goal [x, y] (m)',
    'time_left': 'time left in the episode (s)',
}
CONTRACT.ClosedLoopPolicy = ClosedLoopPolicy
CONTRACT.ClosedLoopEpisode = ClosedLoopEpisode


@dataclass(frozen=True)
class PushMotion:
    """Push-like motion settings of the toy task."""

    kind: str  # 'push': closed loop
    control_rate_hz: float  # Hz, act() calls per second
    episode_s: float  # s, length of an episode
    max_speed: float  # m/s, the tool speed limit
    max_accel: float  # m/s^2, the tool acceleration limit
    workspace: tuple[tuple[float, float], tuple[float, float]]  # (x, y) box the tool stays in


TOY_TASK = dataclasses.replace(
    load_tasks()['slide-gc'],
    name='toy-push',
    description='push the puck to a goal on the table (test stand-in)',
    motion=PushMotion('push', RATE_HZ, STEPS / RATE_HZ, 0.3, 2.0, ((0.6, 1.0), (-0.2, 0.2))),
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
    speed_limit = TOY_TASK.motion.max_speed
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
            action = np.asarray(policy.act(obs), dtype=float)
        except Exception as exc:
            episode.failed = f'step {step}: {_where(exc)}'
            break
        if action.shape != (2,) or not np.all(np.isfinite(action)):
            episode.failed = f'step {step}: bad action {action.tolist()!r}'
            break
        speed = float(np.linalg.norm(action))
        if speed > speed_limit:
            action *= speed_limit / speed
            episode.safety_events += 1
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
