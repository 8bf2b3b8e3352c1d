# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Where the runs of `icpi bench` run: the executors, a progress bar, Ctrl-C, resume.

`run_grid` drives any `Executor` with at most `cpu_slots` CPU-bound runs and
`llm_concurrency` runs of the methods that wait on an LLM endpoint (`NETWORK_METHODS`) in
flight: the ones in flight are the ones running, so on Ctrl-C the runs not yet submitted
are dropped and the running ones finish (their records still count). The executors:
`InProcess` (one run after the other, here), `ProcessPool` (spawned worker processes, the
default) and `RayExecutor` (`core/bench/ray_executor.py`: a local Ray instance or a cluster).
Runs already finished (a resumed sweep, `journal`) are skipped.
"""

import abc
import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

from icpi_ros.core.bench.harness import RunSpec, run_one
from icpi_ros.core.bench.methods import NETWORK_METHODS

EXECUTORS = ('pool', 'ray')
# The thread counts of the numerical libraries, set to 1 for the pool's worker processes.
THREAD_VARIABLES = ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS')


class Executor(abc.ABC):
    """Runs `harness.run_one` on specs; `run_grid` decides what is in flight."""

    name = ''
    cpu_slots = 1  # CPU-bound runs in flight at once

    @abc.abstractmethod
    def submit(self, spec: RunSpec, network: bool) -> Hashable:
        """Start one run (`network`: its method waits on an LLM); return its handle."""

    @abc.abstractmethod
    def ready(self, handles: Sequence[Hashable]) -> list[Hashable]:
        """Return the handles among `handles` whose runs ended; wait a little for one."""

    @abc.abstractmethod
    def result(self, handle: Hashable) -> dict:
        """Return a run's record, waiting for it; raise what the run raised."""

    def close(self) -> None:  # noqa: B027 (optional: an executor with nothing to release)
        """Release the workers (the runs in flight are waited for or cancelled)."""

    def __enter__(self) -> 'Executor':
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class InProcess(Executor):
    """Every run in this process, one after the other (`--workers 1`)."""

    name = 'in-process'

    def submit(self, spec: RunSpec, network: bool) -> Hashable:
        """Start one run (`Executor.submit`)."""
        future: Future = Future()
        future.set_result(run_one(spec))
        return future

    def ready(self, handles: Sequence[Hashable]) -> list[Hashable]:
        """Return the handles whose runs ended (`Executor.ready`)."""
        return list(handles)

    def result(self, handle: Hashable) -> dict:
        """Return a run's record (`Executor.result`)."""
        return handle.result()


def _ignore_sigint() -> None:
    """Worker initialiser: Ctrl-C is the parent's to handle (no traceback per worker)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class ProcessPool(Executor):
    """Spawned worker processes: `workers` for CPU-bound runs, `llm_concurrency` for LLM runs.

    The LLM runs wait on the network, so they get a pool of their own beyond the cores (a
    process each: a run's simulator is not shared between threads), started at their first
    run. The CPU-bound pool keeps its processes warm (imports, simulators, datasets).
    """

    name = 'pool'

    def __init__(self, workers: int, llm_concurrency: int = 1) -> None:
        # One numerical thread per worker (the workers inherit this environment), as Ray
        # gives its tasks: with a BLAS/OpenMP thread per core in each, the workers of a
        # full pool oversubscribe the cores (bayes_opt and gp_model sweeps: up to 2x slower).
        for name in THREAD_VARIABLES:
            os.environ.setdefault(name, '1')
        self.cpu_slots = max(1, workers)
        self._sizes = {False: self.cpu_slots, True: max(1, llm_concurrency)}
        self._pools: dict[bool, ProcessPoolExecutor] = {}

    def _pool(self, network: bool) -> ProcessPoolExecutor:
        if network not in self._pools:
            # spawn: workers start clean (no inherited MuJoCo/GL state or helper threads).
            self._pools[network] = ProcessPoolExecutor(
                self._sizes[network],
                mp_context=multiprocessing.get_context('spawn'),
                initializer=_ignore_sigint,
            )
        return self._pools[network]

    def submit(self, spec: RunSpec, network: bool) -> Hashable:
        """Start one run (`Executor.submit`)."""
        return self._pool(network).submit(run_one, spec)

    def ready(self, handles: Sequence[Hashable]) -> list[Hashable]:
        """Return the handles whose runs ended (`Executor.ready`)."""
        return list(wait(handles, timeout=0.5, return_when=FIRST_COMPLETED).done)

    def result(self, handle: Hashable) -> dict:
        """Return a run's record (`Executor.result`)."""
        return handle.result()

    def close(self) -> None:
        """Release the workers (`Executor.close`)."""
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)


