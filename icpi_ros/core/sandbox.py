# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Run LLM-written policy code in a shut-in child process and validate the theta it returns.

Four layers, each stopping the usual attacks on its own:

1. Static check, here, before any process starts (`check_code`): at most `max_code_bytes`,
   valid syntax, imports only from math and numpy (linalg, random, fft), no name or attribute
   starting with a double underscore (no `__import__`, `__subclasses__`, `__globals__`), no
   private attributes, no open/exec/eval/compile/getattr/globals/..., none of numpy's file
   and introspection functions, no frame or code attributes, no classes, and a top-level
   `policy`.
2. Restricted runtime in the child (`sandbox_child.py`): builtins from an allow-list (no
   open, no exec), an importer that hands out filtered copies of math and numpy (no
   submodules such as numpy.lib or numpy.ctypeslib, no I/O functions).
3. The process: `python -I -S` with a minimal environment (no API key, no PYTHONPATH), its
   own session (killed as a group at the wall-clock timeout), RLIMIT_AS (memory beyond
   numpy), RLIMIT_CPU, RLIMIT_FSIZE 0, RLIMIT_NPROC 0 (no fork), every descriptor above 2
   closed and RLIMIT_NOFILE 3 (no file, socket or pipe can be opened); root drops to nobody
   (RLIMIT_NPROC does not bind root) and no_new_privs is set.
4. Validation here: exactly dim(theta) finite numbers, clipped to the task's bounds. The
   validated theta is the only thing that leaves the sandbox.

One process per candidate, started in parallel (up to the number of cores): a candidate
that hangs, crashes or exhausts its limits cannot disturb the others, and each is killed on
its own timeout. Start-up (interpreter + numpy) costs about 0.15 s per process, small next to
an LLM call and a trial; a process per round would save that but share one fate.

