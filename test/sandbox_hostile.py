# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Hostile policies run with the Python layers switched off: the kernel sandbox must hold.

Each attack gets the real builtins and importer (os, socket, ctypes, subprocess) and no
static check, through `icpi_ros.core.promptpo.sandbox.run_in_child(..., restricted=False)`, the path
PromptPO uses otherwise. Every attack that succeeds returns a theta (so the result is ok) or
raises with what it got (so it shows up in the reason). Used in-process by
test/core/promptpo/test_sandbox_kernel.py, and as a script (`python sandbox_hostile.py JSON`) run by
an unprivileged user: it prints {attack: {answer, stdout, stderr}} as JSON.
"""

import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from icpi_ros.core.promptpo import sandbox

THETA = '[0.0, 0.1, 0.3]'
ATTACKS = {
    'read_passwd': 'raise RuntimeError(open("/etc/passwd").read())',
    'read_init_environ': 'raise RuntimeError(open("/proc/1/environ").read())',
    'read_parent_environ': (
        'raise RuntimeError(open("/proc/{parent}/environ").read() '
        '+ open(f"/proc/{{os.getppid()}}/environ").read())'
    ),
    'close_stdin_then_open': 'os.close(0)\n    raise RuntimeError(open("/etc/hostname").read())',
    'os_open_via_ctypes': (
        'fd = ctypes.CDLL(None).open(b"/etc/passwd", 0)\n'
        '    raise RuntimeError("no file" if fd < 0 else os.read(fd, 4096))'
    ),
    'connect_loopback': 'socket.socket().connect(("127.0.0.1", {port}))',
    'socket_via_ctypes': (
        'if ctypes.CDLL(None).socket(2, 1, 0) < 0:\n        raise RuntimeError("no socket")'
    ),
    'kill_parent': 'os.kill({parent}, 9)\n    os.kill(os.getppid(), 9)',
    'fork': 'if os.fork() == 0:\n        os._exit(0)',
    'subprocess': 'subprocess.run(["/bin/sh", "-c", "id > {target}"], check=True)',
    'write_file': 'open("{target}", "w").write("x")',
    'write_1gb_stdout': 'b = b"x" * 2**20\n    for _ in range(1024):\n        os.write(1, b)',
    'allocate_beyond_memory': 'x = bytearray(2**30)\n    x[::4096] = b"x" * len(x[::4096])',
    'spin_beyond_cpu': 'while True:\n        pass',
}
# What each attack must be stopped by (a regular expression on the reason).
EXPECTED = {
    'read_passwd': 'PermissionError|FileNotFoundError',
    'read_init_environ': 'PermissionError|FileNotFoundError',
    'read_parent_environ': 'PermissionError|FileNotFoundError',
    'close_stdin_then_open': 'PermissionError|FileNotFoundError',
    'os_open_via_ctypes': 'no file',
    'connect_loopback': 'PermissionError',
    'socket_via_ctypes': 'no socket',
    'kill_parent': 'PermissionError|ProcessLookupError',
    'fork': 'PermissionError|BlockingIOError',
    'subprocess': 'PermissionError|FileNotFoundError|BlockingIOError',
    'write_file': 'PermissionError|FileNotFoundError|OSError',
    'write_1gb_stdout': '^too chatty',
    'allocate_beyond_memory': '^MemoryError',
    'spin_beyond_cpu': '^CPU time limit exceeded',
}
LIMITS = sandbox.SandboxLimits(timeout_s=8.0, cpu_s=0.5)


def policy_code(attack: str, parent: int, port: int, target: str) -> str:
    """The attack as a policy with every import it could want."""
    body = ATTACKS[attack].format(parent=parent, port=port, target=target)
    return (
        'import os, socket, ctypes, subprocess\n\n'
        f'def policy(goal):\n    {body}\n    return {THETA}\n'
    )


def run_attacks(port: int, target: str, isolation: str = 'kernel') -> dict:
    """Run every attack unrestricted; return its answer and the child's raw output."""
    outputs: dict = {}
    communicate = sandbox._communicate

    def recording(proc, request, timeout_s):
        out, err, problem = communicate(proc, request, timeout_s)
        outputs[json.loads(request)['code']] = (out, err)
        return out, err, problem

    sandbox._communicate = recording
    limits = sandbox.SandboxLimits(LIMITS.timeout_s, LIMITS.cpu_s, isolation=isolation)
    codes = {name: policy_code(name, os.getpid(), port, target) for name in ATTACKS}
    goal = np.array([0.86, 0.03])
    try:
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            answers = dict(
                zip(
                    codes,
                    pool.map(
                        lambda c: sandbox.run_in_child(c, goal, limits, restricted=False)[0],
                        codes.values(),
                    ),
                    strict=True,
                )
            )
    finally:
        sandbox._communicate = communicate
    result = {}
    for name, code in codes.items():
        out, err = outputs.get(code, (b'', b''))
        result[name] = {
            'answer': answers[name],
            'stdout': out[:4096].decode(errors='replace'),
            'stderr': err.decode(errors='replace'),
        }
    return result


def main() -> int:
    """Run the attacks with the arguments in argv[1] (JSON: port, target, isolation)."""
    args = json.loads(sys.argv[1])
    result = run_attacks(args['port'], args['target'], args.get('isolation', 'kernel'))
    result['_parent'] = {'uid': os.getuid(), 'alive': True}
    print(json.dumps(result))
    return 0


if __name__ == '__main__':
    sys.exit(main())
