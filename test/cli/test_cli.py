# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The `icpi` command without a running graph."""

import json
import subprocess

import pytest

from icpi_ros.cli import main


def _icpi(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(['icpi', *args], capture_output=True, text=True, timeout=60)


def test_help_works_from_the_installed_command():
    done = _icpi('--help')
    assert done.returncode == 0
    assert 'next-policy' in done.stdout and 'tasks' in done.stdout


def test_tasks_json(capsys):
    assert main(['tasks', '--json']) == 0
    tasks = json.loads(capsys.readouterr().out)
    assert tasks['slide']['parameters'][0]['name'] == 'angle'


def test_malformed_vector_argument_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(['next-policy', '--task', 'slide', '--theta', '0.1,abc'])
    assert exc.value.code == 2
    assert 'expected comma-separated numbers' in capsys.readouterr().err


def test_bad_tasks_file_is_reported_without_traceback(tmp_path, capsys):
    bad = tmp_path / 'tasks.yaml'
    bad.write_text('version: 1\ntasks: {}\n')
    assert main(['tasks', '--tasks-file', str(bad)]) == 2
    assert 'non-empty mapping' in capsys.readouterr().err


def test_sandbox_run_prints_the_result_of_the_promptpo_path(tmp_path):
    good = tmp_path / 'good.py'
    good.write_text('class Policy:\n    def act(self, goal):\n        return [9.0, 0.1, 0.3]\n')
    done = _icpi('sandbox-run', '--task', 'slide-gc', '--goal', '0.9,0.0', str(good), '--json')
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result['ok'] and result['theta'] == [0.35, 0.1, 0.3] and result['clipped']
    assert result['sandbox'] == 'kernel' and 0 < result['seconds'] < 10

    bad = tmp_path / 'bad.py'
    bad.write_text('def policy(goal):\n    return "{0.__class__}".format(goal)\n')
    done = _icpi('sandbox-run', '--task', 'slide-gc', str(bad))
    assert done.returncode == 2
    assert done.stdout.startswith('rejected at static: forbidden format field')
