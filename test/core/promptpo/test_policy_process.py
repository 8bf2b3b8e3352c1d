# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The persistent policy process (issue 19): one sandboxed child per episode serving act().

A stateful `class Policy` answers 80 steps exactly as the same class does in this process;
a late, crashing, raising or badly answering policy raises StepFailed with the reason and
its child is gone; code that does not load says why. The escape attempts run in act() with
the Python layers off in test_sandbox_kernel.py (as root and as an unprivileged uid). The
Feedback summariser runs in the same kind of child and its summaries are validated.
"""

import os
import re
import time
from pathlib import Path

import numpy as np
import pytest

from icpi_ros.core.closed_loop import StepFailed
from icpi_ros.core.promptpo import sandbox
from icpi_ros.core.promptpo.feedback import MAX_STATISTICS, summarise_trajectory
from icpi_ros.core.promptpo.policy_process import STEP_TIMEOUT_S, PolicyProcess, SandboxFailed
from icpi_ros.core.promptpo.sandbox import SandboxLimits
from icpi_ros.core.promptpo.static_check import CodeRejected, check_code

pytestmark = pytest.mark.skipif(
    sandbox.kernel_problem() is not None, reason=f'no kernel isolation: {sandbox.kernel_problem()}'
)

GOAL = [0.9, 0.02]
# Generous for the tests that check answers, not timing (two cores shared by other work).
RELAXED_STEP_S = 0.5
STATEFUL = """
import math
import numpy as np


class Policy:
    \"\"\"A PI controller towards the goal, with state: the integral, the step count.\"\"\"

    def __init__(self):
        self.kp, self.ki = 2.0, 0.5
        self.integral = np.zeros(2)
        self.steps = 0
        self.goal = None

    def reset(self, goal):
        self.goal = np.array(goal, dtype=float)
        self.integral[:] = 0.0

    def act(self, obs):
        self.steps += 1
        error = self.goal - np.array(obs['puck'])
        self.integral += error * 0.05
        command = self.kp * error + self.ki * self.integral
        speed = float(np.linalg.norm(command))
        scale = min(1.0, 0.5 / speed) if speed > 0 else 1.0
        return [float(c) * scale + 1e-3 * math.sin(self.steps) for c in command]
