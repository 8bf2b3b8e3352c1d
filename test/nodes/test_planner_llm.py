# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""icpi_planner with the llm improver, across processes, against a loopback LLM endpoint.

The paid LLM service is replaced by an OpenAI-compatible HTTP server on 127.0.0.1 started by
this test (test/openai_loopback.py); the planner reaches it through the real `openai` client.
"""

import json

import numpy as np
import pytest
from openai_loopback import LoopbackLLM

READY = r'\[icpi_planner\]: ready'
QUERY = ['--task', 'slide-gc', '--theta', '0.05,0.1,0.3', '--error', '0.04,-0.01']
SECRET = 'sk-node-test-secret-42'


@pytest.fixture
def loopback():
    with LoopbackLLM() as server:
        yield server


def _call(ros_graph, *extra: str):
    argv = ['icpi', 'next-policy', '--json', '--timeout', '20', *QUERY, *extra]
    done = ros_graph.run(argv, timeout=40)
    assert 'Traceback' not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def _planner(ros_graph, loopback, *params: str):
    ros_graph.env['OPENAI_API_KEY'] = SECRET
    argv = [
        'icpi_planner',
        '--ros-args',
        '-p',
        f'llm.base_url:={loopback.base_url}',
        '-p',
        'llm.model:=loopback-model',
        '-p',
        'llm.timeout_s:=2.0',
    ]
    for p in params:
        argv += ['-p', p]
    return ros_graph.start('icpi_planner', argv, ready=READY)


def test_llm_answer_is_served_and_recorded(ros_graph, loopback):
    planner = _planner(ros_graph, loopback)
    assert "improver 'llm'" in planner.output()  # auto picks llm when an endpoint is set
    code, resp = _call(ros_graph)
    assert code == 0 and resp['success'] and resp['improver_used'] == 'llm'
    request = loopback.requests[-1]
    assert request['model'] == 'loopback-model'
    served = np.array([float(v) for v in loopback.answer_text(request).split()])
    np.testing.assert_allclose(resp['delta_theta'], served, atol=1e-12)
    details = resp['details']
    assert details['response'] == loopback.answer_text(request)
    assert details['messages'] == request['messages']
    assert len(details['messages'][1]['content'].splitlines()) == 21
    # The key reaches the endpoint, and nothing else: not the response, not the log.
    assert loopback.headers[-1]['authorization'] == f'Bearer {SECRET}'
    assert SECRET not in json.dumps(resp)
    planner.assert_clean_exit(planner.stop())
    assert SECRET not in planner.output()


def test_failed_llm_fails_the_request_or_falls_back(ros_graph, loopback):
    planner = _planner(ros_graph, loopback, 'llm.max_retries:=1', 'fallback_improver:=none')
    loopback.script.extend(['500', '500'])
    code, resp = _call(ros_graph)
    assert code == 2 and not resp['success'] and resp['theta_next'] == []
    assert 'gave up after 2 attempts: InternalServerError' in resp['message']
    loopback.script.extend(['text:The answer is forty-two.'] * 3)
    code, resp = _call(ros_graph)
    assert code == 2 and 'LLM answer rejected 3 times' in resp['message']
    exchanges = resp['details']['exchanges']
    assert [e['response'] for e in exchanges] == ['The answer is forty-two.'] * 3
    planner.assert_clean_exit(planner.stop())

    # By default a refused answer is repaired, and knn_linear answers when repairs fail.
    planner = _planner(ros_graph, loopback)
    assert 'fallback auto' in planner.output()
    loopback.script.extend(['text:Let me think about it.', 'answer'])
    code, resp = _call(ros_graph)
    assert code == 0 and resp['improver_used'] == 'llm' and resp['details']['repairs'] == 1
    loopback.script.extend(['text:nan nan nan'] * 3)
    code, resp = _call(ros_graph)
    assert code == 0 and resp['success'] and resp['improver_used'] == 'knn_linear'
    assert 'fallback after: llm failed' in resp['message']
    assert resp['details']['failed']['exchanges'][0]['response'] == 'nan nan nan'
    planner.wait_for_output(r'next_policy used knn_linear: llm failed')
    planner.assert_clean_exit(planner.stop())


def test_offline_default_is_announced_once(ros_graph):
    for var in ('OPENAI_API_KEY', 'OPENAI_BASE_URL'):
        ros_graph.env.pop(var, None)
    planner = ros_graph.start('icpi_planner', ['icpi_planner'], ready=READY)
    for _ in range(3):
        code, resp = _call(ros_graph)
        assert code == 0 and resp['improver_used'] == 'knn_linear'
    code, resp = _call(ros_graph, '--improver', 'llm')
    assert code == 2 and 'improver unavailable: no LLM endpoint' in resp['message']
    planner.assert_clean_exit(planner.stop())
    assert planner.output().count('no LLM endpoint configured') == 1
