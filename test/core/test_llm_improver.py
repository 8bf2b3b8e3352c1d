# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The ICPI LLM path through the real `openai` client.

The paid LLM service is replaced by a loopback OpenAI-compatible HTTP server started by these
tests (test/openai_loopback.py); it answers with a delta computed from the examples it is shown.
"""

import json
import re
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
    resolve_fallback,
)
from icpi_ros.core.llm import LLMClient, LLMConfig, LLMError
from icpi_ros.core.loop import improve
from icpi_ros.core.paths import data_dir
from icpi_ros.core.planning import make_query, next_policy, step_counts
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
    (exchange,) = step.details['exchanges']
    assert exchange['attempts'] == attempts
    assert len(exchange['retried_errors']) == attempts - 1
    assert len(llm.requests) == attempts


def test_gives_up_after_the_retries(llm):
    llm.script.extend(['500'] * 3)
    with pytest.raises(ImproverFailed, match=r'gave up after 3 attempts: InternalServerError'):
        next_policy(make_improver('llm', _context(llm)), _query())
    assert len(llm.requests) == 3


@pytest.mark.parametrize(
    ('answer', 'message'),
    [
        ('text:Sure! Here is the change you asked for.', 'words among the numbers'),
        ('text:0.01 0.02', 'lines of 2 numbers'),
        ('text:0.01 0.02 0.03 0.04', 'lines of 4 numbers'),
        ('text:0.01 nan 0.02', 'not finite'),
        ('text:0.01 inf 0.02', 'not finite'),
        ('text:0.01 1e999 0.02', 'not finite'),
        ('text:5.0 0.0 0.0', r'change of angle \(5\) exceeds 0.7'),
        ('text:0.01 0.02 0.03 because', 'words among the numbers'),
        ('length', 'cut off'),
    ],
)
def test_unusable_answers_are_rejected(llm, answer, message):
    llm.script.append(answer)
    with pytest.raises(ImproverFailed, match=message) as failure:
        next_policy(make_improver('llm', _context(llm, repair_attempts=0)), _query())
    (exchange,) = failure.value.details['exchanges']
    if answer.startswith('text:'):
        assert exchange['response'] == answer.removeprefix('text:')
    assert re.search(message, exchange['refused'])
    assert 'messages' in failure.value.details  # the record keeps the failed exchange


@pytest.mark.parametrize(
    'style', ['wrapped', 'fenced', 'think', 'labelled', 'reasoning_field', 'answer']
)
def test_answers_as_chat_models_write_them(llm, style):
    llm.script.append(style)
    step = next_policy(make_improver('llm', _context(llm, repair_attempts=0)), _query())
    expected = [float(v) for v in llm.answer_text(llm.requests[0]).split()]
    np.testing.assert_allclose(step.details['delta_theta'], expected)
    assert step.details['repairs'] == 0
    if style == 'reasoning_field':
        assert step.details['exchanges'][0]['reasoning'] == 'Averaging the nearest deltas.'


def test_answers_in_accepted_forms(llm):
    llm.script.extend(['text:-> 0.01, -0.002, 0.003\n', 'text:  +1e-2 -2E-3 .003 '])
    improver = make_improver('llm', _context(llm))
    for _ in range(2):
        step = next_policy(improver, _query())
        np.testing.assert_allclose(step.delta_theta, [0.01, -0.002, 0.003])


def test_a_refused_answer_is_repaired(llm):
    llm.script.extend(['text:I would lower the angle a little.', 'length', 'answer'])
    step = next_policy(make_improver('llm', _context(llm)), _query())
    assert step.improver == 'llm'
    assert step.details['repairs'] == 2
    assert len(llm.requests) == 3
    first, second, third = (r['messages'] for r in llm.requests)
    assert [m['role'] for m in third] == ['system', 'user', *['assistant', 'user'] * 2]
    assert third[:2] == first and second == third[:4]
    assert third[2]['content'] == 'I would lower the angle a little.'
    assert 'refused: expected a line of exactly 3 numbers' in third[3]['content']
    assert 'cut off' in third[5]['content']
    exchanges = step.details['exchanges']
    assert [bool(e.get('refused')) for e in exchanges] == [True, True, False]
    assert exchanges[0]['repair_prompt'] == third[3]['content']
    assert step.details['usage']['total_tokens'] == 3 * 512
    assert step_counts([('llm', step.details)]) == {
        'steps': 1,
        'llm_steps': 1,
        'repaired_steps': 1,
        'fallback_steps': 0,
        'failed_steps': 0,
    }


def test_always_refused_falls_back_and_is_counted(llm):
    llm.script.extend(['text:I cannot help with that.'] * 3)
    context = _context(llm)
    fallback = resolve_fallback('auto', 'llm', TASK.name, context.examples)
    assert fallback == 'knn_linear'
    step = next_policy(make_improver('llm', context), _query(), make_improver(fallback, context))
    assert step.improver == 'knn_linear'
    assert step.fallback_reason.startswith('llm failed: LLM answer rejected 3 times')
    failed = step.details['failed']
    assert [e['response'] for e in failed['exchanges']] == ['I cannot help with that.'] * 3
    assert np.all((step.theta_next >= TASK.theta_low) & (step.theta_next <= TASK.theta_high))
    counts = step_counts([('', {}), ('knn_linear', step.details)], failed_steps=0)
    assert counts['fallback_steps'] == 1 and counts['llm_steps'] == 0
    assert resolve_fallback('none', 'llm', TASK.name, context.examples) is None
    assert resolve_fallback('auto', 'knn_mean', TASK.name, context.examples) is None
    assert resolve_fallback('auto', 'llm', 'no-such-task', context.examples) is None


def test_a_run_whose_steps_fail_keeps_its_trials_and_counts_them(llm):
    llm.script.extend(['text:no idea'] * 3)
    goal = np.array([0.85, 0.0])
    result = improve(
        TASK,
        lambda theta: goal + 0.01,
        goal,
        TASK.theta_middle(),
        make_improver('llm', _context(llm)),
        iterations=5,
    )
    assert result.status == 'failed'
    assert len(result.iterations) == 1 and result.failed_step.iteration == 0
    assert len(result.failed_step.details['exchanges']) == 3
    summary = result.summary('llm')
    assert (summary['status'], summary['failed_steps'], summary['llm_steps']) == ('failed', 1, 0)
    assert 'rejected 3 times' in summary['message']


def test_a_reasoning_model_is_met_as_it_is(llm):
    llm.reasoning_model = True
    notes = []
    context = _context(llm)
    context.log = notes.append
    improver = make_improver('llm', context)
    step = next_policy(improver, _query())
    assert step.improver == 'llm'
    assert len(llm.requests) == 3  # max_tokens refused, then temperature, then answered
    last = llm.requests[-1]
    assert 'max_tokens' not in last and 'temperature' not in last
    assert last['max_completion_tokens'] == 64
    assert len(notes) == 2 and 'max_completion_tokens' in notes[0] and 'temperature' in notes[1]
    next_policy(improver, _query())
    assert len(llm.requests) == 4  # remembered for the client's life
    # Configured as one, it asks right the first time.
    llm.requests.clear()
    next_policy(make_improver('llm', _context(llm, reasoning=True)), _query())
    assert len(llm.requests) == 1


def test_other_bad_requests_are_not_retried(llm):
    llm.script.append('400')
    with pytest.raises(ImproverFailed, match=r'BadRequestError \(HTTP 400\).*not retried'):
        next_policy(make_improver('llm', _context(llm)), _query())
    assert len(llm.requests) == 1


def test_the_completions_form(llm):
    step = next_policy(make_improver('llm', _context(llm, api='completions')), _query())
    (request,) = llm.requests
    assert llm.paths == ['/v1/completions']
    assert request['stop'] == ['\n']
    lines = request['prompt'].splitlines()
    assert len(lines) == 21 and lines[-1].endswith('->')
    assert step.details['prompt'] == request['prompt']
    np.testing.assert_allclose(
        step.details['delta_theta'], [float(v) for v in llm.answer_text(request).split()]
    )
    # No turns to repair with: the same prompt again, at a higher temperature.
    llm.requests.clear()
    llm.script.extend(['text: 0.01 0.02', 'answer'])
    step = next_policy(make_improver('llm', _context(llm, api='completions')), _query())
    assert step.details['repairs'] == 1
    assert [r['temperature'] for r in llm.requests] == [0, 0.7]
    assert llm.requests[0]['prompt'] == llm.requests[1]['prompt']


def test_a_model_without_a_system_role(llm):
    next_policy(make_improver('llm', _context(llm, system_role=False)), _query())
    (message,) = llm.requests[0]['messages']
    assert message['role'] == 'user'
    assert message['content'].startswith('You improve a robot motion.')
    assert message['content'].splitlines()[-1].endswith('->')


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
