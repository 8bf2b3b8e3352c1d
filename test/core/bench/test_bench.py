# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The benchmark harness, `icpi bench` and the report generator, at CI size."""

import copy
import json
from importlib import resources

import numpy as np
import pytest
import yaml
from openai_loopback import LoopbackLLM

from icpi_ros.cli import main
from icpi_ros.core.bench import harness, pool, results
from icpi_ros.core.bench.report.catalogue import load_catalogue, parse_catalogue
from icpi_ros.core.bench.report.prose import prose
from icpi_ros.core.bench.report.rows import BaselineRow, OfflineRow
from icpi_ros.core.bench.report.sections import compare_offline_default, llm_section
from icpi_ros.core.dataset import load_dataset
from icpi_ros.core.paths import data_dir

SYSTEM = {
    'machine': {'cores': 2, 'arch': 'x86_64', 'python': '3.11.7', 'date': '2026-01-01'},
    'physics_slide': {'unit': 'ms', 'n': 3, 'min': 61, 'median': 70, 'p99': 80, 'max': 80},
    'ros_overhead': {'unit': 'ms', 'n': 20, 'min': 4, 'median': 6.5, 'p99': 9, 'max': 9.5},
    'demo': {
        'wall_s': {'unit': 's', 'n': 3, 'min': 70, 'median': 75, 'p99': 130, 'max': 130},
        'final_cost_m': {'n': 3, 'min': 0.001, 'median': 0.0031, 'p99': 0.004, 'max': 0.004},
    },
    'some_new_bench': {'unit': 'ms', 'n': 1, 'min': 1, 'median': 1, 'p99': 1, 'max': 1},
}


def test_subsample_is_deterministic_nested_and_whole_when_not_smaller():
    dataset = load_dataset(data_dir() / 'slide-gc.json')
    small, large = dataset.subsample(50, seed=0), dataset.subsample(100, seed=0)
    assert len(small) == 50 and len(large) == 100
    assert np.array_equal(small.theta, dataset.subsample(50, seed=0).theta)
    rows = {tuple(r) for r in large.theta}
    assert all(tuple(r) in rows for r in small.theta)
    assert not np.array_equal(small.theta, dataset.subsample(50, seed=1).theta)
    assert dataset.subsample(len(dataset)) is dataset


def test_plan_runs_shares_episodes_and_runs_each_configuration_once():
    config = harness.BenchConfig(
        tasks=('slide-gc',),
        methods=('knn_linear', 'random_shooting'),
        goals=2,
        sizes=(50, 300),
        encodings=('error', 'raw'),
    )
    specs = harness.plan_runs(config, {'slide-gc': 300})
    # 2 methods x 2 goals; knn_linear with 50 examples and with the raw encoding (300 = all).
    assert len(specs) == len(set(specs)) == 8
    assert {s.group for s in specs} == {
        ('slide-gc', 'knn_linear', 'error', 0),
        ('slide-gc', 'random_shooting', 'error', 0),
        ('slide-gc', 'knn_linear', 'error', 50),
        ('slide-gc', 'knn_linear', 'raw', 0),
    }
    assert {s.seed for s in specs} == {0, 1}


def test_bad_configuration_names_the_field():
    with pytest.raises(Exception, match='methods: unknown improver'):
        harness.BenchConfig(methods=('nope',)).checked()
    with pytest.raises(Exception, match='not a sim task'):
        harness.BenchConfig(tasks=('roll-gc-real',)).checked()


def test_a_run_is_the_same_as_icpi_improve_with_its_seed(capsys):
    spec = harness.RunSpec('slide-gc', 'knn_linear', 'error', 0, seed=1, iterations=3)
    run = harness.run_one(spec)
    assert main(['improve', '--task', 'slide-gc', '--improver', 'knn_linear', '--seed', '1',
                 '--iterations', '3', '--json']) == 0  # fmt: skip
    improved = json.loads(capsys.readouterr().out)
    assert run['goal'] == improved['goal']
    assert run['costs'] == [float(f'{c:.4g}') for c in improved['costs']]