"""


def _obs(i: int) -> dict:
    """Observation of step i (contract fields; the puck drifts towards the goal)."""
    x = 0.6 + 0.003 * i
    return {
        'puck': [x, 0.01 * np.sin(i / 7.0)],
        'puck_vel': [0.06, 0.0],
        'tool': [x - 0.05, 0.0],
        'tool_vel': [0.06, 0.0],
        'goal': GOAL,
        'time_left': 4.0 - 0.05 * i,
    }


def _reference(source: str) -> object:
    """The same class in this process (trusted test code): what the child must answer."""
    scope: dict = {}
    exec(compile(source, '<reference>', 'exec'), scope)  # noqa: S102
    return scope['Policy']()


def _tree(root: int) -> set[int]:
    """`root` and its descendants that are alive (not zombies)."""
    parents: dict[int, int] = {}
    for entry in Path('/proc').iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / 'stat').read_text().rsplit(')', 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[0] != 'Z':
                parents[int(entry.name)] = int(fields[1])
    found, grew = {root} & set(parents), True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        found |= more
        grew = bool(more)
    return found


def _assert_gone(pids: set[int]) -> None:
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        alive = {p for p in pids if Path(f'/proc/{p}').exists()}
        alive = {p for p in alive if _state(p) not in ('Z', None)}
        if not alive:
            return
        time.sleep(0.02)
    raise AssertionError(f'sandbox processes still alive: {sorted(alive)}')


def _state(pid: int) -> str | None:
    try:
        return Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def test_class_policy_with_init_reset_act_and_state_passes_the_static_check():
    check_code(STATEFUL, entry=('Policy', ('act',)))
    with pytest.raises(CodeRejected, match='no top-level class Policy with a method act'):
        check_code('def policy(goal):\n    return [0, 0]\n', entry=('Policy', ('act',)))


def test_a_stateful_policy_serves_80_steps_as_the_same_class_does_here():
    reference = _reference(STATEFUL)
    reference.reset(GOAL)
    with PolicyProcess(STATEFUL, step_timeout_s=RELAXED_STEP_S) as policy:
        assert policy.failure == '', policy.failure
        assert policy.sandbox.applied['seccomp'] is True
        assert policy.sandbox.applied['uid'] == 65534
        policy.reset(GOAL)
        actions = [policy.act(_obs(i)) for i in range(80)]
        pid = policy.sandbox.pid
        assert policy.steps == 80 and policy.sandbox.running
    expected = [reference.act(_obs(i)) for i in range(80)]
    np.testing.assert_allclose(actions, expected, rtol=0, atol=1e-12)
    assert all(isinstance(v, float) for a in actions for v in a)
    assert len({tuple(a) for a in actions}) == 80  # the state moved every step
    assert not policy.sandbox.running and not Path(f'/proc/{pid}').exists()
    with pytest.raises(StepFailed, match='^closed'):  # the episode is over
        policy.act(_obs(0))


def test_act_round_trip_is_fast():
    code = 'class Policy:\n    def act(self, obs):\n        return [0.1, -0.1]\n'
    with PolicyProcess(code, step_timeout_s=RELAXED_STEP_S) as policy:
        policy.reset(GOAL)
        policy.act(_obs(0))
        seconds = []
        for i in range(200):
            start = time.perf_counter()
            policy.act(_obs(i))
            seconds.append(time.perf_counter() - start)
    assert np.median(seconds) < 0.002, np.percentile(seconds, [50, 99])


def test_a_policy_without_reset_is_served():
    code = 'class Policy:\n    def act(self, obs):\n        return (1.0, 2)\n'
    with PolicyProcess(code, step_timeout_s=RELAXED_STEP_S) as policy:
        policy.reset(GOAL)
        assert policy.act(_obs(0)) == [1.0, 2.0]


def test_a_busy_act_is_late_and_its_child_is_gone():
    code = 'class Policy:\n    def act(self, obs):\n        while True:\n            pass\n'
    with PolicyProcess(code) as policy:
        policy.reset(GOAL)
        tree = _tree(policy.sandbox.pid)
        assert len(tree) >= 2  # bwrap and the interpreter in it
        start = time.perf_counter()
        with pytest.raises(StepFailed, match=r'^late: act took longer than 20 ms'):
            policy.act(_obs(0))
        assert time.perf_counter() - start < 1.0
        assert policy.stage == 'process'
        _assert_gone(tree)
        with pytest.raises(StepFailed, match='^late'):  # and it stays failed
            policy.act(_obs(1))
    assert STEP_TIMEOUT_S == 0.02


# act() body -> (the reason, a regular expression; the stage)
STEP_FAILURES = {
    'raises': (
        'return [1 / 0, 0]',
        r'^act raised ZeroDivisionError: division by zero \(line 3\)$',
        'runtime',
    ),
    'recursion': ('return self.act(obs)', r'^act raised RecursionError', 'runtime'),
    'memory': ('x = [0.0] * 10**9\n        return x', r'^act raised MemoryError', 'runtime'),
    'nan': (
        'return [float("nan"), 0.0]',
        r'^bad action at step 1: not finite: vx = nan$',
        'validation',
    ),
    'inf': ('return [0.0, float("inf")]', r'not finite: vy = inf', 'validation'),
    'three': (
        'return [0.1, 0.2, 0.3]',
        r'expected \[vx, vy\] \(2 numbers\), got 3 values$',
        'validation',
    ),
    'scalar': ('return 0.1', r'got a float$', 'validation'),
    'none': ('pass', r'got nothing \(None\)$', 'validation'),
    'bool': ('return [True, 0.0]', r'vx is a bool, not a number', 'validation'),
    'dict': ('return {"vx": 1.0}', r'got a dict', 'validation'),
    'function': (
        'return [lambda: 0, 0.0]',
        r'^act raised TypeError: returned a function, not numbers',
        'runtime',
    ),
}


@pytest.mark.parametrize('case', STEP_FAILURES)
def test_a_failing_step_raises_step_failed_with_the_reason(case):
    body, reason, stage = STEP_FAILURES[case]
    code = f'class Policy:\n    def act(self, obs):\n        {body}\n'
    with PolicyProcess(code, step_timeout_s=RELAXED_STEP_S) as policy:
        policy.reset(GOAL)
        tree = _tree(policy.sandbox.pid)
        with pytest.raises(StepFailed) as failed:
            policy.act(_obs(0))
        assert re.search(reason, str(failed.value)), str(failed.value)
        assert policy.stage == stage and policy.failure == str(failed.value)
        _assert_gone(tree)


def test_a_crash_and_the_episode_cpu_limit_are_reasons():
    crash = 'import os\n\nclass Policy:\n    def act(self, obs):\n        os._exit(7)\n'
    policy = PolicyProcess(
        crash, step_timeout_s=RELAXED_STEP_S, static_check=False, restricted=False
    )
    with policy, pytest.raises(StepFailed, match=r'^sandbox process failed \(exit 7\)'):
        policy.act(_obs(0))
    with PolicyProcess('class Policy:\n    act = 3\n', static_check=False) as policy:
        assert (policy.failure, policy.stage) == ('class Policy has no method act', 'runtime')
    spin = 'class Policy:\n    def act(self, obs):\n        while True:\n            pass\n'
    limits = SandboxLimits(timeout_s=5.0, cpu_s=0.3)
    with PolicyProcess(spin, limits, step_timeout_s=10.0) as policy:
        start = time.perf_counter()
        with pytest.raises(StepFailed, match='^CPU time limit exceeded$'):
            policy.act(_obs(0))
        assert time.perf_counter() - start < 8.0


ACT = '    def act(self, o):\n        return [0, 0]\n'
HANG = '        while True:\n            pass\n'
# code -> (the reason, a regular expression; the stage)
LOAD_FAILURES = {
    'static': ('import os\nclass Policy:\n' + ACT, r'^forbidden import os', 'static'),
    'no_class': ('def policy(goal):\n    return [0, 0]\n', 'no top-level class Policy', 'static'),
    'init_raises': (
        'class Policy:\n    def __init__(self):\n        raise ValueError("no")\n' + ACT,
        r'^Policy\(\) failed: ValueError: no \(line 3\)$',
        'runtime',
    ),
    'init_takes_goal': (
        'class Policy:\n    def __init__(self, goal):\n        pass\n' + ACT,
        r"^Policy\(\) failed: TypeError: .*missing 1 required positional argument: 'goal'",
        'runtime',
    ),
    'module_raises': (
        'class Policy:\n' + ACT + 'x = 1 / 0\n',
        r'^ZeroDivision.*\(line 4\)$',
        'runtime',
    ),
    'no_act': (
        'class Policy:\n    act = 3\n',
        r'no top-level class Policy with a method act',
        'static',
    ),
    'init_hangs': (
        'class Policy:\n    def __init__(self):\n' + HANG + ACT,
        r'^timeout: killed after 1\.5 s',
        'process',
    ),
    'reset_raises': (
        'class Policy:\n    def reset(self, goal):\n        raise KeyError(goal[0])\n' + ACT,
        r'^reset raised KeyError: 0\.9 \(line 3\)$',
        'runtime',
    ),
    'reset_hangs': (
        'class Policy:\n    def reset(self, goal):\n' + HANG + ACT,
        r'^late: reset took longer than 1500 ms',
        'process',
    ),
}


@pytest.mark.parametrize('case', LOAD_FAILURES)
def test_code_that_does_not_load_or_reset_fails_at_the_first_act_with_the_reason(case):
    code, reason, stage = LOAD_FAILURES[case]
    limits = SandboxLimits(timeout_s=1.5, cpu_s=5.0)
    with PolicyProcess(code, limits, step_timeout_s=RELAXED_STEP_S) as policy:
        policy.reset(GOAL)  # the contract's reset does not raise
        assert re.search(reason, policy.failure), policy.failure
        assert policy.stage == stage
        with pytest.raises(StepFailed) as failed:
            policy.act(_obs(0))
        assert str(failed.value) == policy.failure


def test_the_api_key_never_reaches_the_child_or_a_reason(monkeypatch):
    secret = 'sk-policy-process-0123456789'
    monkeypatch.setenv('OPENAI_API_KEY', secret)
    peek = (
        'import os\n\nclass Policy:\n    def act(self, obs):\n'
        '        names = ",".join(sorted(os.environ))\n'
        '        key = str(os.environ.get("OPENAI_API_KEY"))\n'
        f'        raise RuntimeError(names + " " + key + {secret[::-1]!r}[::-1])\n'
    )
    policy = PolicyProcess(
        peek, step_timeout_s=RELAXED_STEP_S, static_check=False, restricted=False
    )
    with policy, pytest.raises(StepFailed) as failed:
        policy.act(_obs(0))
    # Its whole environment: the BLAS threads, the libraries (bwrap), PWD (bwrap), LC_CTYPE
    # (CPython's C-locale coercion).
    names = 'LC_CTYPE,LD_LIBRARY_PATH,MKL_NUM_THREADS,OMP_NUM_THREADS,OPENBLAS_NUM_THREADS,PWD'
    assert str(failed.value) == f'act raised RuntimeError: {names} None[redacted] (line 7)'


def test_prints_are_kept_bounded_and_rlimits_isolation_serves_too():
    code = (
        'class Policy:\n    def act(self, obs):\n        print("x" * 300)\n        return [0, 0]\n'
    )
    limits = SandboxLimits(isolation='rlimits')
    with PolicyProcess(code, limits, step_timeout_s=RELAXED_STEP_S) as policy:
        for i in range(10):
            assert policy.act(_obs(i)) == [0.0, 0.0]
        assert policy.sandbox.applied['uid'] == (65534 if os.geteuid() == 0 else os.getuid())
        assert 'seccomp' not in policy.sandbox.applied
    assert len(policy.sandbox.printed) == 1000


# --- the Feedback summariser ----------------------------------------------------------------

FEEDBACK = """
import numpy as np


