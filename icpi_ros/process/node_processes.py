# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Run node executables as real OS processes on an isolated ROS_DOMAIN_ID.

Used by the tests and benchmarks (`launch_testing` is not installable here): a ProcessGraph
reserves a domain ID with a lock file (no two concurrent users share one), starts processes,
waits for readiness by watching their output with a timeout (no fixed sleeps), and stops
every process with SIGINT, expecting exit code 0 and no traceback. Imports no ROS package.
"""

import fcntl
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

# Domain IDs 0-101 are valid on every platform with the default port mapping; 0 is the
# default a developer's own graph uses, so tests stay off it.
DOMAIN_IDS = range(1, 102)
LOCK_DIR = Path(tempfile.gettempdir()) / 'icpi_ros_domains'


class DomainLease:
    """An exclusive ROS_DOMAIN_ID for this process, held until `release`."""

    def __init__(self) -> None:
        LOCK_DIR.mkdir(exist_ok=True)
        start = os.getpid() % len(DOMAIN_IDS)
        for i in range(len(DOMAIN_IDS)):
            domain = DOMAIN_IDS[(start + i) % len(DOMAIN_IDS)]
            handle = open(LOCK_DIR / f'{domain}.lock', 'w')  # noqa: SIM115 (held until release)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            self.domain_id = domain
            self._handle = handle
            return
        raise RuntimeError(f'no free ROS_DOMAIN_ID in {DOMAIN_IDS}')

    def release(self) -> None:
        """Give the domain ID back."""
        self._handle.close()


class NodeProcess:
    """One node executable (or any command) running as a separate OS process."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self._lines: list[tuple[str, str]] = []  # (stream, line)
        self._changed = threading.Condition()
        self.collected = False  # True once a caller has taken the exit code
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            text=True,
            bufsize=1,
            start_new_session=True,  # a Ctrl-C in the test's terminal reaches only pytest
        )
        self._readers = [
            threading.Thread(target=self._pump, args=(stream, label), daemon=True)
            for stream, label in ((self.proc.stdout, 'stdout'), (self.proc.stderr, 'stderr'))
        ]
        for reader in self._readers:
            reader.start()

    def _pump(self, stream, label: str) -> None:
        for line in stream:
            with self._changed:
                self._lines.append((label, line.rstrip('\n')))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def output(self, stream: str | None = None) -> str:
        """Return the output so far, of one stream ('stdout', 'stderr') or both."""
        with self._changed:
            return '\n'.join(line for s, line in self._lines if stream in (None, s))

    def wait_for_output(self, pattern: str, timeout: float = 20.0) -> re.Match:
        """Wait until a line of output matches `pattern`; fail with the output so far."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for _, line in self._lines[seen:]:
                    match = regex.search(line)
                    if match:
                        return match
                seen = len(self._lines)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (
                    self.proc.poll() is not None and not any(r.is_alive() for r in self._readers)
                ):
                    break
                self._changed.wait(timeout=min(remaining, 0.2))
        state = 'still running' if self.proc.poll() is None else f'exited {self.proc.returncode}'
        raise TimeoutError(
            f'{self.name}: no output matching {pattern!r} within {timeout} s ({state}).\n'
            f'--- output ---\n{self.output()}'
        )

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit by itself; return its exit code."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TimeoutError(
                f'{self.name}: still running after {timeout} s; killed.\n{self.output()}'
            ) from None
        for reader in self._readers:
            reader.join(timeout=5)
        self.collected = True
        return code

    def stop(self, timeout: float = 10.0, sig: int = signal.SIGINT) -> int:
        """Send SIGINT (Ctrl-C; or `sig`) and wait for the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait(timeout)

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far (s; Linux /proc)."""
        fields = Path(f'/proc/{self.proc.pid}/stat').read_text().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')

    def kill(self) -> None:
        """SIGKILL the process (last resort) and reap it."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def assert_clean_exit(self, code: int) -> None:
        """Exit code 0, no Python traceback and no unretrieved exception on stderr."""
        stderr = self.output('stderr')
        assert code == 0, f'{self.name} exited with {code}\n{self.output()}'
        assert 'Traceback' not in stderr, f'{self.name} printed a traceback:\n{stderr}'
        assert 'never retrieved' not in stderr, f'{self.name} lost an exception:\n{stderr}'


class ProcessGraph:
    """The processes of one test, all on the test's own ROS_DOMAIN_ID."""

    def __init__(self, domain_id: int, workdir: Path, repo_root: Path) -> None:
        self.domain_id = domain_id
        self.repo_root = repo_root
        self.env = dict(os.environ)
        self.env.update(
            ROS_DOMAIN_ID=str(domain_id),
            ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
            ROS_LOG_DIR=str(workdir / 'ros_log'),
            PYTHONUNBUFFERED='1',
            RCUTILS_LOGGING_BUFFERED_STREAM='0',
            RCUTILS_COLORIZED_OUTPUT='0',
        )
        self.processes: list[NodeProcess] = []

    def start(
        self, name: str, argv: Sequence[str], ready: str | None = None, timeout: float = 20.0
    ) -> NodeProcess:
        """Start a process; if `ready` is given, wait for an output line matching it."""
        node = NodeProcess(name, argv, self.env, self.repo_root)
        self.processes.append(node)
        if ready is not None:
            node.wait_for_output(ready, timeout)
        return node

    def run(self, argv: Sequence[str], timeout: float = 30.0) -> subprocess.CompletedProcess:
        """Run a command to completion on this graph's domain."""
        return subprocess.run(
            list(argv),
            env=self.env,
            cwd=self.repo_root,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def shutdown(self) -> list[str]:
        """SIGINT every process still running; return the problems seen (empty: clean).

        A process whose exit code the test already took is the test's business; any other
        (still running, or exited by itself) must end with code 0 and no traceback.
        """
        problems = []
        for node in self.processes:
            if node.collected:
                continue
            try:
                node.assert_clean_exit(node.stop())
            except (AssertionError, TimeoutError) as exc:
                problems.append(str(exc))
        return problems
