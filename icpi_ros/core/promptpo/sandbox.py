# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Run LLM-written policy code in a shut-in child process and validate the theta it returns.

Five layers; the kernel's (4) holds even when the Python-level ones (1, 2) are bypassed:

1. Static check, here, before any process starts (`static_check.check_code`): size, syntax,
   imports only from math and numpy, no dunder or private names and attributes, no
   open/exec/eval/..., plain classes only, and a top-level `policy` (or a class `Policy`).
2. Restricted runtime in the child (`sandbox_child.py`): builtins from an allow-list (no
   open, no exec), an importer that hands out filtered copies of math and numpy (no
   submodules such as numpy.lib or numpy.ctypeslib, no I/O functions).
3. The process: `python -I -S` with a minimal environment (no API key, no PYTHONPATH), its
   own session (killed as a group at the wall-clock timeout), RLIMIT_AS (memory beyond
   numpy), RLIMIT_CPU, RLIMIT_FSIZE 0, RLIMIT_NPROC 0 (no fork), every descriptor above 2
   closed and RLIMIT_NOFILE 3 (no file, socket or pipe can be opened); root drops to nobody
   (RLIMIT_NPROC does not bind root) and no_new_privs is set. Output is read up to
   `MAX_OUTPUT` bytes; a chattier child is killed and rejected.
4. The kernel (`sandbox_kernel.py`, isolation 'kernel', the default): bubblewrap namespaces
   (user, pid, net, ipc, uts; a read-only filesystem of the interpreter and numpy only; a
   fresh /proc) and a seccomp allow-list (no open, socket, fork, exec, kill). Isolation
   'rlimits' skips this layer (weaker: only for machines without bubblewrap).
5. Validation here: exactly dim(theta) finite numbers, clipped to the task's bounds. The
   validated theta is the only thing that leaves the sandbox.

One process per candidate, started in parallel (up to the number of cores): a candidate
that hangs, crashes or exhausts its limits cannot disturb the others, and each is killed on
its own timeout. Start-up (bwrap, interpreter, numpy) costs about 0.09 s per process, small next to
an LLM call and a trial; a process per round would save that but share one fate.

Not a security boundary against a kernel exploit or a CPython memory-safety bug: see
docs/architecture.md, "PromptPO and the sandbox".
"""

import base64
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from icpi_ros.core.errors import IcpiError
from icpi_ros.core.promptpo import sandbox_kernel
from icpi_ros.core.promptpo.static_check import MAX_CODE_BYTES, CodeRejected, check_code
from icpi_ros.core.tasks import TaskSpec

CHILD = Path(__file__).with_name('sandbox_child.py')
# The child's whole environment: one BLAS thread (RLIMIT_NPROC 0 forbids more), nothing else.
CHILD_ENV = {'OPENBLAS_NUM_THREADS': '1', 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}
MAX_REASON = 300
# The child's answer is one short JSON line: more output than this is dropped, the child
# killed and the candidate rejected as too chatty.
MAX_OUTPUT = 64 * 1024
MAX_STDERR = 8 * 1024
ISOLATIONS = ('kernel', 'rlimits')
WEAKER_WARNING = (
    "promptpo sandbox 'rlimits': LLM-written code runs without kernel isolation (no "
    'namespaces, no seccomp); Python-level checks and rlimits only, see docs/architecture.md'
)


class SandboxUnavailable(IcpiError, RuntimeError):
    """Kernel isolation is not available here; the message names the missing piece."""


@dataclass(frozen=True)
class SandboxLimits:
    """What one candidate may use."""

    timeout_s: float = 2.0  # wall clock for the whole process, start-up (~0.2 s) included
    cpu_s: float = 1.0  # CPU time for the policy, beyond start-up
    memory_mb: float = 256.0  # address space beyond the interpreter and numpy
    max_code_bytes: int = MAX_CODE_BYTES
    isolation: str = 'kernel'  # or 'rlimits': no namespaces, no seccomp (weaker)


@dataclass(frozen=True)
class SandboxResult:
    """One candidate's evaluation: a validated, clipped theta, or why there is none."""

    ok: bool
    theta: np.ndarray | None = None  # finite, inside the bounds
    reason: str = ''  # empty when ok
    stage: str = ''  # where it was stopped: static, runtime, process or validation
    clipped: bool = False
    raw_theta: list | None = None  # what the policy returned (flattened)
    seconds: float = 0.0
    printed: str = ''
    limits: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """JSON-friendly summary for run records."""
        out: dict = {'ok': self.ok, 'seconds': round(self.seconds, 4)}
        if self.ok:
            out.update(theta=self.theta.tolist(), clipped=self.clipped)
        else:
            out.update(reason=self.reason, stage=self.stage)
        if self.printed:
            out['printed'] = self.printed
        return out


def _numpy_path() -> str:
    return str(Path(np.__file__).resolve().parent.parent)


