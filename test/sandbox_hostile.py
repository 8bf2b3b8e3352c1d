# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Hostile policies run with the Python layers switched off: the kernel sandbox must hold.

Each attack gets the real builtins and importer (os, socket, ctypes, subprocess) and no
static check, through `icpi_ros.core.promptpo.sandbox.run_in_child(..., restricted=False)`, the path
PromptPO uses otherwise, or (persistent) in `act()` of a `PolicyProcess(..., restricted=False)`.
Every attack that succeeds returns a theta or an action (so the result is ok) or raises with
what it got (so it shows up in the reason). Used in-process by
test/core/promptpo/test_sandbox_kernel.py, and as a script (`python sandbox_hostile.py JSON`) run by
an unprivileged user: it prints {attack: {answer, stdout, stderr}} as JSON.
"""

import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from icpi_ros.core.closed_loop import StepFailed
from icpi_ros.core.promptpo import sandbox
from icpi_ros.core.promptpo.policy_process import PolicyProcess

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
    'allocate_beyond_memory': '^(act raised )?MemoryError',
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


def closed_loop_code(attack: str, parent: int, port: int, target: str) -> str:
    """The attack in act() of a closed-loop policy class (answering [0, 0] if it got through)."""
    body = ATTACKS[attack].format(parent=parent, port=port, target=target).replace('\n', '\n    ')
    return (
        'import os, socket, ctypes, subprocess\n\n'
        'class Policy:\n    def act(self, obs):\n'
        f'        {body}\n        return [0.0, 0.0]\n'
    )


def _act_once(code: str, limits: sandbox.SandboxLimits) -> dict:
    """One act() in a persistent child with the Python layers off: the answer, or why not."""
    obs = {'puck': [0.8, 0.0], 'goal': [0.86, 0.03], 'time_left': 3.0}
    with PolicyProcess(
        code, limits, step_timeout_s=LIMITS.timeout_s, static_check=False, restricted=False
    ) as policy:
        try:
            policy.reset([0.86, 0.03])
            return {'answer': {'ok': True, 'action': policy.act(obs)}, 'printed': ''}
        except StepFailed as exc:
            answer = {'ok': False, 'error': str(exc), 'stage': policy.stage}
            return {'answer': answer, 'printed': policy.sandbox.printed}


def run_persistent_attacks(port: int, target: str, isolation: str = 'kernel') -> dict:
    """Run every attack unrestricted in a policy process's act(); the answer or the reason."""
    limits = sandbox.SandboxLimits(LIMITS.timeout_s, LIMITS.cpu_s, isolation=isolation)
    codes = {n: closed_loop_code(n, os.getpid(), port, target) for n in ATTACKS}
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        done = pool.map(lambda code: _act_once(code, limits), codes.values())
        return dict(zip(codes, done, strict=True))


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
    """Run the attacks with the arguments in argv[1] (JSON: port, target, isolation, persistent)."""
    args = json.loads(sys.argv[1])
    run = run_persistent_attacks if args.get('persistent') else run_attacks
    result = run(args['port'], args['target'], args.get('isolation', 'kernel'))
    result['_parent'] = {'uid': os.getuid(), 'alive': True}
    print(json.dumps(result))
    return 0


if __name__ == '__main__':
    sys.exit(main())
