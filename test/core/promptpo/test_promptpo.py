# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""PromptPO and its sandbox: LLM-written policies improve the cost; hostile code is contained.

The paid LLM service is replaced by loopback OpenAI-compatible HTTP servers started by these
tests (test/openai_loopback.py): `PolicyWriterLLM` writes local linear inverse-model policies
from the trials listed in the prompt, the scripted server answers given code verbatim.
"""

import ast
import dataclasses
import inspect
import json
import re
import time

import numpy as np
import pytest
from openai_loopback import LoopbackLLM

from icpi_ros.core import motion
from icpi_ros.core.improvers import ImproverContext, ImproverFailed, make_improver
from icpi_ros.core.improvers.base import HistoryTrial
from icpi_ros.core.llm import LLMConfig
from icpi_ros.core.loop import improve
from icpi_ros.core.planning import make_query, next_policy
from icpi_ros.core.promptpo import sandbox_kernel
from icpi_ros.core.promptpo.improver import PromptPO
from icpi_ros.core.promptpo.prompting import extract_code
from icpi_ros.core.promptpo.sandbox import SandboxLimits, evaluate_policy
from icpi_ros.core.promptpo.static_check import check_code
from icpi_ros.core.promptpo.task_source import render_task_source
from icpi_ros.core.run_lines import dumps
from icpi_ros.core.scoring import euclidean_cost
from icpi_ros.core.sim.simulator import TrialRunner
from icpi_ros.core.tasks import load_tasks

TASKS = load_tasks()
TASK = TASKS['slide-gc']
GOAL = np.array([0.86, 0.03])
GOOD_THETA = [0.05, 0.12, 0.3]
GOOD = f'def policy(goal):\n    return {GOOD_THETA}\n'
LIMITS = SandboxLimits(timeout_s=1.5)
RLIMITS_ONLY = SandboxLimits(timeout_s=1.5, isolation='rlimits')


def _array(name: str, text: str) -> np.ndarray:
    found = re.search(rf'^{name} = np\.array\((\[[^\]]*\])\)', text, re.MULTILINE)
    return np.array(ast.literal_eval(found.group(1)), dtype=float)


class PolicyWriterLLM(LoopbackLLM):
    """Stand-in for the paid LLM: fits the listed trials and writes policies in Python.

    Round 1 (too few trials to fit) probes one parameter per candidate around the best trial.
    Later rounds fit d outcome / d theta on the trials nearest the best one and write
    `policy(goal) = best theta + gain @ (goal - best outcome)` (a trust-region step), plus
    probes around it so that the next fit is well conditioned.
    """

    def answer_text(self, request: dict) -> str:
        system, user = (m['content'] for m in request['messages'][:2])
        n = int(re.search(r'Answer with (\d+) different candidates', system).group(1))
        low, high = _array('THETA_LOW', user), _array('THETA_HIGH', user)
        span = high - low
        goal = np.array(ast.literal_eval(re.search(r'GOAL = (\[[^\]]*\])', user).group(1)))
        listed = user.split('TRIALS = [\n', 1)[1].split('\n]', 1)[0].splitlines()
        trials = [ast.literal_eval(line.split('#')[0].strip().rstrip(',')) for line in listed]
        theta, outcome = np.array([t[0] for t in trials]), np.array([t[1] for t in trials])
        b = int(np.argmin([t[2] for t in trials]))
        dim = theta.shape[1]
        gain = np.zeros((dim, outcome.shape[1]))
        scale, first = 0.1, 1
        if len(trials) > dim:
            d = (theta - theta[b]) / span
            near = [i for i in np.argsort(np.linalg.norm(d, axis=1))[:8] if i != b]
            jac = np.linalg.lstsq(d[near], outcome[near] - outcome[b], rcond=None)[0].T
            gain = np.diag(span) @ np.linalg.pinv(jac)
            size = np.linalg.norm(gain @ (goal - outcome[b]) / span)
            if size > 0.6:
                gain *= 0.6 / size
            scale, first = max(0.2 * min(size, 0.6), 0.005), 0
        codes = []
        for i in range(first, first + n):
            offset = np.zeros(dim)
            if i:
                k = (i - 1) % dim
                toward_middle = 1 if theta[b][k] < (low[k] + high[k]) / 2 else -1
                offset[k] = scale * span[k] * toward_middle * (1 if i <= dim else -0.5)
            codes.append(
                '```python\nimport numpy as np\n\n'
                f'BASE = np.array({theta[b].tolist()})\n'
                f'OUTCOME = np.array({outcome[b].tolist()})\n'
                f'GAIN = np.array({gain.tolist()})\n'
                f'OFFSET = np.array({offset.tolist()})\n'
                f'LOW, HIGH = np.array({low.tolist()}), np.array({high.tolist()})\n\n\n'
                'def policy(goal):\n'
                '    step = GAIN @ (np.asarray(goal) - OUTCOME)\n'
                '    return np.clip(BASE + step + OFFSET, LOW, HIGH).tolist()\n```'
            )
        return 'Here are the candidates.\n\n' + '\n\n'.join(codes)


def _answer(*codes: str) -> str:
    """A scripted LLM answer: each code in its own fenced block."""
    return 'text:' + '\n'.join(f'Candidate {i}:\n```python\n{c}```' for i, c in enumerate(codes))


def _context(server: LoopbackLLM, candidates: int = 4) -> ImproverContext:
    config = LLMConfig(base_url=server.base_url, model='loopback', backoff_s=0.01, timeout_s=5.0)
    return ImproverContext(llm=config, promptpo_candidates=candidates)


@pytest.fixture(scope='module')
def _server():
    with LoopbackLLM() as server:
        yield server


@pytest.fixture
def scripted(_server, monkeypatch):
    monkeypatch.delenv('OPENAI_API_KEY', raising=False)
    _server.requests.clear()
    _server.script.clear()
    return _server


def _query(theta=(0.0, 0.1, 0.35), error=(0.05, -0.02)):
    return make_query(TASK, list(theta), error=list(error), goal=GOAL.tolist())


# --- task description ---------------------------------------------------------------------


# The open-loop tasks (a closed-loop task's source is the closed-loop PromptPO's, issue 19).
@pytest.mark.parametrize('name', sorted(n for n, t in TASKS.items() if t.closed_loop is None))
def test_task_source_is_generated_from_the_definitions(name):
    task = TASKS[name]
    source = render_task_source(task)
    scope: dict = {}
    exec(compile(source, name, 'exec'), scope)
    np.testing.assert_array_equal(scope['THETA_LOW'], task.theta_low)
    np.testing.assert_array_equal(scope['THETA_HIGH'], task.theta_high)
    np.testing.assert_array_equal(scope['GOAL_LOW'], task.goal_low)
    assert scope['THETA_NAMES'] == tuple(p.name for p in task.parameters)
    assert scope['OUTCOME_NAMES'] == task.outcome_names
    assert task.description in source
    # The robot's own functions and cost, not a restatement: they compute the same thing.
    assert inspect.getsource(euclidean_cost) in source
    assert inspect.getsource(task.motion.primitive.tool_path) in source
    theta, times = task.theta_middle(), np.linspace(0.0, task.trial_duration_s, 40)
    np.testing.assert_allclose(
        scope['tool_path'](scope['motion'], theta, times),
        motion.tool_path(task.motion, theta, times),
    )
    assert scope['euclidean_cost']([1.0, 1.0], [0.0, 0.0]) == pytest.approx(2**0.5)
    with pytest.raises(NotImplementedError):
        scope['policy'](np.array(task.default_goal))


# --- good code improves the cost ------------------------------------------------------------


def test_good_code_improves_the_cost_over_rounds(monkeypatch):
    monkeypatch.delenv('OPENAI_API_KEY', raising=False)
    runner = TrialRunner(TASK)
    records: list[str] = []
    try:
        with PolicyWriterLLM() as llm:
            result = improve(
                TASK,
                lambda theta: runner.run(theta, GOAL).outcome,
                GOAL,
                TASK.theta_middle(),
                make_improver('promptpo', _context(llm, candidates=4)),
                iterations=13,  # theta0, then three rounds of four candidates
                on_iteration=lambda it: records.append(dumps(it.details)),
            )
    finally:
        runner.close()
    its = result.iterations
    assert len(its) == 13 and len(records) == 13  # one trial per iteration, all recordable
    assert len(llm.requests) == 3  # one LLM call per round
    rounds = [it.details['round'] for it in its[1:]]
    assert rounds == [1] * 4 + [2] * 4 + [3] * 4
    best = [min(it.cost for it in its[1:] if it.details['round'] == r) for r in (1, 2, 3)]
    assert best[2] < best[1] < best[0], best
    assert best[2] < 0.25 * its[0].cost, (its[0].cost, best)
    for it in its[1:]:
        d = it.details
        assert it.improver == 'promptpo'
        assert d['code'].startswith('import numpy') and len(d['code_sha']) == 12
        assert np.all((it.theta >= TASK.theta_low) & (it.theta <= TASK.theta_high))
    # Feedback: round 3's prompt lists every trial so far, round 2's results and the best code.
    prompt = llm.requests[2]['messages'][1]['content']
    assert prompt.count('# round ') == 8 and '# initial theta' in prompt
    assert 'Round 2 results:' in prompt and 'Best policy so far: round 2' in prompt
    first = its[1].details
    assert first['new_round'] == 1 and first['llm'][0]['response'].startswith('Here are')
    assert first['rejected'] == [] and len(first['round_sandbox_s']) == 4
    scored = {'round': 1, 'candidate': 3, 'cost': pytest.approx(its[4].cost, abs=1e-6)}
    assert its[5].details['scored'] == scored


# --- hostile and broken code ---------------------------------------------------------------

HOSTILE = {
    'infinite_loop': ('def policy(goal):\n    while True:\n        pass\n', r'^timeout'),
    'import_os': ('import os\ndef policy(goal):\n    return [0.0] * 3\n', 'forbidden import os'),
    'import_socket': (
        'import socket\ndef policy(goal):\n    socket.create_connection(("1.1.1.1", 80))\n',
        'forbidden import socket',
    ),
    'import_subprocess': (
        'def policy(goal):\n    import subprocess\n    subprocess.run(["true"])\n',
        'forbidden import subprocess',
    ),
    'from_os_import': ('from os import system\ndef policy(goal):\n    system("true")\n', 'os'),
    'dunder_import': ('def policy(goal):\n    __import__("os")\n', 'forbidden name __import__'),
    'subclasses_escape': (
        'def policy(goal):\n    return ().__class__.__base__.__subclasses__()\n',
        r'forbidden attribute \.__\w+__',
    ),
    'frame_escape': (
        'def policy(goal):\n    g = (x for x in ())\n    return g.gi_frame.f_back\n',
        r'forbidden attribute \.(gi_frame|f_back)',
    ),
    'eval': ('def policy(goal):\n    return eval("[0, 0.1, 0.3]")\n', 'forbidden name eval'),
    'open_for_writing': (
        'def policy(goal):\n    open({path!r}, "w").write("x")\n',
        'forbidden name open',
    ),
    'numpy_save': (
        'import numpy as np\ndef policy(goal):\n    np.save({path!r}, np.zeros(3))\n',
        r'forbidden attribute \.save',
    ),
    'ndarray_tofile': (
        'import numpy as np\ndef policy(goal):\n    np.zeros(3).tofile({path!r})\n',
        r'forbidden attribute \.tofile',
    ),
    'fork': ('import os\ndef policy(goal):\n    os.fork()\n', 'forbidden import os'),
    'huge_numpy_allocation': (
        'import numpy as np\ndef policy(goal):\n    return np.zeros(10**10)[:3]\n',
        '^MemoryError',
    ),
    'touched_numpy_allocation': (  # 800 MB: would succeed without the limit
        'import numpy as np\ndef policy(goal):\n    return np.ones(10**8)[:3]\n',
        '^MemoryError',
    ),
    'huge_list': ('def policy(goal):\n    return ([0] * 10**9)[:3]\n', '^MemoryError'),
    'exception': ('def policy(goal):\n    return 1 / 0\n', r'ZeroDivisionError.*\(line 2\)'),
    'recursion': ('def policy(goal):\n    return policy(goal)\n', '^RecursionError'),
    'wrong_shape': ('def policy(goal):\n    return [0.1, 0.1]\n', 'wrong shape: expected 3'),
    'matrix_shape': ('def policy(goal):\n    return [[0.0, 0.1, 0.3]]\n', r'shape \(1, 3\)'),
    'not_numbers': ('def policy(goal):\n    return "fast"\n', 'could not convert'),
    'nan': ('def policy(goal):\n    return [float("nan"), 0.1, 0.3]\n', 'not finite: angle'),
    'inf': ('def policy(goal):\n    return [0.0, float("inf"), 0.3]\n', 'not finite: distance'),
    'syntax_error': ('def policy(goal)\n    return [0, 0, 0]\n', '^syntax error'),
    'no_policy': ('def controller(goal):\n    return [0, 0.1, 0.3]\n', 'no top-level'),
    'too_large': ('X = 1\n' * 2000 + GOOD, '^code too large'),
    # Attribute names the check once missed: match class patterns and format-string fields.
    'match_class_pattern': (
        'def policy(goal):\n    match 0.5:\n        case float(__class__=c):\n'
        '            return c\n',
        r'forbidden attribute \.__class__ \(match pattern\)',
    ),
    'format_field': (
        'def policy(goal):\n    return "{0.__class__}".format(goal)\n',
        r'forbidden format field \{0\.__class__\}',
    ),
    'format_map_field': (
        'def policy(goal):\n    return "{p.__globals__}".format_map({"p": policy})\n',
        r'forbidden format field \{p\.__globals__\}',
    ),
    'format_key_field': (
        'def policy(goal):\n    return "{0[__builtins__]}".format({})\n',
        r'forbidden format field',
    ),
    'format_built_at_run_time': (
        'def policy(goal):\n    return ("{0." + "_" * 2 + "class__}").format(goal)\n',
        r'forbidden attribute \.format \(only on a string literal\)',
    ),
    'str_format_unbound': (
        'def policy(goal):\n    return str.format(chr(123) + "0._x}", goal)\n',
        r'forbidden attribute \.format',
    ),
    'fstring_format_spec': (
        'def policy(goal):\n    return f"{goal:{\'{0.__class__}\'}}"\n',
        r'forbidden format field \{0\.__class__\}',
    ),
    'metaclass': (
        'class M:\n    pass\nclass Policy(metaclass=M):\n    def act(self, goal):\n'
        '        return [0.0, 0.1, 0.3]\n',
        'forbidden class keyword',
    ),
    'class_dunder_hook': (
        'class Policy:\n    def __init_subclass__(cls):\n        pass\n'
        '    def act(self, goal):\n        return [0.0, 0.1, 0.3]\n',
        'forbidden name __init_subclass__',
    ),
}


@pytest.mark.parametrize('case', sorted(HOSTILE))
def test_hostile_or_broken_code_is_contained_and_reported(scripted, tmp_path, case):
    target = tmp_path / 'written.txt'
    code, reason = HOSTILE[case]
    scripted.script.append(_answer(code.replace('{path!r}', repr(str(target))), GOOD))
    improver = PromptPO(_context(scripted, candidates=2), LIMITS)
    start = time.monotonic()
    step = next_policy(improver, _query())
    elapsed = time.monotonic() - start

    # The hostile candidate cost no trial; the good one is proposed.
    np.testing.assert_allclose(step.theta_next, GOOD_THETA)
    assert step.improver == 'promptpo' and step.details['candidate'] == 1
    (report,) = step.details['rejected']
    assert report['candidate'] == 0 and re.search(reason, report['reason']), report
    assert reason_is_recorded(step.details, report['reason'])
    assert not target.exists() and not list(tmp_path.iterdir())
    # Killed within the timeout (plus start-up of the good candidate and the HTTP round trip).
    assert elapsed < LIMITS.timeout_s + 1.5, elapsed


def reason_is_recorded(details: dict, reason: str) -> bool:
    """The details go into trials.jsonl: JSON-friendly and carrying the reason."""
    return reason in json.loads(json.dumps(details))['rejected'][0]['reason']


def test_promptpo_refuses_to_start_without_kernel_isolation(scripted, monkeypatch, tmp_path):
    monkeypatch.setenv('PATH', str(tmp_path))  # a machine without bubblewrap
    sandbox_kernel._check.cache_clear()
    try:
        with pytest.raises(ImproverFailed, match=r'kernel isolation.*bubblewrap \(bwrap\)'):
            PromptPO(_context(scripted))
        # The weaker sandbox is there on request, and says so in the log and the record.
        weaker = PromptPO(dataclasses.replace(_context(scripted, 1), promptpo_sandbox='rlimits'))
    finally:
        sandbox_kernel._check.cache_clear()
    scripted.script.append(_answer(GOOD))
    step = next_policy(weaker, _query())
    assert step.details['sandbox'] == {'isolation': 'rlimits', 'warning': weaker.warning}
    assert 'without kernel isolation' in weaker.warning


def test_the_record_names_the_kernel_sandbox(scripted):
    improver = PromptPO(_context(scripted, 1))
    assert improver.warning == ''
    scripted.script.append(_answer(GOOD))
    assert next_policy(improver, _query()).details['sandbox'] == {'isolation': 'kernel'}


def test_clipping_is_reported_and_theta_stays_in_bounds(scripted):
    scripted.script.append(_answer('def policy(goal):\n    return [5.0, -1.0, 0.3]\n'))
    step = next_policy(PromptPO(_context(scripted, 1), LIMITS), _query())
    np.testing.assert_allclose(step.theta_next, [0.35, 0.05, 0.3])
    assert step.details['clipped'] is True


def test_a_round_without_usable_code_retries_once_then_fails(scripted):
    bad = 'import os\ndef policy(goal):\n    return [0.0] * 3\n'
    scripted.script.extend([_answer(bad, 'def policy(goal):\n    return [1, 2]\n'), 'text:no'])
    improver = PromptPO(_context(scripted, candidates=2), LIMITS)
    with pytest.raises(ImproverFailed, match='no candidate gave a usable theta') as failure:
        next_policy(improver, _query())
    assert len(scripted.requests) == 2
    retry = scripted.requests[1]['messages']
    assert [m['role'] for m in retry] == ['system', 'user', 'assistant', 'user']
    assert 'forbidden import os' in retry[-1]['content'] and 'wrong shape' in retry[-1]['content']
    reasons = [r['reason'] for r in failure.value.details['rejected']]
    assert reasons[0].startswith('forbidden import os') and reasons[-1] == 'no ```python block'
    assert len(failure.value.details['llm']) == 2

    # With a fallback the planner still answers, and the record says why.
    scripted.script.extend([_answer(bad), _answer(bad)])
    step = next_policy(improver, _query(), make_improver('random_shooting'))
    assert step.improver == 'random_shooting'
    assert step.details['failed']['rejected'][0]['reason'].startswith('forbidden import os')


def test_trials_are_attributed_to_the_candidate_that_proposed_them(scripted):
    codes = [f'def policy(goal):\n    return [0.0, 0.1, {t}]\n' for t in (0.3, 0.4)]
    scripted.script.append(_answer(*codes))
    improver = PromptPO(_context(scripted, candidates=2), LIMITS)
    first = improver.propose(_query(error=(0.2, 0.0)))
    assert first.details['scored'] == {'source': 'initial theta', 'cost': 0.2}
    second = improver.propose(_query(first.theta, error=(0.1, 0.0)))
    assert second.details['scored'] == {'round': 1, 'candidate': 0, 'cost': 0.1}
    assert second.details['best']['candidate'] == 0
    # Something else was executed (a fallback): not attributed to candidate 1.
    scripted.script.append(_answer(GOOD))
    third = improver.propose(_query((0.1, 0.1, 0.3), error=(0.05, 0.0)))
    assert third.details['scored']['source'] == 'theta not from a candidate'
    prompt = scripted.requests[1]['messages'][1]['content']
    assert '- candidate 1 (code ' in prompt and 'not executed' in prompt


# --- the layers under the static check ------------------------------------------------------

ESCAPE = """
def policy(goal):
    for c in ().__class__.__base__.__subclasses__():
        if c.__name__ == '_wrap_close':
            os = c.__init__.__globals__
    {action}
    return [0.0, 0.1, 0.3]