def _signal_reason(sig: int) -> str:
    if sig == signal.SIGXCPU:
        return 'CPU time limit exceeded'
    try:
        return f'killed by {signal.Signals(sig).name}'
    except ValueError:
        return f'killed by signal {sig}'


def kill(proc: subprocess.Popen) -> None:
    """Kill the child's process group (the sandbox with it) and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    try:
        proc.wait(timeout=5.0)
    except subprocess.TimeoutExpired:  # pragma: no cover (a process SIGKILL cannot stop)
        proc.kill()


def _communicate(
    proc: subprocess.Popen, request: bytes, timeout_s: float
) -> tuple[bytes, bytes, str]:
    """Send the request, read stdout and stderr up to their caps within the timeout.

    Returns (stdout, stderr, problem): problem is '' or why the child was killed (timeout,
    too chatty). Nothing beyond the caps is kept in memory.
    """
    deadline = time.monotonic() + timeout_s
    try:
        proc.stdin.write(request)
        proc.stdin.close()
    except (BrokenPipeError, OSError):
        pass  # it exited before reading: its exit status says why
    caps = {proc.stdout: MAX_OUTPUT, proc.stderr: MAX_STDERR}
    data: dict = {proc.stdout: bytearray(), proc.stderr: bytearray()}
    problem = ''
    with selectors.DefaultSelector() as sel:
        for pipe in caps:
            sel.register(pipe, selectors.EVENT_READ)
        while sel.get_map() and not problem:
            left = deadline - time.monotonic()
            if left <= 0:
                problem = f'timeout: killed after {timeout_s:g} s (wall clock)'
                break
            for key, _ in sel.select(left):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                buf = data[key.fileobj]
                buf += chunk
                if len(buf) > caps[key.fileobj]:
                    del buf[caps[key.fileobj] :]
                    which = 'stdout' if key.fileobj is proc.stdout else 'stderr'
                    problem = f'too chatty: more than {caps[key.fileobj]} bytes on {which}'
    if not problem:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            problem = f'timeout: killed after {timeout_s:g} s (wall clock)'
    if problem:
        kill(proc)
    for pipe in (proc.stdout, proc.stderr):
        pipe.close()
    return bytes(data[proc.stdout]), bytes(data[proc.stderr]), problem


def kernel_problem() -> str | None:
    """Return what kernel isolation lacks on this machine (None: available); checked once."""
    return sandbox_kernel.problem(_numpy_path(), str(CHILD))


def require_isolation(isolation: str) -> str:
    """Check that `isolation` can run here; return a warning for the weaker mode ('' if none).

    Raises:
        SandboxUnavailable: kernel isolation is asked for and a piece is missing (named).
        ValueError: an unknown isolation.

    """
    if isolation not in ISOLATIONS:
        raise ValueError(f'promptpo.sandbox must be one of {", ".join(ISOLATIONS)}: {isolation!r}')
    if isolation == 'rlimits':
        return WEAKER_WARNING
    problem = kernel_problem()
    if problem:
        raise SandboxUnavailable(
            f'promptpo needs kernel isolation for LLM-written code: {problem}; '
            f'{sandbox_kernel.INSTALL_HINT}'
        )
    return ''


def start_child(limits: SandboxLimits, request: dict, *args: str) -> subprocess.Popen:
    """Start `sandbox_child.py` (with `args`) under the process and kernel layers of `limits`.

    The one home of how the child is started: `request` gains what the child needs to shut
    itself in (numpy_path, memory_mb, cpu_s and, for isolation 'kernel', the seccomp
    program); the caller sends it.

    Raises:
        SandboxUnavailable: kernel isolation is asked for and cannot be set up.

    """
    request.update(numpy_path=_numpy_path(), memory_mb=limits.memory_mb, cpu_s=limits.cpu_s)
    if limits.isolation == 'kernel':
        try:
            python = sandbox_kernel.interpreter()
            argv = sandbox_kernel.bwrap_command(python, request['numpy_path'], str(CHILD))
            request['seccomp'] = base64.b64encode(sandbox_kernel.seccomp_program()).decode()
        except (RuntimeError, OSError, ImportError, subprocess.SubprocessError) as exc:
            raise SandboxUnavailable(f'no kernel isolation: {exc}') from None
        argv += [python, '-I', '-S', str(CHILD), *args]
    else:
        argv = [sys.executable, '-I', '-S', str(CHILD), *args]
    return subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=CHILD_ENV,
        cwd='/',
        start_new_session=True,
    )


def exit_reason(status: int, isolation: str, stderr: bytes) -> str:
    """Why a child that gave no usable answer ended: its signal, or its exit and stderr."""
    if status < 0 or (isolation == 'kernel' and status > 128):  # bwrap: 128 + signal
        return _signal_reason(-status if status < 0 else status - 128)
    tail = stderr.decode('utf-8', errors='replace').strip().splitlines()[-1:] or ['no output']
    return f'sandbox process failed (exit {status}): {tail[0]}'


def run_in_child(
    code: str, goal: np.ndarray, limits: SandboxLimits, *, restricted: bool = True
) -> tuple[dict, float]:
    """Run `code` in a new child process; return its answer (or why there is none) and seconds.

    The answer is {'ok': True, 'theta': [...], ...} or {'ok': False, 'error': ...,
    'stage': 'runtime' | 'process'}. Layer 1 is not applied here: use `evaluate_policy`.
    `restricted=False` gives the code the real builtins and importer: only the tests use it.
    """
    request = {'code': code, 'goal': [float(v) for v in goal], 'restricted': restricted}
    start = time.perf_counter()
    try:
        proc = start_child(limits, request)
    except SandboxUnavailable as exc:
        return {'ok': False, 'stage': 'process', 'error': str(exc)}, time.perf_counter() - start
    out, err, problem = _communicate(proc, json.dumps(request).encode(), limits.timeout_s)
    seconds = time.perf_counter() - start
    if problem:
        return {'ok': False, 'stage': 'process', 'error': problem}, seconds
    try:
        if proc.returncode < 0 or (limits.isolation == 'kernel' and proc.returncode > 128):
            raise ValueError('killed')
        answer = json.loads(out.decode('utf-8').strip().splitlines()[-1])
        if not isinstance(answer, dict) or 'ok' not in answer:
            raise ValueError('not a result object')
    except (ValueError, IndexError, UnicodeDecodeError):
        return {
            'ok': False,
            'stage': 'process',
            'error': exit_reason(proc.returncode, limits.isolation, err),
        }, seconds
    if not answer['ok'] and answer.get('stage') != 'process':
        answer['stage'] = 'runtime'
    return answer, seconds


_SECRET_NAME = re.compile(r'KEY|TOKEN|SECRET|PASSWORD', re.IGNORECASE)


def redact(text: str) -> str:
    """Replace the values of this process's secret-looking environment variables in `text`."""
    for name, value in os.environ.items():
        if len(value) >= 8 and _SECRET_NAME.search(name) and value in text:
            text = text.replace(value, '[redacted]')
    return text


