# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Install examples/icpi_flick as a lab would (pip), into a folder of its own on PYTHONPATH."""

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / 'examples' / 'icpi_flick'


def install_flick(target: Path) -> dict[str, str]:
    """Pip-install the example into `target`; return an environment that sees it."""
    done = subprocess.run(
        [
            sys.executable,
            '-m',
            'pip',
            'install',
            '-q',
            '--no-deps',
            '--target',
            str(target),
            str(EXAMPLE),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([str(target), env.get('PYTHONPATH', '')])
    return env


def simulated_outcome(env: dict[str, str], theta, goal) -> float:
    """The flick's simulated outcome for `theta` (in a process that sees the plugin)."""
    script = (
        'import sys, json, numpy as np\n'
        'from icpi_ros.core.sim.simulator import TrialRunner\n'
        'from icpi_ros.core.tasks import load_tasks\n'
        'runner = TrialRunner(load_tasks()["flick"])\n'
        'theta, goal = json.loads(sys.argv[1])\n'
        'print(float(runner.run(np.array(theta), np.array(goal)).outcome[0]))\n'
    )
    import json

    done = subprocess.run(
        [sys.executable, '-c', script, json.dumps([list(theta), list(goal)])],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return float(done.stdout.strip().splitlines()[-1])
