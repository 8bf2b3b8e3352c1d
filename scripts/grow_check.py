# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Check whether a dataset grown with the robot's own runs helps (README.md, growing a dataset).

    source env.sh && python scripts/grow_check.py [--task slide-gc] [--improver knn_linear]
        [--runs 5] [--goals 50] [--spacings 0,0.5] [--base-size N] [--json OUT]

Records --runs episodes of --improver, 20 trials each, on goals of seeds 100, 101, ...
(`icpi improve --record FILE`: the trial lines of a run record), grows the shipped dataset
(or --base-size examples of it, drawn as the dataset-size ablation draws them) with them once
per spacing (`icpi dataset grow FILE... --spacing S`), then runs the improver on --goals
other goals (seeds 0, 1, ...) with that dataset and with each grown one:
mean final cost, mean of the last five trials, median trials to the success threshold, worst
final cost. Everything runs through the `icpi` commands, in a temporary folder.
"""

import argparse
import contextlib
import io
import json
import statistics
import sys
import tempfile
from pathlib import Path

from icpi_ros.cli import main
from icpi_ros.core.bench.methods import success_threshold
from icpi_ros.core.dataset import load_dataset
from icpi_ros.core.paths import data_dir

ITERATIONS = 20
RUN_SEEDS = 100  # the recorded runs' goals: seeds from here, apart from the goals scored


def icpi(*argv: str) -> str:
    """Run one `icpi` command in this process; return its standard output."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()) as err:
        code = main(list(argv))
    if code != 0:
        raise SystemExit(f'icpi {" ".join(argv)}: exit {code}: {err.getvalue().strip()}')
    return out.getvalue()


def episodes(task: str, improver: str, dataset: Path, goals: int) -> dict:
    """Run the improver on goals 0 .. goals-1 with `dataset`; return the figures."""
    threshold = success_threshold(task)
    finals, last5, reach = [], [], []
    for seed in range(goals):
        argv = ['improve', '--task', task, '--improver', improver, '--seed', str(seed)]
        argv += ['--iterations', str(ITERATIONS), '--dataset', str(dataset), '--json']
        costs = json.loads(icpi(*argv))['costs']
        finals.append(costs[-1])
        last5.append(statistics.mean(costs[-5:]))
        reach.append(next((i + 1 for i, c in enumerate(costs) if c <= threshold), None))
    return {
        'examples': len(load_dataset(dataset)),
        'mean_final_mm': round(1e3 * statistics.mean(finals), 2),
        'mean_last5_mm': round(1e3 * statistics.mean(last5), 2),
        'median_trials_to_threshold': statistics.median(r or ITERATIONS + 1 for r in reach),
        'never': sum(r is None for r in reach),
        'worst_final_mm': round(1e3 * max(finals), 2),
    }


def run(args: argparse.Namespace, folder: Path) -> dict:
    """Record the runs, grow the datasets, score every dataset."""
    base = data_dir() / f'{args.task}.json'
    name = 'shipped'
    if args.base_size:
        base = load_dataset(base).subsample(args.base_size).save(folder / 'base.json')
        name = f'shipped, {args.base_size} of it'
    records = []
    for r in range(args.runs):
        record = folder / f'run-{r}.jsonl'
        argv = ['improve', '--task', args.task, '--improver', args.improver]
        argv += ['--seed', str(RUN_SEEDS + r), '--iterations', str(ITERATIONS)]
        icpi(*argv, '--dataset', str(base), '--record', str(record), '--json')
        records.append(str(record))
    datasets = {name: base}
    for spacing in args.spacings:
        out = folder / f'grown-{spacing}' / f'{args.task}.json'
        grow = ['dataset', 'grow', *records, '--dataset', str(base), '--spacing', str(spacing)]
        icpi(*grow, '--out', str(out))
        datasets[f'grown, spacing {spacing}'] = out
    results = {}
    for name, path in datasets.items():
        results[name] = episodes(args.task, args.improver, path, args.goals)
        print(f'{name:>20}: {json.dumps(results[name])}', flush=True)
    return {
        'task': args.task,
        'improver': args.improver,
        'runs': args.runs,
        'goals': args.goals,
        'base_size': args.base_size or None,
        'iterations': ITERATIONS,
        'results': results,
    }


def main_() -> int:
    """Parse the arguments, run the check, print (and write) the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--task', default='slide-gc')
    parser.add_argument('--improver', default='knn_linear')
    parser.add_argument('--runs', type=int, default=5, help='episodes recorded (default 5)')
    parser.add_argument('--goals', type=int, default=50, help='goals scored (default 50)')
    parser.add_argument(
        '--spacings',
        type=lambda text: [float(v) for v in text.split(',')],
        default=[0.0, 0.5],
        help='the --spacing of each grown dataset (default 0,0.5)',
    )
    parser.add_argument(
        '--base-size', type=int, default=0, help='grow this many of the shipped examples'
    )
    parser.add_argument('--json', default=None, help='also write the figures here')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix='grow-check-') as folder:
        figures = run(args, Path(folder))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main_())
