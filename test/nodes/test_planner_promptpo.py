# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""icpi_planner serving promptpo across processes, with the `promptpo.candidates` parameter.

The paid LLM service is replaced by an OpenAI-compatible HTTP server on 127.0.0.1 started by
this test (test/openai_loopback.py), scripted to answer with policy code.
"""

import json
import shutil
from pathlib import Path

import numpy as np
from openai_loopback import LoopbackLLM

READY = r'\[icpi_planner\]: ready'
GOAL = '0.86,0.03'


def _call(ros_graph, theta: str, error: str):
    argv = ['icpi', 'next-policy', '--json', '--timeout', '30', '--task', 'slide-gc']
    argv += ['--theta', theta, '--error', error, '--goal', GOAL, '--improver', 'promptpo']
    done = ros_graph.run(argv, timeout=60)
    assert 'Traceback' not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def test_promptpo_candidates_are_served_one_per_request(ros_graph):
    codes = [f'def policy(goal):\n    return [0.0, 0.1, {t}]\n' for t in (0.3, 0.4, 0.45)]
    hostile = 'import socket\ndef policy(goal):\n    return [0.0, 0.1, 0.3]\n'
    blocks = '\n'.join(f'```python\n{c}```' for c in [hostile, *codes])
    with LoopbackLLM() as llm:
        llm.script.append(f'text:{blocks}')
        argv = ['icpi_planner', '--ros-args', '-p', f'llm.base_url:={llm.base_url}']
        argv += ['-p', 'promptpo.candidates:=3']
        planner = ros_graph.start('icpi_planner', argv, ready=READY)
        code, first = _call(ros_graph, '0.0,0.1,0.35', '0.05,-0.02')
        assert code == 0 and first['success'] and first['improver_used'] == 'promptpo'
        np.testing.assert_allclose(first['theta_next'], [0.0, 0.1, 0.3])
        details = first['details']
        # Three candidates asked for (the fourth block is ignored); the hostile one is reported.
        assert 'Answer with 3 different candidates' in llm.requests[0]['messages'][0]['content']
        assert details['ignored_blocks'] == 1
        assert details['rejected'][0]['reason'].startswith('forbidden import socket')
        assert details['sandbox'] == {'isolation': 'kernel'}
        code, second = _call(ros_graph, '0.0,0.1,0.3', '0.02,0.0')
        assert code == 0 and second['details']['scored']['candidate'] == 1
        np.testing.assert_allclose(second['theta_next'], [0.0, 0.1, 0.4])
        assert len(llm.requests) == 1
        planner.assert_clean_exit(planner.stop())


def test_without_bubblewrap_promptpo_refuses_to_start_unless_rlimits_is_asked(ros_graph, tmp_path):
    # A machine without bubblewrap: PATH holds only the node executables.
    ros_graph.env['PATH'] = str(Path(shutil.which('icpi_planner')).parent)
    argv = ['icpi_planner', '--ros-args', '-p', 'improver:=promptpo']
    argv += ['-p', 'llm.base_url:=http://127.0.0.1:9/v1']
    planner = ros_graph.start('icpi_planner', argv)
    assert planner.wait(timeout=30) == 1, planner.output()
    out = planner.output()
    assert 'cannot start: promptpo' in out and 'bubblewrap (bwrap) is not installed' in out
    assert 'promptpo.sandbox:=rlimits' in out and 'Traceback' not in out

    weaker = ros_graph.start(
        'icpi_planner', [*argv, '-p', 'promptpo.sandbox:=rlimits'], ready=READY, timeout=30
    )
    assert "promptpo sandbox 'rlimits'" in weaker.output() and 'WARN' in weaker.output()
    weaker.assert_clean_exit(weaker.stop())
