# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""run_grid over a scripted executor (what is in flight, Ctrl-C, resume) and the journal."""

import json
import os
import sys

import pytest

from icpi_ros.core.bench import pool
from icpi_ros.core.bench.harness import RunSpec
from icpi_ros.core.bench.journal import Journal, journal_path
from icpi_ros.core.validation import InvalidInput


class Scripted(pool.Executor):
    """Runs end in submission order, one per `ready` call; records what was in flight."""

    name = 'scripted'

    def __init__(self, cpu_slots: int, interrupt_after: int | None = None) -> None:
        self.cpu_slots = cpu_slots
        self.submitted: list[RunSpec] = []
        self.in_flight: list[tuple[int, int]] = []  # (cpu, network) runs at each ready()
        self.running: dict[int, tuple[RunSpec, bool]] = {}
        self.interrupt_after = interrupt_after

    def submit(self, spec, network):
        self.submitted.append(spec)
        handle = len(self.submitted)
        self.running[handle] = (spec, network)
        return handle

    def ready(self, handles):
        network = sum(self.running[h][1] for h in handles)
        self.in_flight.append((len(handles) - network, network))
        if self.interrupt_after is not None and len(self.in_flight) > self.interrupt_after:
            raise KeyboardInterrupt
        return [min(handles)]

    def result(self, handle):
        spec, _ = self.running.pop(handle)
        return {'method': spec.method, 'seed': spec.seed}


def _specs(methods: tuple[str, ...], seeds: int) -> list[RunSpec]:
    return [RunSpec('slide-gc', m, 'error', 0, seed) for m in methods for seed in range(seeds)]


def test_cpu_slots_and_llm_concurrency_bound_what_is_in_flight():
    specs = _specs(('knn_linear', 'llm', 'promptpo', 'llm-completions'), 6)
    executor = Scripted(cpu_slots=2)
    seen = []
    records = pool.run_grid(specs, executor, 3, lambda s, r: seen.append(s), progress=False)
    assert records == [{'method': s.method, 'seed': s.seed} for s in specs]
    assert sorted(seen) == sorted(specs) and sorted(executor.submitted) == sorted(specs)
    assert max(cpu for cpu, _ in executor.in_flight) == 2
    assert max(network for _, network in executor.in_flight) == 3
    # The LLM runs do not wait for the CPU-bound ones: both kinds are in flight together.
    assert (2, 3) in executor.in_flight


def test_ctrl_c_drops_the_runs_not_started_and_keeps_the_running_ones(capsys):
    specs = _specs(('knn_linear', 'llm'), 5)
    executor = Scripted(cpu_slots=2, interrupt_after=2)
    seen = []
    with pytest.raises(KeyboardInterrupt):
        pool.run_grid(specs, executor, 1, lambda s, r: seen.append(s), progress=False)
    # two finished, then the three in flight (2 CPU + 1 LLM) finish; the rest never start
    assert len(seen) == 5 and len(executor.submitted) == 5
    assert 'interrupted: 5 runs cancelled, waiting for the 3 running' in capsys.readouterr().err


def test_finished_runs_are_not_run_again():
    specs = _specs(('knn_linear', 'random_shooting'), 3)
    before = {specs[1]: {'kept': 1}, RunSpec('roll-gc', 'x', 'error', 0, 0): {'other': 1}}
    executor = Scripted(cpu_slots=2)
    records = pool.run_grid(specs, executor, 1, None, progress=False, finished=before)
    assert specs[1] not in executor.submitted and len(executor.submitted) == len(specs) - 1
    assert records[1] == {'kept': 1} and len(records) == len(specs)


def test_make_executor_refuses_what_it_cannot_do(monkeypatch):
    with pytest.raises(InvalidInput, match='not one of pool, ray'):
        pool.make_executor('dask', 2, 1)
    with pytest.raises(InvalidInput, match='--address is for --executor ray'):
        pool.make_executor('pool', 2, 1, address='127.0.0.1:6379')
    assert isinstance(pool.make_executor('pool', 1, 8), pool.InProcess)
    monkeypatch.setitem(sys.modules, 'ray', None)  # as if ray were not installed
    with pytest.raises(InvalidInput, match='needs the ray package'):
        pool.make_executor('ray', 0, 4)


def test_journal_keeps_finished_runs_and_cuts_a_torn_last_line(tmp_path):
    journal = Journal(journal_path(tmp_path / 'out.json'))
    assert journal.path.name == 'out.json.partial.jsonl'
    specs = _specs(('knn_linear',), 2)
    assert journal.open(resume=True) == {}
    journal.append(specs[0], {'final': 0.01})
    journal.append(specs[1], {'final': 0.02})
    with journal.path.open('ab') as f:
        f.write(b'{"spec": {"task": "sli')  # a crash mid-line
    assert journal.open(resume=True) == {specs[0]: {'final': 0.01}, specs[1]: {'final': 0.02}}
    assert journal.path.read_bytes().endswith(b'}\n')
    assert journal.open(resume=False) == {} and journal.path.read_bytes() == b''
    journal.path.write_text(json.dumps({'spec': {'task': 'slide-gc'}, 'record': {}}) + '\n')
    with pytest.raises(InvalidInput, match='line 1: not a line of finished run'):
        journal.open(resume=True)
    journal.remove()
    assert not journal.path.exists()


def test_the_pool_gives_its_workers_one_numerical_thread_and_starts_lazily(monkeypatch):
    for name in pool.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('OMP_NUM_THREADS', '3')  # a user's own setting is kept
    executor = pool.ProcessPool(2, 4)
    try:
        assert os.environ['OMP_NUM_THREADS'] == '3'
        assert os.environ['OPENBLAS_NUM_THREADS'] == '1' == os.environ['MKL_NUM_THREADS']
        assert executor.cpu_slots == 2 and executor._pools == {}  # no process before a run
    finally:
        executor.close()
