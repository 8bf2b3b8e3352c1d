# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""`icpi dataset collect`, `from-runs` and `grow`: improvement datasets, no ROS."""

import argparse
import sys
from pathlib import Path

from icpi_ros.cli.args import add_runs_dir, add_tasks_file, runs_dir, sim_task
from icpi_ros.cli.exit_codes import EXIT_OK


def _cmd_collect(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from icpi_ros.core.collect import collect_dataset
    from icpi_ros.core.sim.simulator import TrialRunner

    task = sim_task(args)
    runner = TrialRunner(task)
    # An open-loop stroke's outcome does not depend on the goal; a closed-loop controller's
    # does: its rollouts all aim at the default goal (said in the provenance).
    goal = np.array(task.default_goal)
    bar = tqdm(total=args.rollouts, desc=f'{task.name} rollouts', unit='trial', file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        dataset = collect_dataset(
            task,
            lambda theta: runner.run(theta, goal).outcome,
            rollouts=args.rollouts,
            max_examples=args.max_examples,
            seed=args.seed,
            progress=progress,
        )
    finally:
        bar.close()
        runner.close()
    if task.closed_loop is not None:
        dataset.provenance['rollout_goal'] = goal.tolist()
    dataset.provenance['command'] = (
        f'icpi dataset collect --task {task.name} --rollouts {args.rollouts} '
        f'--max-examples {args.max_examples} --seed {args.seed}'
    )
    path = dataset.save(args.out)
    print(
        f'{path}: {len(dataset)} examples of {task.name} from {args.rollouts} rollouts '
        f'({dataset.provenance["method"]}, seed {args.seed})'
    )
    return EXIT_OK


def _cmd_from_runs(args: argparse.Namespace) -> int:
    import datetime

    import numpy as np

    from icpi_ros.core.collect import relabel_rollouts
    from icpi_ros.core.recorded_runs import read_runs
    from icpi_ros.core.tasks import load_tasks

    task = load_tasks(args.tasks_file)[args.task]
    runs = read_runs(args.runs, runs_dir(args), task.name)
    arrays = [run.arrays(task) for run in runs]
    theta = np.vstack([pair[0] for pair in arrays])
    outcome = np.vstack([pair[1] for pair in arrays])
    dataset = relabel_rollouts(
        task,
        theta,
        outcome,
        args.max_examples,
        np.random.default_rng(args.seed),
        {
            'created': datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds'),
            'rollouts': len(theta),
            'runs': list(args.runs),
            'seed': args.seed,
            'command': f'icpi dataset from-runs --task {task.name} {" ".join(args.runs)}',
        },
    )
    path = dataset.save(args.out)
    print(f'{path}: {len(dataset)} examples of {task.name} from {len(theta)} recorded trials')
    return EXIT_OK


def _cmd_grow(args: argparse.Namespace) -> int:
    import datetime
    import shlex

    from icpi_ros import __version__
    from icpi_ros.core.dataset import load_dataset
    from icpi_ros.core.dataset_grow import RunTrials, check_grown_path, grow_dataset
    from icpi_ros.core.paths import source_commit
    from icpi_ros.core.recorded_runs import read_runs
    from icpi_ros.core.records import new_run_id
    from icpi_ros.core.retrieval import ExampleLibrary
    from icpi_ros.core.tasks import load_tasks

    tasks = load_tasks(args.tasks_file)
    folder = runs_dir(args)
    runs = read_runs(args.runs, folder, args.task)
    task = tasks[runs[0].task]
    base_path = Path(args.dataset) if args.dataset else ExampleLibrary().path(task)
    if args.out:
        out = Path(args.out)
    else:  # a folder of its own: a planner's datasets_dir
        out = folder / 'datasets' / new_run_id(f'{task.name}-grown') / f'{task.name}.json'
    check_grown_path(out, base_path)  # before any work
    base = load_dataset(base_path)
    base.check_task(task)
    command = ['icpi', 'dataset', 'grow', *args.runs, '--task', task.name]
    command += ['--dataset', str(base_path), '--max-examples', str(args.max_examples)]
    command += ['--spacing', str(args.spacing)]
    growth = grow_dataset(
        base,
        [RunTrials(run.name, *run.arrays(task)) for run in runs],
        args.max_examples,
        args.spacing,
        provenance={
            'created': datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds'),
            'command': shlex.join([*command, '--out', str(out)]),
            'commit': source_commit(),
            'icpi_ros': __version__,
            'dataset': str(base_path),
            'runs_dir': str(folder),
        },
    )
    path = growth.dataset.save(out)
    total = growth.total
    print(
        f'{path}: {len(growth.dataset)} examples of {task.name}: {growth.base_size} of '
        f'{base_path} and {total("added")} added from {len(runs)} run(s) '
        f'({total("examples")} hindsight examples of {total("trials")} trials; '
        f'{total("duplicates")} duplicates dropped, {total("too_close")} too close to the '
        f'examples kept (--spacing {args.spacing}: {growth.spacing:.3f} in normalised '
        f'[theta, e]), {total("over_bound")} over --max-examples {args.max_examples})'
    )
    for run in growth.runs:
        print(
            f'  {run.run}: {run.trials} trials, {run.examples} examples: {run.duplicates} '
            f'duplicates, {run.too_close} too close, {run.over_bound} over the bound, '
            f'{run.added} added'
        )
    print(f'use it: icpi improve --task {task.name} --dataset {path}')
    if path.name == f'{task.name}.json':
        print(f'        icpi_planner --ros-args -p datasets_dir:={path.parent}')
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `dataset collect`, `dataset from-runs` and `dataset grow` on the `icpi` parser."""
    from icpi_ros.core.dataset_grow import SPACING

    p = sub.add_parser('dataset', help='improvement datasets')
    dsub = p.add_subparsers(dest='dataset_command', metavar='ACTION', required=True)
    p = dsub.add_parser(
        'collect',
        help='build a dataset from sim rollouts',
        description='Run N rollouts with parameters spread over the bounds (Latin hypercube) '
        'and keep up to --max-examples examples: hindsight relabelling for goal-conditioned '
        'tasks, brute-force search around the best rollout for fixed-goal tasks.',
    )
    p.add_argument('--task', required=True)
    p.add_argument('--rollouts', type=int, default=300, help='simulated trials (default 300)')
    p.add_argument('--max-examples', type=int, default=300, help='dataset size (default 300)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', required=True, help='dataset JSON to write (atomically)')
    add_tasks_file(p)
    p.set_defaults(func=_cmd_collect)

    p = dsub.add_parser(
        'from-runs',
        help="build a dataset from recorded trials (a real robot's runs)",
        description='Hindsight relabelling of the (theta, outcome) pairs in the trials.jsonl '
        'of one or more run records, e.g. random trials on the real robot: `icpi '
        'improve-graph --task roll-gc-real --improver random_shooting --iterations 100`, '
        'or in files written by `icpi improve --record FILE`.',
    )
    p.add_argument(
        'runs',
        nargs='+',
        metavar='RUN_ID',
        help='run ids (or latest); an existing file is read as an `icpi improve --record` file',
    )
    p.add_argument('--task', required=True)
    add_runs_dir(p)
    p.add_argument('--max-examples', type=int, default=300, help='dataset size (default 300)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', required=True, help='dataset JSON to write (atomically)')
    add_tasks_file(p)
    p.set_defaults(func=_cmd_from_runs)

    p = dsub.add_parser(
        'grow',
        help="add runs' hindsight examples to a task's dataset (a new file)",
        description='Relabel the trials of each run as the episode memory does (trials i != j: '
        "e = s_i - s_j, delta theta = theta_j - theta_i) and add those examples to the task's "
        'dataset (default: the shipped data/<task>.json): duplicates of examples kept '
        'before them are dropped; every example of the dataset is kept and the new ones are '
        'taken farthest-point first in normalised [theta, e] while they are at least '
        '--spacing from the examples kept, up to --max-examples. Each example is tagged with '
        'its run, the growth is recorded in the provenance. Writes a new file, never into '
        "the shipped datasets' folder.",
    )
    p.add_argument(
        'runs',
        nargs='+',
        metavar='RUN_ID',
        help='run ids (or latest) of one task; an existing file is read as an `icpi improve '
        '--record` file',
    )
    p.add_argument('--task', default=None, help="default: the runs' task")
    p.add_argument(
        '--dataset', default=None, help='the dataset to grow (default: data/<task>.json)'
    )
    add_runs_dir(p)
    p.add_argument(
        '--max-examples',
        type=int,
        default=1000,
        help='size of the grown dataset at most (default 1000)',
    )
    p.add_argument(
        '--spacing',
        type=float,
        default=SPACING,
        help='least distance of a new example to the examples kept, as a fraction of the '
        "dataset's median nearest-neighbour distance in normalised [theta, e] (default "
        f'{SPACING}; 0: every distinct example, up to --max-examples)',
    )
    p.add_argument(
        '--out',
        default=None,
        help='dataset JSON to write (atomically); default: '
        '<runs-dir>/datasets/<stamp>-<task>-grown-<hex>/<task>.json',
    )
    add_tasks_file(p)
    p.set_defaults(func=_cmd_grow)
