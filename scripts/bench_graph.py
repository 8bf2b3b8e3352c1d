# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Benchmarks of the ROS graph: overhead per iteration of the loop, and `make demo` wall time.

Used by scripts/bench.py (`--only ros_overhead,demo`); each starts real node processes.
"""

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from icpi_ros.core.bench.stats import describe, summary

ROOT = Path(__file__).resolve().parents[1]
TIMING_KEYS = ('overhead_s', 'cycle_s', 'reset_s', 'window_s', 'tracker_s', 'planner_call_s')


@contextlib.contextmanager
def _sim_graph(recorder: bool = True) -> Iterator[tuple[Path, Any]]:
    """Start the sim graph (slide-gc camera, knn_linear, RTF 1) in a temporary folder.

    `recorder` False: without the run recorder (each run's bag).

    Yields the folder (its runs/ hold the records) and the started Bringup, with this
    process's ROS client on the graph's domain; stops every node after, raising if one did
    not stop cleanly.
    """
    from icpi_ros.graph.bringup import Bringup, use_graph_environment
    from icpi_ros.graph.demo import calibrate_sim_camera
    from icpi_ros.graph.description import sim_graph

    with tempfile.TemporaryDirectory(prefix='icpi-bench-') as tmp:
        work = Path(tmp)
        calibration = calibrate_sim_camera('slide-gc', work / 'calibration.yaml')
        specs = sim_graph(calibration, 'knn_linear', 1.0, work / 'runs')
        specs = [s for s in specs if recorder or s.name != 'run_recorder']
        bringup = Bringup(specs, work)
        try:
            bringup.start()
            use_graph_environment(bringup)
            yield work, bringup
        finally:
            problems = bringup.stop()
            if problems:
                raise RuntimeError('\n'.join(problems))


def _improve(client, work: Path, goal: list[float], iterations: int, seed: int = 0) -> list:
    """Run one Improve goal; return its run record's trial lines."""
    from action_msgs.msg import GoalStatus

    status, result = client.improve('slide-gc', goal, max_iterations=iterations, seed=seed)
    if status != GoalStatus.STATUS_SUCCEEDED:
        raise RuntimeError(f'run failed: {result.error_msg}')
    path = work / 'runs' / result.run_id / 'trials.jsonl'
    return [json.loads(line) for line in path.read_text().splitlines()]


def bench_ros_overhead(iterations: int = 21, runs: int = 2) -> dict:
    """Run Improve over the sim graph (RTF 1) and break each iteration's wall time down.

    The overhead of an iteration is its wall time minus the trial window on the sim clock,
    the wait for the tracker and the planner's own compute (see core.run_lines.
    trial_timing). The first iteration of each run (graph warm-up, record creation) is
    reported apart.
    """
    lines, first = [], []
    with _sim_graph() as (work, _):
        from icpi_ros.graph.client import ICPIClient

        with ICPIClient(node_name='bench_overhead') as client:
            for seed in range(runs):
                goal = np.random.default_rng(seed).uniform([0.72, -0.06], [0.98, 0.06])
                trials = _improve(client, work, goal.tolist(), iterations, seed)
                first.append(trials[0]['timing'])
                lines += [t['timing'] for t in trials[1:]]
    out = summary([t['overhead_s'] for t in lines])
    out['parts_ms'] = {k: summary([t[k] for t in lines]) for k in TIMING_KEYS}
    out['first_iteration_overhead_ms'] = [round(t['overhead_s'] * 1e3, 1) for t in first]
    out['iterations'], out['runs'], out['realtime_factor'] = iterations, runs, 1.0
    return out


def bench_idle(seconds: float = 10.0, settle_s: float = 3.0, iterations: int = 4) -> dict:
    """CPU of each node of the sim graph (RTF 1, as sim.launch.py) with no trial running.

    Then an Improve run of `iterations` trials: the camera's achieved rate during them (tracked
    frames per simulated second of each trial window, from the run record), i.e. full rates
    come back when a trial starts.
    """
    with _sim_graph() as (work, bringup):
        time.sleep(settle_s)  # the bridge idles 0.5 s after start-up
        processes = bringup.graph.processes
        before = {p.name: p.cpu_seconds() for p in processes}
        t0 = time.monotonic()
        time.sleep(seconds)
        wall = time.monotonic() - t0
        cpu = {p.name: 100 * (p.cpu_seconds() - before[p.name]) / wall for p in processes}
        from icpi_ros.graph.client import ICPIClient

        with ICPIClient(node_name='bench_idle') as client:
            trials = _improve(client, work, [0.86, 0.03], iterations)
    rates = []
    for trial in trials:
        stamps = trial['trajectory']['stamps']
        rates.append((len(stamps) - 1) / (stamps[-1] - stamps[0]))
    nodes = {k: round(v, 2) for k, v in cpu.items() if k != 'sim_bridge'}
    worst = max(nodes.values())
    return {
        'unit': '% of a core',
        'n': len(nodes),
        'min': min(nodes.values()),
        'median': float(np.median(list(nodes.values()))),
        'p99': worst,
        'max': worst,
        'cpu_percent': {k: round(v, 2) for k, v in cpu.items()},
        'idle_wall_s': round(wall, 2),
        'camera_hz_in_trials': [round(r, 1) for r in rates],
        'realtime_factor': 1.0,
    }


def _recorded_run(recorder: bool, iterations: int) -> dict:
    """One Improve run over the sim graph, with or without the recorder: wall, CPU, bag."""
    with _sim_graph(recorder) as (work, bringup):
        from icpi_ros.graph.client import ICPIClient

        processes = bringup.graph.processes
        with ICPIClient(node_name='bench_recording') as client:
            before = {p.name: p.cpu_seconds() for p in processes}
            start = time.monotonic()
            trials = _improve(client, work, [0.86, 0.03], iterations)
            wall = time.monotonic() - start
            cpu = {p.name: p.cpu_seconds() - before[p.name] for p in processes}
        time.sleep(1.5)  # the recorder closes the bag close_delay_s after the run
        size = sum(b.stat().st_size for b in (work / 'runs').glob('*/run.mcap'))
    return {
        'wall_s': wall,
        'cycle_s': float(np.median([t['timing']['cycle_s'] for t in trials[1:]])),
        'cpu_s': sum(cpu.values()),
        'recorder_cpu_s': cpu.get('run_recorder', 0.0),
        'bag_bytes': size,
    }


def bench_recording(iterations: int = 8, pairs: int = 2) -> dict:
    """Measure what recording the bag costs: runs without and with the recorder, alternated.

    Wall: the median iteration (`cycle_s`, the first one apart), per pair; CPU: every node
    process's CPU seconds over the run (the recorder's own included), per pair; the bag's
    size per iteration, and extrapolated to the demo's 20 iterations.
    """
    wall, cpu, recorder_cpu, sizes, runs = [], [], [], [], []
    for _ in range(pairs):
        without = _recorded_run(False, iterations)
        with_bag = _recorded_run(True, iterations)
        runs.append({'without': without, 'with': with_bag})
        wall.append(100 * (with_bag['cycle_s'] / without['cycle_s'] - 1))
        cpu.append(100 * (with_bag['cpu_s'] / without['cpu_s'] - 1))
        recorder_cpu.append(100 * with_bag['recorder_cpu_s'] / with_bag['wall_s'])
        sizes.append(with_bag['bag_bytes'] / iterations)
    per_iteration = float(np.median(sizes))
    return {
        **describe(wall),
        'unit': '%',
        'cpu': {**describe(cpu), 'unit': '%'},
        'recorder_cpu_percent_of_a_core': [round(c, 1) for c in recorder_cpu],
        'bag_bytes_per_iteration': round(per_iteration),
        'bag_mb_20_iterations': round(20 * per_iteration / 1e6, 2),
        'iterations': iterations,
        'pairs': pairs,
        'runs': runs,
        'realtime_factor': 1.0,
    }


def bench_demo(repeats: int = 3) -> dict:
    """Time `icpi demo` (20 iterations of slide-gc over the sim graph) after setup."""
    walls, finals, bests = [], [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix='icpi-bench-demo-') as runs:
            env = {**os.environ, 'ICPI_RUNS_DIR': runs}
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, '-m', 'icpi_ros.cli', 'demo'],
                cwd=ROOT,
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            walls.append(time.perf_counter() - start)
            run = json.loads((Path(runs) / 'latest' / 'summary.json').read_text())
            finals.append(run['final_cost'])
            bests.append(run['best_cost'])
    return {
        'wall_s': summary(walls, 's'),
        'final_cost_m': describe(finals),
        'best_cost_m': describe(bests),
        'repeats': repeats,
    }
