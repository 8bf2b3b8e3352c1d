# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""A persistent sandboxed child per episode: PromptPO's closed-loop `Policy` behind act(obs).

`SandboxedObject` runs one instance of an LLM-written class in one child process started by
`sandbox.start_child` (the same five layers as the one-shot sandbox: the static check, here
with the class as entry point; the restricted runtime; the process limits, which hold for
the child's whole life, so the CPU and memory limits are per episode; the kernel isolation;
validation here) and calls its methods over the child's stdin and stdout: length-prefixed
JSON frames (`sandbox_child.serve`). Every call has a deadline, answers are read up to
`sandbox.MAX_OUTPUT` bytes, and a call that fails in any way (late, crashed, raised, too
chatty, a bad answer) kills the child: the object is gone and says why (`failure`, `stage`).

`PolicyProcess` is the closed-loop policy (`closed_loop.ClosedLoopPolicy`): a context manager
that starts one child per episode, instantiates `Policy()` (the constructor takes no
arguments: the goal arrives with `reset`), then serves `reset(goal)` (optional in the class)
and `act(obs) -> [vx, vy]` with a per-step time limit (`STEP_TIMEOUT_S`, 20 ms by default).
The observation reaches the policy as the plain dict of the contract (lists of floats).
Any failure of a step raises `closed_loop.StepFailed` with the reason (redacted), and the
child is killed; code that does not load, or whose reset fails, fails at the first act()
with that reason (`failure` and `stage` say it at once).
"""

import contextlib
import json
import os
import select
import subprocess
import time
from collections.abc import Sequence

import numpy as np

from icpi_ros.core.closed_loop import StepFailed
from icpi_ros.core.errors import IcpiError
from icpi_ros.core.promptpo import sandbox
from icpi_ros.core.promptpo.sandbox import MAX_OUTPUT, SandboxLimits, SandboxUnavailable
from icpi_ros.core.promptpo.sandbox_child import FRAME_HEADER, MAX_PRINTED, frame
from icpi_ros.core.promptpo.static_check import CodeRejected, check_code

STEP_TIMEOUT_S = 0.02  # one act() round trip, policy included
# The child's limits for a whole episode: start-up and reset within timeout_s each, CPU
# beyond start-up for all steps together (80 steps at the step limit: 1.6 s), memory.
EPISODE_LIMITS = SandboxLimits(timeout_s=2.0, cpu_s=2.0)
ACTION = ('vx', 'vy')
_READ = 65536


class SandboxFailed(IcpiError, RuntimeError):
    """A sandboxed object failed and its child is gone; `stage` says where.

    Stages: static (the check refused the code), runtime (the code raised), process (late,
    killed by a limit, too chatty, exited) or validation (a bad answer).
    """

    def __init__(self, reason: str, stage: str) -> None:
        super().__init__(reason)
        self.stage = stage


class SandboxedObject:
    """One instance of an LLM-written class in a persistent sandboxed child.

    Args:
        source: the code; it must define the class `entry` (checked by layer 1).
        entry: the class the child instantiates, without arguments.
        methods: call name -> the method names that answer it (the first the class has).
        required: the calls whose method the class must define (the others answer None).
        limits: the process limits for the child's whole life; timeout_s bounds the start.
        static_check: False skips layer 1, restricted: False layer 2 (the tests only).

    """

    def __init__(
        self,
        source: str,
        entry: str,
        methods: dict[str, tuple[str, ...]],
        required: tuple[str, ...],
        limits: SandboxLimits,
        *,
        static_check: bool = True,
        restricted: bool = True,
    ) -> None:
        self.source, self.entry, self.limits = source, entry, limits
        self.methods, self.required = methods, required
        self._static_check, self._restricted = static_check, restricted
        self.failure = ''  # why the object is gone ('' while it serves)
        self.stage = ''
        self.printed = ''  # the code's print() output (redacted, first MAX_PRINTED characters)
        self.applied: dict = {}  # the limits the child applied
        self.start_seconds = 0.0
        self._proc = None
        self._buffer = bytearray()

    @property
    def pid(self) -> int | None:
        """The process id of the child's outermost process (bwrap), None before the start."""
        return None if self._proc is None else self._proc.pid

    @property
    def running(self) -> bool:
        """Whether the child is up and serving."""
        return self._proc is not None and not self.failure

    def start(self) -> bool:
        """Check the code, start the child, wait until the instance exists (`limits.timeout_s`).

        Returns:
            True when it serves; False with `failure` and `stage` set (nothing the code does
            raises here).

        """
        if self._proc is not None or self.failure:  # started already
            return self.running
        start = time.perf_counter()
        try:
            if self._static_check:
                entry = (self.entry, self.methods[self.required[0]])
                try:
                    check_code(self.source, self.limits.max_code_bytes, entry=entry)
                except CodeRejected as exc:
                    self._fail(str(exc), 'static')
            request = {
                'code': self.source,
                'entry': self.entry,
                'methods': self.methods,
                'required': list(self.required),
                'restricted': self._restricted,
            }
            try:
                self._proc = sandbox.start_child(self.limits, request, '--serve')
            except SandboxUnavailable as exc:
                self._fail(str(exc), 'process')
            os.set_blocking(self._proc.stdin.fileno(), False)
            os.set_blocking(self._proc.stderr.fileno(), False)
            self._poll_in, self._poll_out = select.poll(), select.poll()
            self._poll_in.register(self._proc.stdout.fileno(), select.POLLIN)
            self._poll_out.register(self._proc.stdin.fileno(), select.POLLOUT)
            timeout = self.limits.timeout_s
            answer = self._exchange(request, timeout, f'timeout: killed after {timeout:g} s')
            if not answer.get('ok'):
                self._fail(str(answer.get('error', 'failed')), answer.get('stage', 'runtime'))
            self.applied = answer.get('limits', {})
        except SandboxFailed:
            return False
        finally:
            self.start_seconds = time.perf_counter() - start
        return True

    def call(self, name: str, args: list, timeout_s: float) -> object:
        """Call method `name` of the instance with JSON-friendly `args`; return its answer.

        Raises:
            SandboxFailed: the call failed (late, raised, crashed, too chatty) or the object
                is gone; the child is killed.

        """
        if self._proc is None and not self.failure:
            self.start()
        if self.failure:
            raise SandboxFailed(self.failure, self.stage)
        late = f'late: {name} took longer than {timeout_s * 1000:g} ms; the process was stopped'
        answer = self._exchange({'call': name, 'args': args}, timeout_s, late)
        if not answer.get('ok'):
            self._fail(f'{name} raised {answer.get("error", "an error")}', 'runtime')
        return answer.get('value')

    def stop(self, reason: str, stage: str) -> None:
        """Kill the child and record why (a caller's validation refused an answer)."""
        self.failure = sandbox.redact(reason)[: sandbox.MAX_REASON]
        self.stage = stage
        if self._proc is not None and self._proc.returncode is None:
            sandbox.kill(self._proc)

    def close(self) -> None:
        """Stop the child (idempotent)."""
        if self._proc is not None:
            if self._proc.returncode is None:
                sandbox.kill(self._proc)
            for pipe in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
                pipe.close()
            self._proc = None
        if not self.failure:
            self.failure, self.stage = 'closed: the sandboxed process was stopped', 'process'

    def _fail(self, reason: str, stage: str) -> None:
        self.stop(reason, stage)
        raise SandboxFailed(self.failure, stage)

    def _exchange(self, message: dict, timeout_s: float, late: str) -> dict:
        """Send one frame, read the answer frame by the deadline; fail on anything else."""
        deadline = time.monotonic() + timeout_s
        data = memoryview(frame(message))
        fd = self._proc.stdin.fileno()
        while data:
            try:
                data = data[os.write(fd, data) :]
            except BlockingIOError:
                if not self._wait(self._poll_out, deadline):
                    self._fail(late, 'process')
            except BrokenPipeError:
                self._gone()
        body = self._read_frame(deadline, late)
        try:
            answer = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            answer = None
        if not isinstance(answer, dict):
            self._fail('bad answer from the sandbox: not a JSON object', 'process')
        if answer.get('printed') and len(self.printed) < MAX_PRINTED:
            self.printed = sandbox.redact(self.printed + str(answer['printed']))[:MAX_PRINTED]
        return answer

    def _read_frame(self, deadline: float, late: str) -> bytes:
        buf, fd = self._buffer, self._proc.stdout.fileno()
        while True:
            if len(buf) >= FRAME_HEADER:
                size = int.from_bytes(buf[:FRAME_HEADER], 'big')
                if size > MAX_OUTPUT:
                    self._fail(f'too chatty: more than {MAX_OUTPUT} bytes on stdout', 'process')
                if len(buf) >= FRAME_HEADER + size:
                    body = bytes(buf[FRAME_HEADER : FRAME_HEADER + size])
                    del buf[: FRAME_HEADER + size]
                    return body
            if not self._wait(self._poll_in, deadline):
                self._fail(late, 'process')
            chunk = os.read(fd, _READ)
            if not chunk:
                self._gone()
            buf += chunk

    @staticmethod
    def _wait(poll: select.poll, deadline: float) -> bool:
        left = deadline - time.monotonic()
        return left > 0 and bool(poll.poll(left * 1000.0))

    def _gone(self) -> None:
        """Fail for a child that closed its output: its signal, or its exit and stderr."""
        try:
            status = self._proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:  # still running after closing stdout: kill it
            sandbox.kill(self._proc)
            status = self._proc.returncode
        try:
            err = os.read(self._proc.stderr.fileno(), sandbox.MAX_STDERR)
        except (BlockingIOError, OSError):
            err = b''
        self._fail(sandbox.exit_reason(status, self.limits.isolation, err), 'process')


