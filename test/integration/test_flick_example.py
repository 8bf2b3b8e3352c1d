# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The example plugin outside the package (examples/icpi_flick), installed as a lab would.

pip installs it (into a folder of its own, put on PYTHONPATH: the venv stays as it was); then
`icpi` sees its task, checks it, collects a dataset for it and improves it in simulation.
"""

import re
import subprocess

import pytest
from example_plugin import install_flick


@pytest.fixture(scope='module')
def flick_env(tmp_path_factory):
    return install_flick(tmp_path_factory.mktemp('site'))


def _icpi(env, *args, timeout=120):
    done = subprocess.run(['icpi', *args], capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_installed_plugin_task_is_listed_and_checked(flick_env):
    listed = _icpi(flick_env, 'tasks')
    assert re.search(r'^flick\s+theta: speed \[0.4, 1\] m/s', listed, re.MULTILINE)
    assert 'plugin icpi_flick: motion flick, outcome travel' in listed
    checked = _icpi(flick_env, 'tasks', '--check', 'flick')
    assert re.search(
        r'ok   flick \(icpi_flick\): 9 plans within limits; simulated outcome', checked
    )


def test_the_plugin_task_collects_and_improves(flick_env, tmp_path):
    out = tmp_path / 'flick.json'
    collected = _icpi(
        flick_env, 'dataset', 'collect', '--task', 'flick', '--rollouts', '40', '--out', str(out)
    )
    assert out.is_file() and 'examples of flick' in collected
    # With the dataset the plugin ships (its data/flick.json), the offline improver.
    improved = _icpi(flick_env, 'improve', '--task', 'flick', '--goal', '0.3', '--iterations', '6')
    final = float(re.search(r'final cost ([0-9.]+)', improved).group(1))
    first = float(re.search(r'\[ 1/6\].*cost ([0-9.]+) m', improved).group(1))
    assert final < 0.005 < first, improved  # from centimetres to millimetres
