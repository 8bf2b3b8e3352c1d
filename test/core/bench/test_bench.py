# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The benchmark harness, `icpi bench` and the report generator, at CI size."""

import copy
import json
from dataclasses import replace
from importlib import resources

import numpy as np
import pytest
import yaml
from openai_loopback import LoopbackLLM

from icpi_ros.cli import build_parser, main
from icpi_ros.cli.bench import _config, command_line
from icpi_ros.core.bench import harness, pool, results
from icpi_ros.core.bench.report.ablations import memory_table
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
    # 2 methods x 2 goals; knn_linear with 50 examples, with the raw encoding (300 = all) and
    # with the episode memory off.
    assert len(specs) == len(set(specs)) == 10
    assert {s.group for s in specs} == {
        ('slide-gc', 'knn_linear', 'error', 0, True),
        ('slide-gc', 'random_shooting', 'error', 0, True),
        ('slide-gc', 'knn_linear', 'error', 50, True),
        ('slide-gc', 'knn_linear', 'raw', 0, True),
        ('slide-gc', 'knn_linear', 'error', 0, False),
    }
    assert {s.seed for s in specs} == {0, 1}


def test_the_memory_ablation_covers_its_methods_when_run_and_the_switch_turns_it_off():
    config = harness.BenchConfig(
        tasks=('slide',),
        methods=('knn_mean', 'gp_model', 'llm', 'promptpo'),
        goals=1,
        sizes=(),
        encodings=('error',),
    )
    forgetful = {
        s.method for s in harness.plan_runs(config, {'slide': 300}) if not s.episode_memory
    }
    assert forgetful == {'knn_mean', 'llm'}  # knn_linear is not among the methods
    off = harness.plan_runs(replace(config, memory_ablation=False), {'slide': 300})
    assert all(s.episode_memory for s in off) and len(off) == 4
    parser = build_parser()
    assert _config(parser.parse_args(['bench', '--quick'])).memory_ablation is True
    for flag in ('--no-ablations', '--no-memory-ablation'):
        quick = _config(parser.parse_args(['bench', '--quick', flag]))
        assert quick.memory_ablation is False
        assert '--no-memory-ablation' in command_line(quick)
    # The run itself: the improver's context has the memory off.
    spec = harness.RunSpec('slide-gc', 'knn_linear', 'error', 0, seed=2, iterations=4)
    on, off = harness.run_one(spec), harness.run_one(replace(spec, episode_memory=False))
    assert on['episode_memory'] is True and off['episode_memory'] is False
    assert on['costs'][:2] == off['costs'][:2]  # the memory needs two trials
    assert on['costs'] != off['costs']


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
            '--quick',  # 2 goals, sizes 50 and 300, the encoding and memory ablations
            '--tasks', 'slide-gc',
            '--methods', 'knn_linear,random_shooting,gp_model',
            '--iterations', '3',
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
    # 3 methods x 2 goals; knn_linear also with 50 examples, raw, and the memory off.
    assert len(doc['runs']) == doc['planned_runs'] == 12
    assert '--memory-ablation' in doc['command'] and doc['config']['memory_ablation'] is True
    for run in doc['runs']:
        assert {'task', 'method', 'seed', 'goal', 'costs', 'final', 'best'} <= set(run)
        assert len(run['costs']) == 3
        assert run['final'] == run['costs'][-1] and run['best'] == min(run['costs'])
    assert sum(not run['episode_memory'] for run in doc['runs']) == 2
    for entry in doc['aggregates']:
        assert entry['n'] == 2 and not entry['failed'], entry
        reach = entry['to_threshold']
        costs = [
            r['costs'] for r in doc['runs'] if harness.group_key(r) == harness.group_key(entry)
        ]
        reached = [c for c in costs if min(c) <= entry['threshold_m']]
        assert reach['reached'] == len(reached) and reach['never_rate'] == 1 - len(reached) / 2
        # Fewer than five trials: the mean of each run's three.
        assert entry['last_five']['mean'] == pytest.approx(np.mean(costs))
        assert entry['best']['mean'] <= entry['last_five']['max']
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
    assert selection.get('slide-gc', 'knn_linear', episode_memory=False)['n'] == 2
    assert selection.get('slide-gc', 'gp_model')['examples'] == 300  # fitted on its rollouts
    assert selection.ablated_methods('error', [50, 300]) == ['knn_linear']
    assert selection.memory_ablated_methods() == ['knn_linear']

    text = page.read_text()
    for expected in (
        '## Targets',
        '| physics-only trial ≤ 60 ms slide/roll, ≤ 200 ms rope | physics-only trial, slide',
        '## Reported in the paper (not measured here)',
        '### Dataset size',
        '| slide-gc | `knn_linear` |',
        '### Encoding',
        '### Episode memory',
        '| task | method | final cost, mean: on / off | last five trials, mean: on / off |',
        'last five trials, mean | best so far, mean (final − best) | success (≤ 1 cm) | '
        'trials to ≤ 1 cm: median (never) | runs |',
        '| `gp_model` |',
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


def _run(costs: list[float], **fields) -> dict:
    return {
        **_runs('slide-gc', 'knn_linear', [costs[-1]])[0],
        'costs': costs,
        'best': min(costs),
        **fields,
    }


def test_trials_to_threshold_counts_from_the_first_trial_and_the_runs_that_never_get_there():
    runs = [
        _run([0.005, 0.2]),  # there at once: 1 trial (then walked away)
        _run([0.2, 0.05, 0.01, 0.003]),  # at the threshold on trial 3
        _run([0.3, 0.2, 0.011]),  # never
        _run([0.3, 0.2, 0.1, 0.1, 0.009, 0.001]),  # trial 5
        _run([0.3], error='planner: failed'),  # failed after one trial: never
        {**_run([1.0]), 'costs': [], 'error': 'no endpoint'},  # failed before a trial
    ]
    assert results.trials_to_threshold(runs, 0.01) == {
        'median': 3.0,
        'reached': 3,
        'never_rate': 0.5,
    }
    assert results.trials_to_threshold(runs[2:3], 0.01) == {
        'median': None,
        'reached': 0,
        'never_rate': 1.0,
    }
    with pytest.raises(ValueError):
        results.trials_to_threshold([], 0.01)


def test_last_five_averages_each_run_then_the_runs_and_short_runs_average_what_they_have():
    long = _run([0.9, 0.8, 0.05, 0.01, 0.02, 0.03, 0.04])  # last five: 0.03
    stopped = _run([0.1, 0.0])  # stopped at zero after 2 of 7: padded with zeros, 0.0
    summary = results.last_trials([long, stopped], length=7)
    assert summary['n'] == 2
    assert summary['mean'] == pytest.approx((0.03 + 0.0) / 2)
    assert summary['max'] == pytest.approx(0.03)
    assert results.last_trials([long], length=7, count=2)['mean'] == pytest.approx(0.035)
    # Runs of fewer than five trials (a 3-iteration bench) average all they have.
    short = [_run([0.4, 0.2, 0.3]), _run([0.1, 0.1, 0.04])]
    assert results.last_trials(short, length=3)['mean'] == pytest.approx((0.3 + 0.08) / 2)
    with pytest.raises(ValueError):
        results.last_trials([_run([0.1]) | {'costs': []}], length=3)
    (entry,) = results.aggregate(short)
    assert entry['last_five'] == results.last_trials(short, length=3)
    assert entry['to_threshold']['median'] is None and entry['episode_memory'] is True


def test_a_version_1_document_reads_as_memory_on_with_the_new_measures_from_its_runs():
    runs = [_run([0.3, 0.05, 0.004]), _run([0.3, 0.02, 0.012])]
    old = [{k: v for k, v in entry.items() if k not in ('last_five', 'to_threshold',
            'episode_memory')} for entry in results.aggregate(runs)]  # fmt: skip
    doc = {'version': 1, 'config': {'methods': ['knn_linear']}, 'runs': runs, 'aggregates': old}
    entry = results.Selection(doc).get('slide-gc', 'knn_linear')
    assert entry['final'] == old[0]['final'] and entry['episode_memory'] is True
    assert entry['last_five']['mean'] == pytest.approx((0.354 / 3 + 0.332 / 3) / 2)
    assert entry['to_threshold'] == {'median': 3.0, 'reached': 1, 'never_rate': 0.5}
    assert results.Selection(doc).get('slide-gc', 'knn_linear', episode_memory=False) is None
    assert results.Selection(doc).memory_ablated_methods() == []


def test_report_says_when_the_offline_default_is_worse_and_by_how_much():
    runs = _runs('roll-gc', 'knn_linear', [0.004, 0.008]) + _runs(
        'roll-gc', 'knn_mean', [0.002, 0.002]
    )
    runs += _runs('slide-gc', 'knn_linear', [0.001] * 10) + _runs('slide-gc', 'knn_mean', [0.003])
    runs += _runs('slide-gc', 'gp_model', [0.0005, 0.0005])
    runs += _runs('rope-swing', 'knn_linear', [0.001]) + _runs('rope-swing', 'knn_mean', [0.002])
    doc = {
        'machine': {'cores': 2},
        'config': {'methods': ['knn_linear', 'knn_mean', 'gp_model'], 'goals': 2, 'iterations': 2},
        'runs': runs,
        'aggregates': results.aggregate(runs),
    }
    lines = compare_offline_default(results.Selection(doc))
    assert len(lines) == 3
    assert 'roll-gc: `knn_linear` is worse than `knn_mean`' in lines[0]
    assert '6 mm vs 2 mm (+4 mm, 3.0×)' in lines[0]
    assert 'last five trials 103 mm vs 101 mm' in lines[0]  # costs [0.2, final]
    assert 'slide-gc: `knn_linear` is worse than `gp_model`' in lines[1]
    assert '1 mm vs 0.5 mm (+0.5 mm, 2.0×)' in lines[1]
    assert lines[2] == (
        '- `knn_linear` (the offline default) has the lowest mean final cost of the non-LLM '
        'methods on rope-swing (compared with `knn_mean`, `gp_model`; not run: '
        '`random_shooting`, `bayes_opt`).'
    )
    _, measured, met, _ = BaselineRow().cells({}, results.Selection(doc))
    assert met is None and 'not a full-size run' in measured  # 2 goals, 2 iterations
    doc['config'].update(goals=10, iterations=20)
    _, measured, met, _ = BaselineRow().cells({}, results.Selection(doc))
    assert met is False and measured == (
        'roll-gc: `knn_linear` vs `knn_mean`: 6 mm vs 2 mm (+4 mm, 3.0×); '
        'slide-gc: `knn_linear` vs `gp_model`: 1 mm vs 0.5 mm (+0.5 mm, 2.0×)'
    )


def test_the_memory_table_reads_on_and_off_side_by_side_with_failed_and_missing_groups():
    forgetful = _runs('roll-gc', 'knn_linear', [0.01, 0.03])
    failed = [
        {**run, 'error': 'planner: failed'}
        for run in _runs('roll-gc', 'knn_mean', [0.1])
        for run in [{k: v for k, v in run.items() if k not in ('costs', 'final', 'best')}]
    ]
    runs = _runs('roll-gc', 'knn_linear', [0.004, 0.008]) + _runs('roll-gc', 'knn_mean', [0.002])
    runs += _runs('slide-gc', 'knn_linear', [0.001])
    runs += [{**run, 'episode_memory': False} for run in forgetful + failed]
    doc = {
        'config': {'methods': ['knn_linear', 'random_shooting', 'knn_mean']},
        'runs': runs,
        'aggregates': results.aggregate(runs),
    }
    selection = results.Selection(doc)
    assert selection.memory_ablated_methods() == ['knn_linear', 'knn_mean']
    assert selection.get('roll-gc', 'knn_linear')['final']['mean'] == pytest.approx(0.006)
    table = memory_table(selection)
    assert table[2:] == [
        '| roll-gc | `knn_linear` | 6 mm / 20 mm | 103 mm / 110 mm | 100 % / 50 % |',
        '| roll-gc | `knn_mean` | 2 mm / failed | 101 mm / failed | 100 % / failed |',
        '| slide-gc | `knn_linear` | 1 mm / — | 100 mm / — | 100 % / — |',
    ]
    remembering = [run for run in runs if run.get('episode_memory', True)]
    without = results.Selection({**doc, 'aggregates': results.aggregate(remembering)})
    assert memory_table(without) == []


def test_interrupted_bench_saves_the_partial_results_and_exits_130(tmp_path, monkeypatch):
    def interrupted(specs, executor, llm_concurrency, on_result, progress, finished):
        on_result(specs[0], harness.run_one(specs[0]))
        raise KeyboardInterrupt

    monkeypatch.setattr(pool, 'run_grid', interrupted)
    out = tmp_path / 'partial.json'
    code = main(['bench', '--quick', '--tasks', 'slide-gc', '--methods', 'knn_linear',
                 '--iterations', '2', '--out', str(out)])  # fmt: skip
    assert code == 130
    doc = json.loads(out.read_text())
    assert doc['complete'] is False and len(doc['runs']) == 1 < doc['planned_runs']
    assert len((tmp_path / 'partial.json.partial.jsonl').read_text().splitlines()) == 1


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
