# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""`icpi bench --executor ray` and `--resume`: the same runs as the pool, finished ones kept."""

import json
import os
import subprocess

from openai_loopback import LoopbackLLM

from icpi_ros.cli import main
from icpi_ros.core.bench import harness
from icpi_ros.core.bench.journal import Journal, journal_path

GRID = ['--tasks', 'slide-gc,push-gc', '--goals', '2', '--iterations', '3',
        '--no-ablations', '--no-progress']  # fmt: skip
# Per-run timings: the only fields that differ between two runs of the same seed.
TIMINGS = ('wall_s', 'llm_latency_s')


def _runs(path) -> list[dict]:
    return json.loads(path.read_text())['runs']


def _without_timings(runs: list[dict]) -> list[dict]:
    return [{k: v for k, v in run.items() if k not in TIMINGS} for run in runs]


def _first_spec(methods: tuple[str, ...]) -> harness.RunSpec:
    config = harness.BenchConfig(
        tasks=('slide-gc', 'push-gc'),
        methods=methods,
        goals=2,
        iterations=3,
        sizes=(),
        encodings=('error',),
        memory_ablation=False,
    )
    return harness.plan_runs(config, harness.shipped_dataset_sizes(config.tasks))[0]


def test_resume_runs_only_what_an_interrupted_sweep_left(tmp_path):
    out = tmp_path / 'bench.json'
    spec = _first_spec(('knn_linear', 'random_shooting'))
    journal = Journal(journal_path(out))
    journal.open(resume=False)
    journal.append(spec, {**harness.run_one(spec), 'wall_s': -1.0})  # marked: kept, not rerun
    args = ['bench', *GRID, '--methods', 'knn_linear,random_shooting', '--workers', '1']
    assert main([*args, '--resume', '--out', str(out)]) == 0
    runs = _runs(out)
    assert len(runs) == 8 and runs[0]['wall_s'] == -1.0
    assert all(run['wall_s'] >= 0 for run in runs[1:])
    assert not journal.path.exists()  # complete: every run is in the results file
    # Without --resume, a sweep starts afresh.
    journal.open(resume=False)
    journal.append(spec, {**harness.run_one(spec), 'wall_s': -1.0})
    assert main([*args, '--out', str(out)]) == 0
    assert all(run['wall_s'] >= 0 for run in _runs(out))


def test_ray_runs_the_same_grid_as_the_pool_and_resumes(tmp_path, monkeypatch):
    """One local Ray instance (a few seconds to start); an LLM method as tasks of no CPU."""
    methods = ('knn_linear', 'random_shooting', 'llm')
    with LoopbackLLM() as llm:
        monkeypatch.setenv('OPENAI_BASE_URL', llm.base_url)
        monkeypatch.setenv('ICPI_LLM_MODEL', 'loopback-model')
        pool_out = tmp_path / 'pool.json'
        args = ['bench', *GRID, '--methods', ','.join(methods), '--workers', '1']
        assert main([*args, '--out', str(pool_out)]) == 0
        served = len(llm.requests)
        ray_out = tmp_path / 'ray.json'
        spec = _first_spec(methods)
        journal = Journal(journal_path(ray_out))
        journal.open(resume=False)
        journal.append(spec, {**_runs(pool_out)[0], 'wall_s': -1.0})
        proc = subprocess.run(
            ['icpi', 'bench', *GRID, '--methods', ','.join(methods), '--executor', 'ray',
             '--llm-concurrency', '2', '--resume', '--out', str(ray_out)],
            capture_output=True, text=True, timeout=240, env=os.environ.copy(),
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'ray: ' in proc.stderr and 'resumed: 1 already done' in proc.stderr
    pool_runs, ray_runs = _runs(pool_out), _runs(ray_out)
    assert len(ray_runs) == 12 and ray_runs[0]['wall_s'] == -1.0
    assert _without_timings(ray_runs) == _without_timings(pool_runs)
    llm_runs = [run for run in ray_runs if run['method'] == 'llm']
    assert llm_runs and all(run['steps']['llm_steps'] == 2 for run in llm_runs)
    assert len(llm.requests) == 2 * served  # the Ray runs asked the same server as many times
    config = json.loads(ray_out.read_text())['config']
    assert config['executor'] == 'ray' and config['llm_concurrency'] == 2
    assert not journal.path.exists()
