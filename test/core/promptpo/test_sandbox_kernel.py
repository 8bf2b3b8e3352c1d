# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The kernel sandbox holds with the Python layers off, as root and as an unprivileged user.

The hostile suite (test/sandbox_hostile.py) runs policies that import os, socket, ctypes and
subprocess with the real builtins and no static check, in the one-shot sandbox and in act()
of the persistent policy process (`PolicyProcess`). The parent's environment holds a
canary secret; it must appear nowhere in what comes back. As root the suite also runs as a
throwaway uid (setpriv), from a tree of hard links (or copies) of the interpreter, numpy
and this package that the uid can read: /root, where pyenv lives, is not readable by it.
"""

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import sandbox_hostile
import yaml

import icpi_ros
from icpi_ros.core.promptpo import sandbox, sandbox_kernel

CANARY = f'sk-canary-{secrets.token_hex(8)}'
UNPRIVILEGED_UID = 43210

pytestmark = pytest.mark.skipif(
    sandbox.kernel_problem() is not None, reason=f'no kernel isolation: {sandbox.kernel_problem()}'
)


@pytest.fixture
def listener():
    """A TCP listener on 127.0.0.1 that no sandboxed policy may reach."""
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen()
    server.setblocking(False)
    yield server.getsockname()[1]
    try:
        conn, peer = server.accept()
    except BlockingIOError:
        conn = None
    finally:
        server.close()
    assert conn is None, f'a sandboxed policy connected to the listener from {peer}'


def _assert_contained(results: dict, target: Path) -> None:
    for name, pattern in sandbox_hostile.EXPECTED.items():
        entry = results[name]
        answer = entry['answer']
        assert not answer['ok'], (name, answer)
        assert re.search(pattern, answer['error']), (name, answer)
        assert CANARY not in json.dumps(entry), name  # answer, reason, stdout, stderr
    assert not target.exists()


MODES = {
    'one_shot': sandbox_hostile.run_attacks,
    'persistent': sandbox_hostile.run_persistent_attacks,
}


@pytest.mark.parametrize('mode', MODES)
def test_kernel_layer_holds_without_the_python_layers(listener, tmp_path, monkeypatch, mode):
    monkeypatch.setenv('OPENAI_API_KEY', CANARY)
    target = tmp_path / 'escaped.txt'
    results = MODES[mode](listener, str(target))
    _assert_contained(results, target)


def _link_tree(src: Path, dest: Path, skip: tuple[str, ...] = ()) -> None:
    """Hard-link (else copy) `src` into `dest`, directories readable by everyone."""
    if src.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dest)
        except OSError:  # another filesystem
            shutil.copy2(src, dest)
        return
    for root, dirs, files in os.walk(src):
        dirs[:] = [d for d in dirs if d not in skip]
        out = dest / Path(root).relative_to(src)
        out.mkdir(parents=True, exist_ok=True)
        out.chmod(0o755)
        for name in files:
            _link_tree(Path(root) / name, out / name)


def _readable_tree(top: Path) -> tuple[Path, Path]:
    """The interpreter, numpy, yaml, pyseccomp and icpi_ros where any uid can read them."""
    python = Path(sandbox_kernel.interpreter())
    prefix = Path(sys.base_prefix)
    lib = Path(os.__file__).parent
    tree = top / 'python'
    _link_tree(python, tree / python.relative_to(prefix))
    for so in (prefix / 'lib').glob('libpython*.so*'):
        _link_tree(so, tree / 'lib' / so.name)
    _link_tree(lib, tree / lib.relative_to(prefix), skip=('site-packages', 'test'))
    site = top / 'site'
    packages = Path(np.__file__).parents[1]
    for name in ('numpy', 'numpy.libs', 'pyseccomp.py'):
        _link_tree(packages / name, site / name)
    _link_tree(Path(yaml.__file__).parent, site / 'yaml')
    _link_tree(Path(icpi_ros.__file__).parent, site / 'icpi_ros', skip=('__pycache__',))
    _link_tree(Path(sandbox_hostile.__file__), top / 'sandbox_hostile.py')
    for path in (top, tree, site):
        path.chmod(0o755)
    return tree / python.relative_to(prefix), site


@pytest.mark.skipif(os.geteuid() != 0, reason='runs as a normal user already (test above)')
@pytest.mark.skipif(shutil.which('setpriv') is None, reason='needs setpriv (util-linux)')
@pytest.mark.parametrize('mode', MODES)
def test_kernel_layer_holds_for_an_unprivileged_user(listener, mode):
    with tempfile.TemporaryDirectory(prefix='icpi-unprivileged-') as tmp:
        top = Path(tmp)
        python, site = _readable_tree(top)
        writable = top / 'writable'  # the uid could write here outside the sandbox
        writable.mkdir(mode=0o777)
        writable.chmod(0o777)
        target = writable / 'escaped.txt'
        uid = str(UNPRIVILEGED_UID)
        env = {
            'PATH': os.environ.get('PATH', '/usr/bin:/bin'),
            'PYTHONPATH': str(site),
            'LD_LIBRARY_PATH': str(python.parents[1] / 'lib'),
            'OPENAI_API_KEY': CANARY,
        }
        args = json.dumps(
            {'port': listener, 'target': str(target), 'persistent': mode == 'persistent'}
        )
        command = ['setpriv', '--reuid', uid, '--regid', uid, '--clear-groups', '--']
        command += [str(python), str(top / 'sandbox_hostile.py'), args]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=120, env=env, cwd=tmp, check=False
        )
        assert done.returncode == 0, done.stderr[-2000:]
        results = json.loads(done.stdout)
        assert results.pop('_parent') == {'uid': UNPRIVILEGED_UID, 'alive': True}
        assert CANARY not in done.stderr
        _assert_contained(results, target)