def validate_action(value: object) -> list[float]:
    """Check an act() answer: exactly [vx, vy], two finite numbers.

    Raises:
        ValueError: naming what is wrong.

    """
    if not isinstance(value, list):
        got = 'nothing (None)' if value is None else f'a {type(value).__name__}'
        raise ValueError(f'expected [vx, vy] (2 numbers), got {got}')
    if len(value) != len(ACTION):
        raise ValueError(f'expected [vx, vy] (2 numbers), got {len(value)} values')
    for name, v in zip(ACTION, value, strict=True):
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f'{name} is a {type(v).__name__}, not a number')
        if not np.isfinite(v):
            raise ValueError(f'not finite: {name} = {v}')
    return [float(v) for v in value]


POLICY_ENTRY = ('Policy', ('act',))  # the class a policy program defines, and its method


def check_policy(source: str, limits: SandboxLimits | None = None) -> None:
    """Run the static check a `PolicyProcess` starts with, alone (no process, no episode).

    Args:
        source: the policy program.
        limits: whose `max_code_bytes` apply (default `EPISODE_LIMITS`).

    Raises:
        SandboxFailed: stage 'static', the check's reason.

    """
    try:
        check_code(source, (limits or EPISODE_LIMITS).max_code_bytes, entry=POLICY_ENTRY)
    except CodeRejected as exc:
        raise SandboxFailed(str(exc), 'static') from None


