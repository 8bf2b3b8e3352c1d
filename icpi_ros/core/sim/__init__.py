# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""MuJoCo simulation of the tasks: scenes, the simulator and the fast trial path.

MuJoCo picks its OpenGL backend once, when it is imported, from MUJOCO_GL. Unless the user set
it, this package picks a headless one first: EGL when an offscreen context can be made,
otherwise OSMesa (software). The choice is probed once in a subprocess and left in the
environment, so child processes inherit it.
"""

import os
import subprocess
import sys

_PROBE = (
    'import mujoco; '
    "r = mujoco.Renderer(mujoco.MjModel.from_xml_string('<mujoco/>'), 8, 8); r.render(); r.close()"
)


def _headless_backend() -> str:
    for backend in ('egl', 'osmesa'):
        try:
            done = subprocess.run(
                [sys.executable, '-c', _PROBE],
                env={**os.environ, 'MUJOCO_GL': backend},
                capture_output=True,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return backend
    return 'egl'  # neither works: rendering will fail with MuJoCo's own error message


if not os.environ.get('MUJOCO_GL'):
    os.environ['MUJOCO_GL'] = _headless_backend()