class Feedback:
    def summarize(self, episode):
        puck = np.array([o['puck'] for o in episode['observations']])
        goal = np.array(episode['observations'][0]['goal'])
        distance = np.linalg.norm(puck - goal, axis=1)
        speed = np.linalg.norm(np.array(episode['actions']), axis=1)
        return {'final_distance': distance[-1], 'min_distance': distance.min(),
                'mean_speed': float(speed.mean()), 'steps': len(puck)}
"""


def _episode(steps: int = 80) -> dict:
    actions = [[0.06, 0.01 * (i % 3)] for i in range(steps)]
    return {'observations': [_obs(i) for i in range(steps)], 'actions': actions}


def test_feedback_summarises_a_trajectory():
    episode = _episode()
    summary = summarise_trajectory(FEEDBACK, episode)
    puck = np.array([o['puck'] for o in episode['observations']])
    distance = np.linalg.norm(puck - np.array(GOAL), axis=1)
    assert list(summary) == ['final_distance', 'min_distance', 'mean_speed', 'steps']
    assert summary['final_distance'] == pytest.approx(distance[-1], abs=1e-12)
    assert summary['min_distance'] == pytest.approx(distance.min(), abs=1e-12)
    speed = np.linalg.norm(np.array(episode['actions']), axis=1).mean()
    assert summary['mean_speed'] == pytest.approx(speed, abs=1e-12)
    assert summary['steps'] == 80.0 and all(type(v) is float for v in summary.values())


MANY = f'return {{"s" + str(i): i for i in range({MAX_STATISTICS + 1})}}'
# summarise() body -> (the reason, a regular expression; the stage)
FEEDBACK_FAILURES = {
    'space': ('return {"a b": 1.0}', r"bad name 'a b'", 'validation'),
    'long': ('return {"x" * 41: 1.0}', r'an identifier of at most 40 characters', 'validation'),
    'many': (MANY, r'expected 1 to 20 statistics, got 21', 'validation'),
    'empty': ('return {}', r'got 0', 'validation'),
    'nan': ('return {"x": float("nan")}', r'not finite: x = nan', 'validation'),
    'str': ('return {"x": "far"}', r'x is a str, not a number', 'validation'),
    'list': ('return [1.0]', r'expected a dict of named numbers, got a list', 'validation'),
    'raises': (
        'return {"x": len(episode["nothing"])}',
        r"^summarise raised KeyError: 'nothing' \(line 3\)",
        'runtime',
    ),
    'hangs': (HANG.strip(), r'^late: summarise took longer than 1500 ms', 'process'),
}


@pytest.mark.parametrize('case', FEEDBACK_FAILURES)
def test_bad_feedback_is_refused_with_the_reason(case):
    body, reason, stage = FEEDBACK_FAILURES[case]
    code = f'class Feedback:\n    def summarise(self, episode):\n        {body}\n'
    with pytest.raises(SandboxFailed) as failed:
        summarise_trajectory(code, _episode(5), SandboxLimits(timeout_s=1.5, cpu_s=5.0))
    assert re.search(reason, str(failed.value)), str(failed.value)
    assert failed.value.stage == stage


def test_feedback_code_is_checked_and_shut_in():
    with pytest.raises(SandboxFailed, match='no top-level class Feedback') as failed:
        summarise_trajectory('def feedback(e):\n    return {"x": 1}\n', _episode(3))
    assert failed.value.stage == 'static'
    with pytest.raises(SandboxFailed, match='forbidden name open') as failed:
        reads = 'return {"x": len(open("/etc/passwd").read())}'
        summarise_trajectory(
            f'class Feedback:\n    def summarise(self, e):\n        {reads}\n', _episode(3)
        )


def test_the_static_check_alone_refuses_what_a_policy_process_would():
    # The improvement loop checks a program before it costs a trial on the robot.
    from icpi_ros.core.promptpo.policy_process import check_policy

    good = 'class Policy:\n    def act(self, obs):\n        return [0.0, 0.0]\n'
    check_policy(good)
    for code, reason in (
        ('import os\n' + good, 'os'),
        ('def policy(goal):\n    return [0.0]\n', 'class Policy'),
    ):
        with pytest.raises(SandboxFailed, match=reason) as raised:
            check_policy(code)
        assert raised.value.stage == 'static'
        with PolicyProcess(code) as process:
            assert process.stage == 'static' and process.failure == str(raised.value)