Not a security boundary against a kernel exploit or a CPython memory-safety bug: see
docs/architecture.md, "PromptPO and the sandbox".
"""

import ast
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from icpi_ros.core.sandbox_child import ALLOWED_MODULES, NUMPY_DENIED
from icpi_ros.core.tasks import TaskSpec

CHILD = Path(__file__).with_name('sandbox_child.py')
# The child's whole environment: one BLAS thread (RLIMIT_NPROC 0 forbids more), nothing else.
CHILD_ENV = {'OPENBLAS_NUM_THREADS': '1', 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}
DENIED_NAMES = frozenset(
    {
        'breakpoint',
        'builtins',
        'compile',
        'delattr',
        'dir',
        'eval',
        'exec',
        'exit',
        'getattr',
        'globals',
        'help',
        'input',
        'locals',
        'memoryview',
        'object',
        'open',
        'quit',
        'setattr',
        'super',
        'type',
        'vars',
    }
)
DENIED_ATTRIBUTES = NUMPY_DENIED | {
    'ctypes',
    'dump',
    'dumps',
    'mro',
    'os',
    'popen',
    'subprocess',
    'sys',
    'system',
    'tofile',
}
# Frames, code objects, tracebacks and generators lead back to the runner's globals.
DENIED_PREFIXES = ('ag_', 'co_', 'cr_', 'f_', 'gi_', 'tb_')
MAX_REASON = 300


class CodeRejected(ValueError):
    """The static check refused the code; the message names the violation."""


@dataclass(frozen=True)
class SandboxLimits:
    """What one candidate may use."""

    timeout_s: float = 2.0  # wall clock for the whole process, start-up (~0.2 s) included
    cpu_s: float = 1.0  # CPU time for the policy, beyond start-up
    memory_mb: float = 256.0  # address space beyond the interpreter and numpy
    max_code_bytes: int = 8192


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


def _violation(node: ast.AST) -> str | None:
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name not in ALLOWED_MODULES:
                return f'forbidden import {alias.name}'
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            return 'forbidden relative import'
        if node.module not in ALLOWED_MODULES:
            return f'forbidden import {node.module}'
        for alias in node.names:
            if alias.name == '*' or alias.name.startswith('_') or alias.name in DENIED_NAMES:
                return f'forbidden import {alias.name} from {node.module}'
            if alias.name in DENIED_ATTRIBUTES:
                return f'forbidden import {alias.name} from {node.module}'
    elif isinstance(node, ast.Name):
        if node.id.startswith('__') or node.id in DENIED_NAMES:
            return f'forbidden name {node.id}'
    elif isinstance(node, ast.Attribute):
        attr = node.attr
        if attr.startswith('_') or attr in DENIED_ATTRIBUTES or attr.startswith(DENIED_PREFIXES):
            return f'forbidden attribute .{attr}'
    elif isinstance(node, ast.ClassDef):
        return 'class definitions are not supported'
    elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith('__'):
        return f'forbidden name {node.name}'
    return None


def _defines_policy(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == 'policy':
            return True
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == 'policy' for t in node.targets
        ):
            return True
    return False


def check_code(code: str, max_bytes: int = SandboxLimits.max_code_bytes) -> None:
    """Refuse code the sandbox will not run (layer 1).

    Raises:
        CodeRejected: naming the first violation found.

    """
    size = len(code.encode('utf-8', errors='replace'))
    if size > max_bytes:
        raise CodeRejected(f'code too large: {size} bytes (limit {max_bytes})')
    try:
        tree = ast.parse(code, '<policy>')
    except SyntaxError as exc:
        raise CodeRejected(f'syntax error: {exc.msg} (line {exc.lineno})') from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise CodeRejected(f'unparsable code: {type(exc).__name__}') from None
    for node in ast.walk(tree):
        problem = _violation(node)
        if problem:
            line = getattr(node, 'lineno', None)
            raise CodeRejected(problem + (f' (line {line})' if line else ''))
    if not _defines_policy(tree):
        raise CodeRejected('the code defines no top-level function policy(goal)')


def _numpy_path() -> str:
    return str(Path(np.__file__).resolve().parent.parent)


def _signal_reason(returncode: int) -> str:
    sig = -returncode
    if sig == signal.SIGXCPU:
        return 'CPU time limit exceeded'
    try:
        return f'killed by {signal.Signals(sig).name}'
    except ValueError:
        return f'killed by signal {sig}'


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    try:
        proc.communicate(timeout=5.0)
    except subprocess.TimeoutExpired:  # pragma: no cover (a process SIGKILL cannot stop)
        proc.kill()


def run_in_child(code: str, goal: np.ndarray, limits: SandboxLimits) -> tuple[dict, float]:
    """Run `code` in a new child process; return its answer (or why there is none) and seconds.

    The answer is {'ok': True, 'theta': [...], ...} or {'ok': False, 'error': ...,
    'stage': 'runtime' | 'process'}. Layer 1 is not applied here: use `evaluate_policy`.
    """
    request = {
        'code': code,
        'goal': [float(v) for v in goal],
        'numpy_path': _numpy_path(),
        'memory_mb': limits.memory_mb,
        'cpu_s': limits.cpu_s,
    }
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, '-I', '-S', str(CHILD)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=CHILD_ENV,
        cwd='/',
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(json.dumps(request).encode(), timeout=limits.timeout_s)
    except subprocess.TimeoutExpired:
        _kill(proc)
        seconds = time.perf_counter() - start
        return {
            'ok': False,
            'stage': 'process',
            'error': f'timeout: killed after {limits.timeout_s:g} s (wall clock)',
        }, seconds
    seconds = time.perf_counter() - start
    if proc.returncode < 0:
        return {'ok': False, 'stage': 'process', 'error': _signal_reason(proc.returncode)}, seconds
    try:
        answer = json.loads(out.decode('utf-8').strip().splitlines()[-1])
        if not isinstance(answer, dict) or 'ok' not in answer:
            raise ValueError('not a result object')
    except (ValueError, IndexError, UnicodeDecodeError):
        tail = err.decode('utf-8', errors='replace').strip().splitlines()[-1:] or ['no output']
        return {
            'ok': False,
            'stage': 'process',
            'error': f'sandbox process failed (exit {proc.returncode}): {tail[0]}',
        }, seconds
    if not answer['ok']:
        answer['stage'] = 'runtime'
    return answer, seconds


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
) -> SandboxResult:
    """Check, run and validate one policy: theta = policy(goal), clipped to the bounds.

    Never raises for anything the code does. `static_check=False` skips layer 1; only the
    tests use it, to show that the other layers hold on their own.
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
    answer, seconds = run_in_child(code, goal, limits)
    common = {'seconds': seconds, 'printed': str(answer.get('printed', ''))[:1000]}
    if not answer['ok']:
        reason = str(answer.get('error', 'failed'))[:MAX_REASON]
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