def test_icpi_bench_smoke_writes_results_and_the_report(tmp_path, capsys):
    out, page, system = tmp_path / 'm.json', tmp_path / 'benchmarks.md', tmp_path / 'sys.json'
    system.write_text(json.dumps(SYSTEM))
    code = main(
        [
            'bench',
            '--tasks', 'slide-gc',
            '--methods', 'knn_linear,random_shooting',
            '--goals', '2',
            '--iterations', '3',
            '--sizes', '50,300',
            '--workers', '2',
            '--out', str(out),
            '--report', str(page),
            '--system', str(system),
            '--no-progress',
        ]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    doc = json.loads(out.read_text())
    assert doc['format'] == results.FORMAT and doc['complete'] is True
    assert doc['machine']['cores'] and doc['config']['workers'] == 2
    assert len(doc['runs']) == doc['planned_runs'] == 8
    for run in doc['runs']:
        assert {'task', 'method', 'seed', 'goal', 'costs', 'final', 'best'} <= set(run)
        assert len(run['costs']) == 3
        assert run['final'] == run['costs'][-1] and run['best'] == min(run['costs'])
    # Same episodes for every method: seed -> goal is the same.
    goals = {(r['seed'], tuple(r['goal'])) for r in doc['runs']}
    assert len(goals) == 2
    selection = results.Selection(doc)
    knn, rs = selection.get('slide-gc', 'knn_linear'), selection.get('slide-gc', 'random_shooting')
    assert knn['n'] == rs['n'] == 2 and len(knn['curve']['median']) == 3
    assert 0 <= knn['success_rate'] <= 1
    # Deterministic episodes: the dataset method beats uniform sampling by far here.
    assert knn['final']['mean'] < rs['final']['mean']
    assert selection.get('slide-gc', 'knn_linear', 'error', 50)['examples'] == 50
    assert selection.get('slide-gc', 'knn_linear', 'raw')['n'] == 2

    text = page.read_text()
    for expected in (
        '## Targets',
        '| physics-only trial ≤ 60 ms slide/roll, ≤ 200 ms rope | physics-only trial, slide',
        '## Reported in the paper (not measured here)',
        '### Dataset size',
        '| slide-gc | `knn_linear` |',
        '### Encoding',
        '`some_new_bench`',
        'img/bench_curves.png',
    ):
        assert expected in text, expected

    def row(what: str) -> str:
        return next(line for line in text.splitlines() if line.startswith('| ') and what in line)

    assert '| **missed** |' in row('physics-only trial, slide (3 s simulated, 1 ms step)')
    assert '| not measured yet | — |' in row('physics-only trial, roll-gc')
    assert 'not a full-size run' in row(OfflineRow('slide-gc', 0.01).what)
    overhead = row('ROS overhead per iteration:')
    assert 'median **6.5 ms**' in overhead and '| met |' in overhead
    demo = row('`icpi demo` after setup')
    assert 'final cost median 3.1 mm (max 4 mm)' in demo
    assert '| **missed** |' in demo  # max 130 s > 120 s
    for name in ('bench_curves.png', 'bench_ablation_size.png', 'bench_ablation_encoding.png'):
        image = tmp_path / 'img' / name
        assert image.read_bytes()[:4] == b'\x89PNG' and image.stat().st_size < 100_000


def _runs(task: str, method: str, finals: list[float]) -> list[dict]:
    return [
        {
            'task': task,
            'method': method,
            'encoding': 'error',
            'dataset_size': 0,
            'seed': i,
            'goal': [0.8, 0.0],
            'costs': [0.2, final],
            'final': final,
            'best': min(0.2, final),
        }
        for i, final in enumerate(finals)
    ]


def test_report_says_when_the_offline_default_is_worse_and_by_how_much():
    runs = _runs('roll-gc', 'knn_linear', [0.004, 0.006]) + _runs(
        'roll-gc', 'knn_mean', [0.002, 0.002]
    )
    runs += _runs('slide-gc', 'knn_linear', [0.001] * 10) + _runs('slide-gc', 'knn_mean', [0.003])
    doc = {
        'machine': {'cores': 2},
        'config': {'methods': ['knn_linear', 'knn_mean'], 'goals': 2, 'iterations': 2},
        'runs': runs,
        'aggregates': results.aggregate(runs),
    }
    lines = compare_offline_default(results.Selection(doc))
    assert len(lines) == 1  # slide-gc: knn_linear is the better one
    assert 'roll-gc: `knn_linear` is worse than `knn_mean`' in lines[0]
    assert '5 mm vs 2 mm (+3 mm, 2.5×)' in lines[0]
    _, measured, met, _ = BaselineRow().cells({}, results.Selection(doc))
    assert met is None and 'not a full-size run' in measured  # 2 goals, 2 iterations
    doc['config'].update(goals=10, iterations=20)
    _, measured, met, _ = BaselineRow().cells({}, results.Selection(doc))
    assert (
        met is False
        and measured == 'roll-gc: `knn_linear` vs `knn_mean`: 5 mm vs 2 mm (+3 mm, 2.5×)'
    )


def test_interrupted_bench_saves_the_partial_results_and_exits_130(tmp_path, monkeypatch):
    def interrupted(specs, workers, on_result, progress):
        on_result(harness.run_one(specs[0]))
        raise KeyboardInterrupt

    monkeypatch.setattr(pool, 'run_grid', interrupted)
    out = tmp_path / 'partial.json'
    code = main(['bench', '--quick', '--tasks', 'slide-gc', '--methods', 'knn_linear',
                 '--iterations', '2', '--out', str(out)])  # fmt: skip
    assert code == 130
    doc = json.loads(out.read_text())
    assert doc['complete'] is False and len(doc['runs']) == 1 < doc['planned_runs']


def test_llm_runs_count_who_answered_and_failed_runs_count_as_failures(monkeypatch):
    """Against the loopback stand-in for the LLM service (test/openai_loopback.py)."""
    with LoopbackLLM() as llm:
        monkeypatch.setenv('OPENAI_BASE_URL', llm.base_url)
        monkeypatch.setenv('ICPI_LLM_MODEL', 'loopback-model')
        # Step 1 repaired, step 2 answered by the fallback after three refusals.
        llm.script.extend(['text:hmm', 'answer', *['text:no'] * 3])
        chat = harness.run_one(harness.RunSpec('slide-gc', 'llm', 'error', 0, seed=1, iterations=4))
        raw = harness.run_one(
            harness.RunSpec('slide-gc', 'llm-completions', 'error', 0, seed=1, iterations=3)
        )
    assert chat['model'] == 'loopback-model' and 'error' not in chat
    assert chat['steps'] == {
        'steps': 3,
        'llm_steps': 2,
        'repaired_steps': 1,
        'fallback_steps': 1,
        'failed_steps': 0,
    }
    assert len(chat['llm_latency_s']) == 6  # 2 + 3 + 1 exchanges
    assert chat['tokens_per_step'] == [1024, 1536, 512]
    assert raw['steps']['llm_steps'] == 2 and len(llm.paths) == 6 + 2
    assert llm.paths[-1] == '/v1/completions'

    failed = {**chat, 'seed': 2, 'error': 'planner: LLM answer rejected 3 times'}
    (entry,) = results.aggregate([chat, failed])
    assert entry['n'] == 1 and entry['failed'] == 1
    assert entry['success_rate'] <= 0.5  # the failed run is a failure, not dropped
    assert entry['answers']['model_share'] == 4 / 6
    assert entry['answers']['first_try_share'] == 2 / 6
    assert entry['answers']['tokens_per_step'] == 1024
    doc = {
        'machine': {'cores': 2},
        'config': {'methods': ['llm'], 'goals': 2, 'iterations': 4},
        'runs': [chat, failed],
        'aggregates': [entry],
    }
    text = '\n'.join(llm_section(results.Selection(doc)))
    assert '| slide-gc | `llm` | `loopback-model` |' in text
    assert '67 % (33 % first try, 2 repaired)' in text


def test_the_catalogue_expands_templated_rows_and_refuses_unknown_names():
    catalogue = load_catalogue()
    assert catalogue.expand(['tracker_{task}:error', 'ci'], {}) == [
        'tracker_slide-gc:error',
        'tracker_roll-gc:error',
        'tracker_rope-swing:error',
        'ci',
    ]
    assert catalogue.rows['tracker_roll-gc:error'].key == 'tracker_roll-gc'
    planner = catalogue.expand(['planner'], {'planner_llm_5000': {'median': 1.0}})
    assert planner == [
        'planner_knn_linear_300',
        'planner_knn_linear_5000',
        'planner_knn_linear_1000000',
        'planner_llm_300',
        'planner_llm_5000',
        'planner_llm_1000000',
    ]
    text = resources.files('icpi_ros.core.bench.report').joinpath('catalogue.yaml').read_text()
    data = yaml.safe_load(text)
    assert parse_catalogue(data).rows.keys() == catalogue.rows.keys()
    unknown_row = copy.deepcopy(data)
    unknown_row['sections'][0]['rows'].append('no_such_row')
    with pytest.raises(ValueError, match="unknown rows \\['no_such_row'\\]"):
        parse_catalogue(unknown_row)
    unknown_reading = copy.deepcopy(data)
    unknown_reading['rows']['calibration']['reads'] = 'no_such_reading'
    with pytest.raises(ValueError, match='rows.calibration: unknown reading'):
        parse_catalogue(unknown_reading)
    unknown_notes = copy.deepcopy(data)
    unknown_notes['sections'][0]['notes'] = 'no_such_block'
    with pytest.raises(ValueError, match='unknown notes'):
        parse_catalogue(unknown_notes)


def test_prose_blocks_fill_their_names_and_refuse_missing_ones():
    assert prose('methods_missing', methods_json='m.json') == (
        'not measured yet: run `icpi bench --out m.json`.\n'
    )
    with pytest.raises(KeyError):
        prose('methods_missing')
    with pytest.raises(KeyError):
        prose('no_such_block')