"""


@pytest.mark.parametrize(
    ('action', 'reason'),
    [
        ('import os', r'forbidden import os \(runtime\)'),
        ('__import__("socket")', r'forbidden import socket \(runtime\)'),
        ('open({path!r}, "w")', "name 'open' is not defined"),
        ('os["fork"]()', r'BlockingIOError|Resource temporarily unavailable'),
        ('if os["system"]("echo x > {path}"):\n        raise RuntimeError("no shell")', 'no shell'),
        ('os["open"]({path!r}, os["O_WRONLY"] | os["O_CREAT"])', 'Too many open files'),
        ('os["__builtins__"]["__import__"]("socket")', 'Too many open files'),
        ('x = " " * 10**9', '^MemoryError'),
    ],
    ids=['import', 'dunder_import', 'open', 'fork', 'system', 'os_open', 'socket', 'memory'],
)
def test_runtime_and_process_layers_hold_without_the_static_check(tmp_path, action, reason):
    """The weaker isolation 'rlimits' (no kernel layer): layers 2 and 3 on their own."""
    target = tmp_path / 'escaped.txt'
    code = ESCAPE.format(action=action.format(path=str(target)))
    with pytest.raises(Exception, match='forbidden'):
        check_code(code)  # layer 1 would have refused it
    result = evaluate_policy(TASK, code, GOAL, RLIMITS_ONLY, static_check=False)
    assert not result.ok and re.search(reason, result.reason), result
    assert not target.exists()


def test_cpu_limit_kills_a_busy_loop_before_a_long_wall_timeout():
    code = 'def policy(goal):\n    while True:\n        pass\n'
    result = evaluate_policy(TASK, code, GOAL, SandboxLimits(timeout_s=10.0, cpu_s=0.5))
    assert result.reason == 'CPU time limit exceeded' and result.seconds < 4.0, result


def test_the_child_gets_no_secrets_and_runs_shut_in(monkeypatch):
    monkeypatch.setenv('OPENAI_API_KEY', 'sk-never-in-the-sandbox')
    code = ESCAPE.format(action='print(dict(os["environ"]))')
    result = evaluate_policy(TASK, code, GOAL, LIMITS, static_check=False)
    assert result.ok and 'OPENBLAS_NUM_THREADS' in result.printed
    assert 'sk-never' not in result.printed and "'PATH'" not in result.printed
    assert result.limits['address_space_mb'] < 1024 and result.limits['cpu_s'] <= 3
    assert result.limits['uid'] != 0  # root drops to nobody
    assert result.limits['seccomp'] is True and result.limits['uid'] == 65534  # kernel layer


STATEFUL = """
import numpy as np


