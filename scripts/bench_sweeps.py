# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Benchmark sweeps: `icpi bench` on a local Ray instance against the process pool.

    source env.sh && python scripts/bench.py --only sweep_ray_vs_pool,sweep_llm_concurrency \
        --json docs/bench_results.json

sweep_ray_vs_pool      the same CPU-bound grid (GRID) with `--executor pool` and
                       `--executor ray`, alternating, REPEATS times: the sweep's wall time
                       (`wall_s` of the results file: the grid, after the executor started)
                       and Ray's start-up (process wall time minus that); the records of the
                       two compared (timings left out)
sweep_llm_concurrency  the `llm` method on Ray against the loopback stand-in LLM
                       (test/openai_loopback.py) answering every request after 1 s:
                       LLM_GRID at --llm-concurrency 1, 4 and 16
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'test'))
from openai_loopback import LoopbackLLM  # noqa: E402  (the test stand-in, not a package)

GRID = ['--tasks', 'slide-gc,roll-gc,push-gc', '--methods', 'knn_linear,random_shooting,bayes_opt',
        '--goals', '3', '--iterations', '8', '--no-ablations', '--no-progress']  # fmt: skip
REPEATS = 3
LLM_GRID = ['--tasks', 'slide-gc', '--methods', 'llm', '--goals', '16', '--iterations', '6',
            '--no-ablations', '--no-progress']  # fmt: skip
LATENCY_S = 1.0
CONCURRENCY = (1, 4, 16)
TIMINGS = ('wall_s', 'llm_latency_s')


def _sweep(args: list[str], env: dict | None = None) -> tuple[dict, float]:
    """Run one `icpi bench`; return its results document and the process wall time."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / 'bench.json'
        start = time.perf_counter()
        proc = subprocess.run(
            ['icpi', 'bench', *args, '--out', str(out), '--json'],
            capture_output=True,
            text=True,
            timeout=600,
            env=env,
        )
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f'icpi bench {" ".join(args)}: {proc.stderr[-2000:]}')
        return json.loads(out.read_text()), wall


def _records(document: dict) -> list[dict]:
    return [{k: v for k, v in run.items() if k not in TIMINGS} for run in document['runs']]


def bench_ray_vs_pool(repeats: int = REPEATS) -> dict:
    """Return Ray's wall-time overhead over the process pool on the CPU-bound grid (%)."""
    pool_s, ray_s, start_s, same = [], [], [], True
    reference = None
    for repeat in range(repeats):
        order = ('pool', 'ray') if repeat % 2 == 0 else ('ray', 'pool')
        for executor in order:
            document, wall = _sweep([*GRID, '--executor', executor])
            (pool_s if executor == 'pool' else ray_s).append(document['wall_s'])
            if executor == 'ray':
                start_s.append(wall - document['wall_s'])
            reference = reference or _records(document)
            same = same and _records(document) == reference
    overhead = [100 * (r / p - 1) for r, p in zip(ray_s, pool_s, strict=True)]
    return {
        'unit': '%',
        'n': repeats,
        'min': min(overhead),
        'median': statistics.median(overhead),
        'p99': float(np.percentile(overhead, 99)),
        'max': max(overhead),
        'pool_wall_s': pool_s,
        'ray_wall_s': ray_s,
        'ray_start_s': statistics.median(start_s),
        'runs': len(reference or []),
        'same_records': same,
        'command': 'icpi bench ' + ' '.join(GRID) + ' --executor pool|ray',
    }


def bench_llm_concurrency(levels: tuple[int, ...] = CONCURRENCY) -> dict:
    """Return the wall time of the LLM grid on Ray at each --llm-concurrency (s)."""
    walls, calls = {}, {}
    with LoopbackLLM() as llm:
        llm.slow_s = LATENCY_S
        env = {**os.environ, 'OPENAI_BASE_URL': llm.base_url, 'ICPI_LLM_MODEL': 'loopback'}
        for level in levels:
            llm.script.extend(['slow'] * 10_000)  # every request answered after LATENCY_S
            served = len(llm.requests)
            args = [*LLM_GRID, '--executor', 'ray', '--llm-concurrency', str(level)]
            document, _ = _sweep(args, env)
            llm.script.clear()
            walls[str(level)] = document['wall_s']
            calls[str(level)] = len(llm.requests) - served
            failed = [run for run in document['runs'] if 'error' in run]
            if failed:
                raise RuntimeError(f'llm runs failed: {failed[0]["error"]}')
    first = walls[str(levels[0])]
    return {
        'unit': 's',
        'latency_s': LATENCY_S,
        'wall_s': walls,
        'llm_calls': calls,
        'speedup': {level: round(first / wall, 2) for level, wall in walls.items()},
        'command': 'icpi bench ' + ' '.join(LLM_GRID) + ' --executor ray --llm-concurrency N',
    }
