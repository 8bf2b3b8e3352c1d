# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""PromptPO closed loop joined up: LLM-written policies in the sandbox, driving MuJoCo push-gc.

Real sandboxed policy processes and real MuJoCo rollouts; the LLM service is replaced by the
loopback OpenAI-compatible server on 127.0.0.1 (test/openai_loopback.py, routed per request
kind in closed_loop_toy.RoutedLLM), a test stand-in.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
from closed_loop_toy import RoutedLLM, fence, pusher

from icpi_ros.core.closed_loop import rollout
from icpi_ros.core.llm import LLMConfig
from icpi_ros.core.promptpo.closed_loop_run import make_evaluate, run_search
from icpi_ros.core.promptpo.closed_loop_state import SearchSettings
from icpi_ros.core.promptpo.policy_process import SandboxFailed
from icpi_ros.core.tasks import load_tasks

PUSHER = pusher(1.5)
CRASHER = """class Policy:
    def act(self, obs):
        return [1.0 / (obs["time_left"] - obs["time_left"]), 0.0]
"""
TASK = load_tasks()['push-gc']
GOAL = [0.6, 0.05]


def _in_process(source: str):
    scope: dict = {}
    exec(compile(source, '<policy>', 'exec'), scope)
    return scope['Policy']()


def test_a_sandboxed_policy_drives_the_same_episode_as_in_process():
    evaluate = make_evaluate(TASK)
    [sandboxed] = evaluate(PUSHER, [GOAL], [3])
    direct = rollout(TASK, _in_process(PUSHER), GOAL, 3)
    assert not sandboxed.failed and sandboxed.missed_deadlines == 0
    # The same episode (to rounding: the child's JSON round trip and its numpy build).
    np.testing.assert_allclose(sandboxed.actions, direct.actions, rtol=1e-9, atol=1e-12)
    assert sandboxed.cost == pytest.approx(direct.cost, abs=1e-8)  # 0.01 µm
    assert np.isfinite(sandboxed.cost)


def test_a_crash_in_act_fails_the_episode_and_a_refused_program_is_not_rolled_out():
    evaluate = make_evaluate(TASK)
    [crashed] = evaluate(CRASHER, [GOAL], [0])
    assert 'ZeroDivisionError' in crashed.failed and crashed.failed.startswith('step 0')
    assert all(action == [0.0, 0.0] for action in crashed.actions)  # held from the start
    with pytest.raises(SandboxFailed, match='os'):
        evaluate('import os\n\n\nclass Policy:\n    def act(self, obs):\n        return [0, 0]\n',
                 [GOAL], [0])  # fmt: skip


@pytest.fixture
def llm(monkeypatch):
    monkeypatch.delenv('OPENAI_API_KEY', raising=False)
    with RoutedLLM() as server:
        yield server


def test_the_search_repairs_a_crash_and_keeps_the_best_on_push_gc(llm):
    llm.queues['policy'].extend([fence(CRASHER), fence(PUSHER)])
    llm.queues['repair'].append(fence(PUSHER.replace('1.5 * dist', '1.0 * dist')))
    config = LLMConfig(base_url=llm.base_url, model='loopback', backoff_s=0.01, timeout_s=5.0)
    settings = SearchSettings(rounds=1, candidates=2, episodes=1, reflection=False)
    result = run_search(TASK, config, settings)
    assert result.status == 'finished' and 'repair' in llm.kinds
    expected = [rollout(TASK, _in_process(PUSHER), goal, seed).cost for goal, seed in
                [(result.log['goals'][0], result.log['seeds'][0])]]  # fmt: skip
    assert result.best is not None and result.best.mean_cost <= expected[0] + 1e-8
    json.dumps(result.log, allow_nan=False)


def test_icpi_improve_runs_promptpo_on_push_gc(llm, tmp_path):
    record = tmp_path / 'search.json'
    done = subprocess.run(
        [sys.executable, '-m', 'icpi_ros.cli', 'improve', '--task', 'push-gc', '--improver',
         'promptpo', '--promptpo-rounds', '2', '--promptpo-candidates', '1',
         '--promptpo-episodes', '1', '--record', str(record), '--json'],
        env={**__import__('os').environ, 'OPENAI_BASE_URL': llm.base_url,
             'ICPI_LLM_MODEL': 'loopback'},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary['mode'] == 'closed-loop' and summary['status'] == 'finished'
    assert np.isfinite(summary['best_cost']) and '[round 2/2]' in done.stderr
    log = json.loads(record.read_text())
    assert len(log['rounds']) == 2 and log['summary'] == summary
    # The stand-in answers the same program twice: evaluated once, the copy named.
    assert summary['episodes_used'] == 1 and 'duplicate_of' in json.dumps(log['rounds'][1])