class Policy:
    \"\"\"A typical LLM answer: a class with state and an act method.\"\"\"

    def __init__(self):
        self.base = np.array([0.0, 0.1, 0.3])
        self.calls = 0

    def __repr__(self):
        return f"Policy({self.calls:d} calls, {'{:.3f}'.format(self.base[0])})"

    def act(self, goal):
        self.calls += 1
        return (self.base + 0.1 * goal[1]).tolist()
"""


@pytest.mark.parametrize(
    'code',
    [STATEFUL, STATEFUL + '\n\ndef policy(goal):\n    return Policy().act(goal)\n'],
    ids=['class_only', 'class_and_function'],
)
def test_class_policy_answers_are_accepted(code):
    check_code(code)
    result = evaluate_policy(TASK, code, GOAL, LIMITS)
    assert result.ok, result
    np.testing.assert_allclose(result.theta, [0.003, 0.103, 0.303])


def test_numpy_methods_that_import_from_c_work_and_user_imports_stay_refused():
    """ndarray.min()/mean()/std() import numpy._core._methods from C through __import__."""
    code = (
        'import numpy as np\n\ndef policy(goal):\n    g = np.array(goal)\n'
        '    return [g.min() * 0, 0.1 + g.std() * 0, 0.3 + 0 * g.mean() + 0 * g.max()]\n'
    )
    result = evaluate_policy(TASK, code, GOAL, LIMITS)
    assert result.ok, result
    for statement in ('import numpy._core._methods', 'from numpy._core import _methods'):
        code = f'{statement}\n\ndef policy(goal):\n    return {GOOD_THETA}\n'
        result = evaluate_policy(TASK, code, GOAL, LIMITS, static_check=False)
        assert re.search(r'^ImportError: forbidden import numpy\._core', result.reason), result


def test_secret_values_are_redacted_from_reasons_and_prints(monkeypatch):
    secret = 'sk-redact-me-0123456789'
    monkeypatch.setenv('OPENAI_API_KEY', secret)
    code = f'def policy(goal):\n    raise RuntimeError({secret!r})\n'
    result = evaluate_policy(TASK, code, GOAL, RLIMITS_ONLY)
    assert not result.ok and result.reason.startswith('RuntimeError: [redacted]'), result
    code = f'def policy(goal):\n    print({secret[::-1]!r}[::-1])\n    return {GOOD_THETA}\n'
    result = evaluate_policy(TASK, code, GOAL, RLIMITS_ONLY)
    assert result.printed == '[redacted]\n' and secret not in json.dumps(result.as_dict())


def test_extract_code_and_good_policies_with_numpy_and_math():
    text = 'a\n```python\nx = 1\n```\nb\n```py\ny = 2\n```\n```\nz = 3\n```'
    assert extract_code(text) == ['x = 1\n', 'y = 2\n', 'z = 3\n']
    assert extract_code('def policy(goal):\n    return [0, 0, 0]') == [
        'def policy(goal):\n    return [0, 0, 0]\n'
    ]
    code = (
        'import math\nfrom numpy.linalg import norm\nimport numpy as np\n\n'
        'def policy(goal):\n    print("goal", goal)\n'
        '    return [math.atan2(goal[1], goal[0]), 0.05 + 0.1 * norm(goal) / 2, 0.3]\n'
    )
    result = evaluate_policy(TASK, code, GOAL, LIMITS)
    assert result.ok and not result.clipped and result.printed.startswith('goal [0.86')
    np.testing.assert_allclose(result.theta[0], np.arctan2(0.03, 0.86))


def test_state_belongs_to_a_run_and_survives_a_restart_and_a_resume(scripted):
    codes = [f'def policy(goal):\n    return [0.0, 0.1, {t}]\n' for t in (0.3, 0.4)]
    improver = PromptPO(_context(scripted, candidates=2), LIMITS)
    t0 = HistoryTrial(np.array([0.0, 0.1, 0.35]), GOAL + [0.2, 0.0])

    def ask(run_id, history, theta=(0.0, 0.1, 0.35), error=(0.2, 0.0), impr=improver):
        query = make_query(
            TASK, list(theta), error=list(error), goal=GOAL.tolist(), run_id=run_id,
            history=history,
        )  # fmt: skip
        return impr.propose(query)

    scripted.script.append(_answer(*codes))
    first = ask('run-a', ())
    assert first.details['trials'] == 1
    # A second run at the same goal starts its own episode: a new round, no shared trials.
    scripted.script.append(_answer(*codes))
    other = ask('run-b', ())
    assert other.details['new_round'] == 1 and other.details['trials'] == 1
    # Run a resumed: its last trial asked about again is not counted twice.
    again = ask('run-a', ())
    assert again.details['trials'] == 1
    # A restarted planner (a new improver) learns run a's earlier trials from the history.
    scripted.script.append(_answer(*codes))
    restarted = PromptPO(_context(scripted, candidates=2), LIMITS)
    later = ask('run-a', (t0,), first.theta, (0.1, 0.0), restarted)
    assert later.details['trials'] == 2
