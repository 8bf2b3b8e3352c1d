# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Benchmarks of what exists so far; figures go to docs/benchmarks.md by hand (with this command).

    source env.sh && python scripts/bench.py [--fresh-setup] [--json OUT]

setup_noop       a second `make setup` with nothing changed (target <= 10 s)
fresh_setup      setup of a fresh clone with an empty pip cache (target <= 6 min; --fresh-setup)
planning_core    one NextPolicy step in the core (validation + improver + clipping)
planner_service  NextPolicy round trip between two processes over DDS (client -> planner)
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def summary(samples_s: list[float], unit: str = 'ms') -> dict:
    """Min/median/p99/max of samples given in seconds, expressed in `unit`."""
    scale = {'s': 1.0, 'ms': 1e3, 'us': 1e6}[unit]
    values = np.asarray(samples_s) * scale
    return {
        'unit': unit,
        'n': int(values.size),
        'min': float(values.min()),
        'median': float(statistics.median(values)),
        'p99': float(np.percentile(values, 99)),
        'max': float(values.max()),
    }


def bench_setup_noop(repeats: int = 5) -> dict:
    """Time `scripts/setup.sh` when everything is already set up."""
    samples = []
    subprocess.run(['bash', 'scripts/setup.sh'], cwd=ROOT, check=True, capture_output=True)
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(['bash', 'scripts/setup.sh'], cwd=ROOT, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return summary(samples, 's')


def bench_fresh_setup() -> dict:
    """Time `make setup` in a fresh clone, pip cache disabled."""
    with tempfile.TemporaryDirectory(prefix='icpi-fresh-') as tmp:
        clone = Path(tmp) / 'icpi_ros'
        subprocess.run(['git', 'clone', '-q', str(ROOT), str(clone)], check=True)
        env = {k: v for k, v in os.environ.items() if k not in ('VIRTUAL_ENV', 'PYTHONPATH')}
        env['PIP_NO_CACHE_DIR'] = '1'
        start = time.perf_counter()
        subprocess.run(['make', 'setup'], cwd=clone, env=env, check=True, capture_output=True)
        return summary([time.perf_counter() - start], 's')


def bench_planning_core(repeats: int = 20000) -> dict:
    """Time one core planning step (random_shooting, slide-gc)."""
    from icpi_ros.core.improvers import make_improver
    from icpi_ros.core.planning import make_query, next_policy
    from icpi_ros.core.tasks import load_tasks

    task = load_tasks()['slide-gc']
    improver = make_improver('random_shooting')
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        next_policy(improver, make_query(task, [0.0, 0.1, 0.3], error=[0.02, -0.01]))
        samples.append(time.perf_counter() - start)
    return summary(samples, 'us')


def bench_planner_service(repeats: int = 500) -> dict:
    """Time NextPolicy round trips from this process to a planner process."""
    from icpi_ros.node_processes import DomainLease, ProcessGraph

    lease = DomainLease()
    with tempfile.TemporaryDirectory() as tmp:
        graph = ProcessGraph(lease.domain_id, Path(tmp), ROOT)
        try:
            graph.start('icpi_planner', ['icpi_planner'], ready=r'\]: ready')
            os.environ.update({k: graph.env[k] for k in ('ROS_DOMAIN_ID', 'ROS_LOG_DIR')})
            os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
            from icpi_ros.client import ICPIClient

            samples = []
            with ICPIClient() as client:
                client.next_policy('slide-gc', [0.0, 0.1, 0.3], error=[0.02, -0.01])  # warm up
                for _ in range(repeats):
                    start = time.perf_counter()
                    resp = client.next_policy('slide-gc', [0.0, 0.1, 0.3], error=[0.02, -0.01])
                    samples.append(time.perf_counter() - start)
                    assert resp.success, resp.message
        finally:
            problems = graph.shutdown()
            lease.release()
    if problems:
        raise RuntimeError('\n'.join(problems))
    return summary(samples, 'ms')


def main() -> int:
    """Run the benchmarks and print (and optionally save) the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--fresh-setup', action='store_true', help='also time a fresh setup')
    parser.add_argument('--json', type=Path, help='write the results to this JSON file')
    args = parser.parse_args()
    if shutil.which('icpi_planner') is None:
        parser.error('run `source env.sh` first (or use `make bench`)')

    benches = {
        'setup_noop': bench_setup_noop,
        'planning_core': bench_planning_core,
        'planner_service': bench_planner_service,
    }
    if args.fresh_setup:
        benches['fresh_setup'] = bench_fresh_setup
    results = {
        'machine': {
            'cpu': platform.processor() or platform.machine(),
            'cores': os.cpu_count(),
            'python': platform.python_version(),
            'date': time.strftime('%Y-%m-%d'),
        }
    }
    for name, bench in benches.items():
        print(f'[bench] {name} ...', file=sys.stderr, flush=True)
        results[name] = bench()
        r = results[name]
        print(
            f'{name:16s} n={r["n"]:<6d} min={r["min"]:.3f} median={r["median"]:.3f} '
            f'p99={r["p99"]:.3f} max={r["max"]:.3f} {r["unit"]}',
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
