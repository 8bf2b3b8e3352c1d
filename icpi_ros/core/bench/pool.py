# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The worker pool of `icpi bench`: every run in its own process, a progress bar, Ctrl-C.

Workers are spawned (no inherited MuJoCo/GL state or helper threads) and ignore SIGINT: on
Ctrl-C the parent cancels the runs not started and waits for the running ones.
"""

import multiprocessing
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from icpi_ros.core.bench.harness import RunSpec, run_one


def _ignore_sigint() -> None:
    """Worker initialiser: Ctrl-C is the parent's to handle (no traceback per worker)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _label(spec: RunSpec) -> str:
    extra = (
        (f' {spec.encoding}' if spec.encoding != 'error' else '')
        + (f' n={spec.dataset_size}' if spec.dataset_size else '')
        + ('' if spec.episode_memory else ' no memory')
    )
    return f'{spec.task} {spec.method}{extra}'


def run_grid(
    specs: Sequence[RunSpec],
    workers: int | None = None,
    on_result: Callable[[dict], None] | None = None,
    progress: bool = True,
) -> list[dict]:
    """Run every spec in worker processes; return the records.

    Args:
        specs: the runs (`harness.plan_runs`).
        workers: the number of processes (default: one per core; 1: in this process).
        on_result: called with each record as it comes back (completion order).
        progress: whether to show a progress bar on stderr.

    Returns:
        The records of the runs that finished, in spec order.

    Raises:
        KeyboardInterrupt: on Ctrl-C, once the runs not started are cancelled and the
            running ones have finished (their records still reach `on_result`).
    """
    from tqdm import tqdm

    workers = max(1, min(workers or multiprocessing.cpu_count(), len(specs) or 1))
    done: dict[RunSpec, dict] = {}
    bar = tqdm(total=len(specs), unit='run', file=sys.stderr, disable=not progress, desc='bench')

    def finished(spec: RunSpec, record: dict) -> None:
        done[spec] = record
        if on_result is not None:
            on_result(record)
        bar.set_postfix_str(_label(spec), refresh=False)
        bar.update()

    try:
        if workers == 1:
            for spec in specs:
                finished(spec, run_one(spec))
        else:
            _run_pool(specs, workers, finished)
    finally:
        bar.close()
    return [done[spec] for spec in specs if spec in done]


def _run_pool(
    specs: Sequence[RunSpec], workers: int, finished: Callable[[RunSpec, dict], None]
) -> None:
    # spawn: workers start clean (no inherited MuJoCo/GL state or helper threads).
    context = multiprocessing.get_context('spawn')
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_ignore_sigint)
    futures = {pool.submit(run_one, spec): spec for spec in specs}
    pending = set(futures)
    try:
        while pending:
            ready, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in ready:
                finished(futures[future], future.result())
    except KeyboardInterrupt:
        running = [future for future in pending if not future.cancel()]
        print(
            f'\ninterrupted: {len(pending) - len(running)} runs cancelled, waiting for the '
            f'{len(running)} running',
            file=sys.stderr,
            flush=True,
        )
        for future in running:
            if future.exception() is None:  # a run that broke off is simply not recorded
                finished(futures[future], future.result())
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