def make_executor(
    name: str, workers: int, llm_concurrency: int, address: str | None = None
) -> Executor:
    """Return the executor `icpi bench --executor` names.

    Args:
        name: 'pool' (worker processes) or 'ray'.
        workers: CPU-bound runs at once (pool: processes; 1: every run in this process, one
            after the other; ray: 0 means the cluster's CPUs).
        llm_concurrency: the pool's processes for LLM runs (beside the `workers`).
        address: the Ray cluster's address (None: start a local Ray instance).

    Returns:
        The executor (a context manager: leaving it releases the workers).

    Raises:
        InvalidInput: an unknown name, an address without ray, or ray not installed.
    """
    from icpi_ros.core.validation import InvalidInput

    if name not in EXECUTORS:
        raise InvalidInput(f'executor: {name!r} is not one of {", ".join(EXECUTORS)}')
    if name == 'ray':
        from icpi_ros.core.bench.ray_executor import RayExecutor

        return RayExecutor(address, workers or None)
    if address:
        raise InvalidInput('--address is for --executor ray')
    if workers <= 1:
        return InProcess()
    return ProcessPool(workers, llm_concurrency)


def _label(spec: RunSpec) -> str:
    extra = (
        (f' {spec.encoding}' if spec.encoding != 'error' else '')
        + (f' n={spec.dataset_size}' if spec.dataset_size else '')
        + ('' if spec.episode_memory else ' no memory')
    )
    return f'{spec.task} {spec.method}{extra}'


def run_grid(
    specs: Sequence[RunSpec],
    executor: Executor,
    llm_concurrency: int = 1,
    on_result: Callable[[RunSpec, dict], None] | None = None,
    progress: bool = True,
    finished: Mapping[RunSpec, dict] | None = None,
) -> list[dict]:
    """Run every spec not already finished on `executor`; return the records.

    Args:
        specs: the runs (`harness.plan_runs`).
        executor: where they run (`make_executor`).
        llm_concurrency: runs of `NETWORK_METHODS` in flight at once (at least 1).
        on_result: called with each new run and its record as it comes back.
        progress: whether to show a progress bar on stderr.
        finished: records of runs done before (a resumed sweep): not run again.

    Returns:
        The records of the runs that finished (before and now), in spec order.

    Raises:
        KeyboardInterrupt: on Ctrl-C, once the runs not started are dropped and the
            running ones have finished (their records still reach `on_result`).
    """
    from tqdm import tqdm

    done = {spec: record for spec, record in (finished or {}).items() if spec in set(specs)}
    queues = {kind: deque() for kind in (False, True)}
    for spec in specs:
        if spec not in done:
            queues[spec.method in NETWORK_METHODS].append(spec)
    limits = {False: executor.cpu_slots, True: max(1, llm_concurrency)}
    flight: dict[Hashable, tuple[RunSpec, bool]] = {}
    bar = tqdm(
        total=len(specs),
        initial=len(done),
        unit='run',
        file=sys.stderr,
        disable=not progress,
        desc='bench',
    )

    def record(spec: RunSpec, result: dict) -> None:
        done[spec] = result
        if on_result is not None:
            on_result(spec, result)
        bar.set_postfix_str(_label(spec), refresh=False)
        bar.update()

    def fill() -> None:
        for kind, queue in queues.items():
            while queue and sum(k == kind for _, k in flight.values()) < limits[kind]:
                spec = queue.popleft()
                flight[executor.submit(spec, kind)] = (spec, kind)

    try:
        fill()
        while flight:
            for handle in executor.ready(list(flight)):
                record(flight.pop(handle)[0], executor.result(handle))
            fill()
    except KeyboardInterrupt:
        dropped = sum(len(queue) for queue in queues.values())
        print(
            f'\ninterrupted: {dropped} runs cancelled, waiting for the {len(flight)} running',
            file=sys.stderr,
            flush=True,
        )
        for handle, (spec, _) in list(flight.items()):
            try:
                result = executor.result(handle)
            except Exception:  # noqa: BLE001 (a run that broke off is simply not recorded)
                continue
            record(spec, result)
        raise
    finally:
        bar.close()
    return [done[spec] for spec in specs if spec in done]
