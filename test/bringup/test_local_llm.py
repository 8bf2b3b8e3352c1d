# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The embedded local LLM for real: llama.cpp's server on SmolLM2-135M from .venv-llm.

Needs `make setup-llm` (CI runs it before `make test`). The server is asked through the real
`openai` client; the planner of the sim graph reaches it over HTTP.
"""

import json
import re
import signal
import threading
import time
import urllib.error
import urllib.request

import openai
import pytest
from action_msgs.msg import GoalStatus
from bringup_graph import running_graph

from icpi_ros.bringup import Bringup, sim_graph
from icpi_ros.demo import calibrate_sim_camera
from icpi_ros.local_llm import (
    SERVING,
    SMOLLM2_ALIAS,
    LocalLLMFailed,
    LocalLLMServer,
    llm_venv,
)

START_S = 120.0  # the model loads in about a second; generous for a loaded machine


@pytest.fixture(scope='module', autouse=True)
def _llm_venv():
    if not (llm_venv() / 'bin' / 'python').is_file():
        pytest.fail(f'no local LLM at {llm_venv()}: run `make setup-llm` first')


def _serve(ros_graph, *args: str):
    server = ros_graph.start('icpi_llm', ['icpi', 'llm', 'serve', '--port', '0', *args])
    match = server.wait_for_output(SERVING, START_S)
    return server, match['base_url'], match['model']


def _refused(base_url: str) -> bool:
    try:
        urllib.request.urlopen(f'{base_url}/models', timeout=2.0).close()
    except (urllib.error.URLError, ConnectionError):
        return True
    return False


def test_serve_answers_chat_and_completions_then_stops_on_ctrl_c(ros_graph):
    server, base_url, model = _serve(ros_graph)
    assert re.fullmatch(r'http://127\.0\.0\.1:\d+/v1', base_url) and model == SMOLLM2_ALIAS
    client = openai.OpenAI(base_url=base_url, api_key='none', timeout=60.0, max_retries=0)
    chat = client.chat.completions.create(
        model=model,
        messages=[{'role': 'user', 'content': 'Name one colour.'}],
        max_tokens=16,
        temperature=0.0,
    )
    assert chat.model == model and chat.choices[0].message.content.strip()
    assert chat.usage.completion_tokens > 0
    text = client.completions.create(
        model=model, prompt='1, 2, 3, 4,', max_tokens=8, temperature=0.0
    )
    assert text.choices[0].text.strip()
    code = server.stop(timeout=20.0)  # SIGINT, as Ctrl-C
    server.assert_clean_exit(code)
    assert server.output('stdout').splitlines() == [f'serving {base_url} model {model}']
    assert _refused(base_url)  # the server process went with it


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGINT], ids=['sigterm', 'double-sigint'])
def test_serve_stops_cleanly_on_sigterm_and_on_two_sigints(ros_graph, sig):
    server, base_url, _ = _serve(ros_graph)
    server.proc.send_signal(sig)
    if sig == signal.SIGINT:  # a terminal's Ctrl-C and ros2 launch's, milliseconds apart
        server.proc.send_signal(sig)
    server.assert_clean_exit(server.wait(timeout=20.0))
    assert _refused(base_url)


def test_ctrl_c_while_the_server_is_answering_stops_it_in_time(ros_graph):
    """llama.cpp cannot be interrupted mid-answer: the server is killed, icpi still exits 0.

    Within 5 s: ros2 launch escalates to SIGTERM 5 s after its SIGINT.
    """
    server, base_url, model = _serve(ros_graph)
    client = openai.OpenAI(base_url=base_url, api_key='none', timeout=120.0, max_retries=0)
    failures = []
    long = {'max_tokens': 2000, 'extra_body': {'min_tokens': 2000}}  # about 20 s here

    def ask() -> None:
        try:
            client.completions.create(model=model, prompt='Count: 1, 2, 3,', **long)
        except openai.APIConnectionError as exc:
            failures.append(exc)

    asking = threading.Thread(target=ask)
    asking.start()
    # The request is sent within milliseconds; 2000 tokens take far longer than 2 s here.
    # (The server logs a request only once answered, so there is no line to wait for.)
    time.sleep(2.0)
    started = time.monotonic()
    server.proc.send_signal(signal.SIGINT)
    server.assert_clean_exit(server.wait(timeout=20.0))
    assert time.monotonic() - started < 5.0
    asking.join(timeout=30.0)
    assert failures, 'the answer should have been cut off by the stop'
    assert 'the server was busy answering; killed it' in server.output('stderr')


def test_local_llm_server_from_python(tmp_path):
    log = (tmp_path / 'server.log').open('w')
    with LocalLLMServer(log=log) as server:
        assert server.poll() is None and server.model == SMOLLM2_ALIAS
        with urllib.request.urlopen(f'{server.base_url}/models', timeout=5.0) as response:
            assert [m['id'] for m in json.load(response)['data']] == [SMOLLM2_ALIAS]
    assert server.poll() is not None and server.stop() == 0
    assert _refused(server.base_url)
    assert 'Application shutdown complete' in (tmp_path / 'server.log').read_text()


def test_a_server_that_cannot_load_the_model_is_reported(tmp_path):
    broken = tmp_path / 'broken.gguf'
    broken.write_bytes(b'GGUF' + bytes(64))  # the magic, then nothing a loader can use
    server = LocalLLMServer(str(broken), log=(tmp_path / 'server.log').open('w'))
    with pytest.raises(LocalLLMFailed, match='exited with code 1 before serving'):
        server.start(timeout_s=START_S)
    assert 'Failed to load model' in (tmp_path / 'server.log').read_text()


def test_the_planner_of_the_local_llm_graph_asks_the_server(tmp_path):
    specs = sim_graph(tmp_path / 'calibration.yaml', local_llm=True)
    server_spec = specs[0]
    graph = Bringup([s for s in specs if s.name in ('local_llm', 'icpi_planner')], tmp_path)
    try:
        server, planner = graph.start(timeout_s=START_S)
        assert "improver 'llm'" in planner.output()  # auto: llm, since an endpoint is set
        done = graph.graph.run(
            [
                'icpi',
                'next-policy',
                '--json',
                '--timeout',
                '60',
                '--task',
                'slide-gc',
                '--theta',
                '0.05,0.1,0.3',
                '--error',
                '0.04,-0.01',
            ],
            timeout=90,
        )
        assert 'Traceback' not in done.stderr, done.stderr
        resp = json.loads(done.stdout)
        # SmolLM2-135M may answer with prose, which the improver rejects; either way the
        # request went to the local server and its answer came back.
        assert resp['success'] or 'LLM answer rejected' in resp['message'], resp['message']
        assert re.search(r'"POST /v1/(chat/)?completions HTTP/1\.1" 200', server.output())
        assert server.output('stdout').splitlines()[0] == (
            f'serving {server_spec.base_url} model {SMOLLM2_ALIAS}'
        )
    finally:
        problems = graph.stop()
    assert not problems, problems


def test_icpi_improve_with_the_real_model_completes_and_records_every_exchange(ros_graph, tmp_path):
    """10 iterations of ICPI with SmolLM2-135M itself, the default chat form.

    A tiny model often answers with prose: those answers are refused, repaired, and the
    fallback answers; whatever it writes, the run completes and the counts add up.
    """
    server, base_url, model = _serve(ros_graph)
    record = tmp_path / 'improve.jsonl'
    ros_graph.env.update(OPENAI_BASE_URL=base_url, ICPI_LLM_MODEL=model)
    done = ros_graph.run(
        ['icpi', 'improve', '--task', 'slide-gc', '--improver', 'llm', '--iterations', '10',
         '--seed', '3', '--json', '--record', str(record)],
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary['status'] == 'succeeded' and len(summary['costs']) == 10
    assert summary['steps'] == 9 and summary['failed_steps'] == 0
    assert summary['llm_steps'] + summary['fallback_steps'] == 9
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [line['iteration'] for line in lines] == list(range(10))
    exchanges = 0
    for line in lines[1:]:
        details = line['planner']
        asked = details.get('exchanges') or details['failed']['exchanges']
        assert all(e.get('error') or (e['model'] == model and e['latency_s'] > 0) for e in asked)
        if line['improver'] == 'llm':
            assert not asked[-1].get('refused') and len(asked) == details['repairs'] + 1
        else:  # every try refused, each with its reason
            assert line['improver'] == 'knn_linear' and len(asked) == 3
            assert all(e['refused'] for e in asked)
        exchanges += len(asked)
    log = server.output()
    assert len(re.findall(r'"POST /v1/chat/completions HTTP/1\.1" 200', log)) == exchanges
    server.assert_clean_exit(server.stop(timeout=20.0))


def test_an_improve_goal_through_the_graph_with_local_llm(tmp_path):
    calibration = tmp_path / 'calibration.yaml'
    calibrate_sim_camera('slide-gc', calibration)
    runs = tmp_path / 'runs'
    bringup = Bringup(sim_graph(calibration, 'auto', 0.0, runs, local_llm=True), tmp_path)
    with running_graph(bringup, 'local_llm_test') as client:
        status, result = client.improve('slide-gc', [0.86, 0.03], max_iterations=3)
    assert status == GoalStatus.STATUS_SUCCEEDED, result.error_msg
    summary = json.loads((runs / result.run_id / 'summary.json').read_text())
    assert summary['status'] == 'succeeded' and summary['iterations'] == 3
    assert summary['steps'] == 2 and summary['failed_steps'] == 0
    assert summary['llm_steps'] + summary['fallback_steps'] == 2
    trials = [
        json.loads(line)
        for line in (runs / result.run_id / 'trials.jsonl').read_text().splitlines()
    ]
    for trial in trials[1:]:
        planner = trial['planner']
        asked = planner.get('exchanges') or planner['failed']['exchanges']
        # Each exchange is the model's answer, or the error of a call that got none (a
        # timeout on a loaded machine): recorded either way.
        assert asked and all(e.get('model') == SMOLLM2_ALIAS or e.get('error') for e in asked)