class PolicyProcess:
    """The LLM-written `class Policy` as a closed-loop policy, in its own sandbox per episode.

    Use as a context manager (one episode): entering starts the child and loads the policy;
    leaving kills it. Implements `closed_loop.ClosedLoopPolicy`.

    Args:
        source: the code; it must define `class Policy` with `act(self, obs)` and may define
            `__init__(self)` (no arguments) and `reset(self, goal)`.
        limits: the episode's limits (default `EPISODE_LIMITS`).
        step_timeout_s: the time limit of one act() round trip.
        static_check: False skips layer 1, restricted: False layer 2 (the tests only).

    """

    def __init__(
        self,
        source: str,
        limits: SandboxLimits | None = None,
        step_timeout_s: float = STEP_TIMEOUT_S,
        *,
        static_check: bool = True,
        restricted: bool = True,
    ) -> None:
        self.limits = limits or EPISODE_LIMITS
        self.step_timeout_s = step_timeout_s
        self.steps = 0
        self.sandbox = SandboxedObject(
            source,
            POLICY_ENTRY[0],
            {POLICY_ENTRY[1][0]: POLICY_ENTRY[1], 'reset': ('reset',)},
            (POLICY_ENTRY[1][0],),
            self.limits,
            static_check=static_check,
            restricted=restricted,
        )

    def __enter__(self) -> 'PolicyProcess':
        """Start the child and load the policy (a failure shows in `failure` and at reset)."""
        self.sandbox.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Kill the child."""
        self.close()

    @property
    def failure(self) -> str:
        """Why the policy process is gone ('' while it serves)."""
        return self.sandbox.failure

    @property
    def stage(self) -> str:
        """Where it failed: static, runtime, process or validation ('' while it serves)."""
        return self.sandbox.stage

    def reset(self, goal: Sequence[float]) -> None:
        """Start the episode: `Policy.reset(goal)` if the class defines it.

        Never raises for what the code does (the contract's reset does not fail): a policy
        that did not load, or whose reset failed or took longer than `limits.timeout_s`, is
        failed (`failure`, `stage`) and the first act() raises StepFailed with the reason, so
        a rollout holds from its first step.
        """
        with contextlib.suppress(SandboxFailed):  # recorded in `failure`; act() raises it
            self.sandbox.call('reset', [[float(v) for v in goal]], self.limits.timeout_s)

    def act(self, obs: dict) -> list[float]:
        """One control step: the policy's [vx, vy] for observation `obs`, validated.

        Raises:
            StepFailed: late (beyond `step_timeout_s`), crashed, raised, or a bad action; the
                child is killed and every later call raises it too.

        """
        value = self._call('act', [obs], self.step_timeout_s)
        self.steps += 1
        try:
            return validate_action(value)
        except ValueError as exc:
            self.sandbox.stop(f'bad action at step {self.steps}: {exc}', 'validation')
            raise StepFailed(self.failure) from None

    def close(self) -> None:
        """Kill the child (idempotent)."""
        self.sandbox.close()

    def _call(self, name: str, args: list, timeout_s: float) -> object:
        try:
            return self.sandbox.call(name, args, timeout_s)
        except SandboxFailed as exc:
            raise StepFailed(str(exc)) from None