def validate_theta(task: TaskSpec, answer: dict) -> tuple[np.ndarray, bool]:
    """Check the child's theta (exactly dim finite numbers) and clip it to the bounds.

    Raises:
        ValueError: naming what is wrong.

    """
    values, shape = answer.get('theta'), answer.get('shape')
    names = ', '.join(p.name for p in task.parameters)
    if not isinstance(values, list) or any(
        isinstance(v, bool) or not isinstance(v, int | float) for v in values
    ):
        raise ValueError('the policy did not return numbers')
    if shape != [task.theta_dim] or len(values) != task.theta_dim:
        raise ValueError(
            f'wrong shape: expected {task.theta_dim} numbers ({names}), got shape '
            f'{tuple(shape) if isinstance(shape, list) else "?"}'
        )
    theta = np.array(values, dtype=float)
    bad = np.flatnonzero(~np.isfinite(theta))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f'not finite: {task.parameters[i].name} = {theta[i]}')
    return task.clip(theta)


def evaluate_policy(
    task: TaskSpec,
    code: str,
    goal: np.ndarray,
    limits: SandboxLimits | None = None,
    static_check: bool = True,
    restricted: bool = True,
) -> SandboxResult:
    """Check, run and validate one policy: theta = policy(goal), clipped to the bounds.

    Never raises for anything the code does. `static_check=False` skips layer 1 and
    `restricted=False` layer 2; only the tests use them (no parameter reaches them), to show
    that the other layers hold on their own.
    """
    limits = limits or SandboxLimits()
    start = time.perf_counter()
    if static_check:
        try:
            check_code(code, limits.max_code_bytes)
        except CodeRejected as exc:
            return SandboxResult(
                False, reason=str(exc), stage='static', seconds=time.perf_counter() - start
            )
    answer, seconds = run_in_child(code, goal, limits, restricted=restricted)
    common = {'seconds': seconds, 'printed': redact(str(answer.get('printed', ''))[:1000])}
    if not answer['ok']:
        reason = redact(str(answer.get('error', 'failed')))[:MAX_REASON]
        return SandboxResult(False, reason=reason, stage=answer['stage'], **common)
    try:
        theta, clipped = validate_theta(task, answer)
    except ValueError as exc:
        return SandboxResult(
            False,
            reason=str(exc)[:MAX_REASON],
            stage='validation',
            raw_theta=answer.get('theta'),
            **common,
        )
    return SandboxResult(
        True,
        theta=theta,
        clipped=clipped,
        raw_theta=answer['theta'],
        limits=answer.get('limits', {}),
        **common,
    )


def evaluate_policies(
    task: TaskSpec,
    codes: list[str],
    goal: np.ndarray,
    limits: SandboxLimits | None = None,
    workers: int | None = None,
) -> list[SandboxResult]:
    """Evaluate several policies, one process each, up to `workers` (default: cores) at once."""
    if not codes:
        return []
    workers = max(1, min(len(codes), workers or os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda code: evaluate_policy(task, code, goal, limits), codes))
