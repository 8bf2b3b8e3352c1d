# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The ICPI LLM path through the real `openai` client.

The paid LLM service is replaced by a loopback OpenAI-compatible HTTP server started by these
tests (test/openai_loopback.py); it answers with a delta computed from the examples it is shown.
"""

import json
import threading
import time

import numpy as np
import pytest
from openai_loopback import LoopbackLLM, delta_from_prompt

from icpi_ros.core.dataset import load_dataset
from icpi_ros.core.improvers import (
    ImproverContext,
    ImproverFailed,
    make_improver,
    resolve_default,
)
from icpi_ros.core.llm import LLMClient, LLMConfig, LLMError
from icpi_ros.core.paths import data_dir
from icpi_ros.core.planning import make_query, next_policy
from icpi_ros.core.retrieval import ExampleLibrary
from icpi_ros.core.tasks import load_tasks

TASK = load_tasks()['slide-gc']
DATASET = load_dataset(data_dir() / 'slide-gc.json')
SECRET = 'sk-test-secret-0123456789'


@pytest.fixture
def llm(monkeypatch):
    monkeypatch.setenv('OPENAI_API_KEY', SECRET)
    with LoopbackLLM() as server:
        yield server


def _context(server: LoopbackLLM, **llm_kwargs) -> ImproverContext:
    library = ExampleLibrary()
    library.add(DATASET)
    settings = {'timeout_s': 2.0, 'max_retries': 2, 'backoff_s': 0.01, **llm_kwargs}
    config = LLMConfig(base_url=server.base_url, model='loopback-model', **settings)
    return ImproverContext(seed=0, k=20, examples=library, llm=config)


def _query(error=(0.04, -0.01)):
    return make_query(TASK, [0.05, 0.1, 0.3], error=list(error), goal=[0.85, 0.0])


def _brute_force_order(query, k=20):
    index = ExampleLibrary()
    index = index.add(DATASET)
    features = index.features(DATASET.blocks())
    x = index.query_features(query.theta, query.error, query.goal)
    return np.argsort(-np.linalg.norm(features - x, axis=1), kind='stable')[-k:]


def test_request_and_answer_round_trip(llm):
    query = _query()
    step = next_policy(make_improver('llm', _context(llm)), query)

    assert len(llm.requests) == 1
    request = llm.requests[0]
    assert request['model'] == 'loopback-model'
    assert request['temperature'] == 0
    assert [m['role'] for m in request['messages']] == ['system', 'user']
    lines = request['messages'][1]['content'].splitlines()
    assert len(lines) == 21  # k examples, then the query
    assert lines[-1] == '0.0500 0.1000 0.3000 | 0.0400 -0.0100 ->'
    # Examples far to near, exactly the brute-force order of the normalised distances.
    expected = _brute_force_order(query)
    for line, i in zip(lines[:-1], expected, strict=True):
        theta, error = line.split('->')[0].split('|')
        np.testing.assert_allclose([float(v) for v in theta.split()], DATASET.theta[i], atol=5e-5)
        np.testing.assert_allclose([float(v) for v in error.split()], DATASET.error[i], atol=5e-5)

    served = delta_from_prompt(request['messages'][1]['content'])
    np.testing.assert_allclose(step.theta_next, TASK.clip(query.theta + np.round(served, 6))[0])
    assert step.improver == 'llm'
    assert step.details['response'] == llm.answer_text(request)
    assert step.details['usage']['total_tokens'] > 0
    assert step.details['neighbours'] == expected.tolist()


def test_the_key_goes_to_the_endpoint_only(llm):
    step = next_policy(make_improver('llm', _context(llm)), _query())
    assert llm.headers[0]['authorization'] == f'Bearer {SECRET}'
    assert SECRET not in json.dumps(step.details)
    assert SECRET not in repr(_context(llm).llm)


@pytest.mark.parametrize(
    ('script', 'attempts'),
    [(['slow'], 2), (['429'], 2), (['500', '429'], 3)],
)
def test_retries_recover(llm, script, attempts):
    llm.slow_s = 1.0
    llm.script.extend(script)
    step = next_policy(make_improver('llm', _context(llm, timeout_s=0.5)), _query())
    assert step.details['attempts'] == attempts
    assert len(step.details['retried_errors']) == attempts - 1
    assert len(llm.requests) == attempts


def test_gives_up_after_the_retries(llm):
    llm.script.extend(['500'] * 3)
    with pytest.raises(ImproverFailed, match=r'gave up after 3 attempts: InternalServerError'):
        next_policy(make_improver('llm', _context(llm)), _query())
    assert len(llm.requests) == 3


@pytest.mark.parametrize(
    ('answer', 'message'),
    [
        ('text:Sure! Here is the change you asked for.', 'expected 3 numbers'),
        ('text:0.01 0.02', 'expected 3 numbers'),
        ('text:0.01 0.02 0.03 0.04', 'expected 3 numbers'),
        ('text:0.01 nan 0.02', "'nan' is not a number"),
        ('text:0.01 inf 0.02', "'inf' is not a number"),
        ('text:0.01 1e999 0.02', 'not finite'),
        ('text:5.0 0.0 0.0', r'change of angle \(5\) exceeds 0.7'),
        ('text:0.01 0.02 0.03 because', 'expected 3 numbers'),
    ],
)
def test_unusable_answers_are_rejected(llm, answer, message):
    llm.script.append(answer)
    with pytest.raises(ImproverFailed, match=message) as failure:
        next_policy(make_improver('llm', _context(llm)), _query())
    assert failure.value.details['response'] == answer.removeprefix('text:')
    assert 'messages' in failure.value.details  # the record keeps the failed exchange


def test_answers_in_accepted_forms(llm):
    llm.script.extend(['text:-> 0.01, -0.002, 0.003\n', 'text:  +1e-2 -2E-3 .003 '])
    improver = make_improver('llm', _context(llm))
    for _ in range(2):
        step = next_policy(improver, _query())
        np.testing.assert_allclose(step.delta_theta, [0.01, -0.002, 0.003])


def test_fallback_answers_when_the_llm_fails(llm):
    llm.script.append('text:I cannot help with that.')
    context = _context(llm)
    step = next_policy(
        make_improver('llm', context), _query(), make_improver('knn_linear', context)
    )
    assert step.improver == 'knn_linear'
    assert step.fallback_reason.startswith('llm failed: LLM answer rejected')
    assert step.details['failed']['response'] == 'I cannot help with that.'
    assert np.all((step.theta_next >= TASK.theta_low) & (step.theta_next <= TASK.theta_high))


def test_unsafe_answers_never_give_an_unsafe_theta(llm):
    """Whatever the model says, next_policy raises or returns a finite theta in bounds."""
    answers = ['text:0.35 0.1 -0.3', 'text:-0.7 -0.1 0.3', 'text:0.7 0.1 0.3', 'text:nan nan nan']
    llm.script.extend(answers)
    improver = make_improver('llm', _context(llm))
    for _ in answers:
        try:
            step = next_policy(improver, _query())
        except ImproverFailed:
            continue
        assert np.all(np.isfinite(step.theta_next))
        assert np.all((step.theta_next >= TASK.theta_low) & (step.theta_next <= TASK.theta_high))


def test_stop_interrupts_the_backoff(llm):
    llm.script.extend(['500'] * 5)
    stop = threading.Event()
    config = LLMConfig(base_url=llm.base_url, max_retries=4, backoff_s=30.0)
    client = LLMClient(config, stop)
    threading.Timer(0.3, stop.set).start()
    start = time.monotonic()
    with pytest.raises(LLMError, match='stopped while retrying'):
        client.complete([{'role': 'user', 'content': '1 | 2 -> 3\n4 | 5 ->'}])
    assert time.monotonic() - start < 5


def test_offline_default_and_endpoint_configuration(monkeypatch):
    for var in ('OPENAI_API_KEY', 'OPENAI_BASE_URL', 'ICPI_LLM_MODEL'):
        monkeypatch.delenv(var, raising=False)
    name, warning = resolve_default('auto', LLMConfig.from_env())
    assert name == 'knn_linear'
    assert 'no LLM endpoint configured' in warning
    assert resolve_default('bayes_opt', LLMConfig.from_env()) == ('bayes_opt', None)
    with pytest.raises(ImproverFailed, match='no LLM endpoint'):
        make_improver('llm', ImproverContext(examples=ExampleLibrary()))

    monkeypatch.setenv('OPENAI_BASE_URL', 'http://127.0.0.1:9/v1')
    monkeypatch.setenv('ICPI_LLM_MODEL', 'llama3')
    config = LLMConfig.from_env()
    assert (config.base_url, config.model) == ('http://127.0.0.1:9/v1', 'llama3')
    assert resolve_default('auto', config) == ('llm', None)
    # The parameter wins over the environment.
    assert LLMConfig.from_env('http://10.0.0.1:8000/v1', 'm').base_url == 'http://10.0.0.1:8000/v1'
    monkeypatch.delenv('OPENAI_BASE_URL')
    monkeypatch.setenv('OPENAI_API_KEY', SECRET)
    assert resolve_default('auto', LLMConfig.from_env()) == ('llm', None)


def test_connection_refused_is_retried_then_reported(monkeypatch):
    monkeypatch.delenv('OPENAI_API_KEY', raising=False)
    config = LLMConfig(base_url='http://127.0.0.1:9/v1', max_retries=1, backoff_s=0.01)
    with pytest.raises(LLMError, match='gave up after 2 attempts: APIConnectionError'):
        LLMClient(config).complete([{'role': 'user', 'content': 'x'}])
