# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""`icpi dataset collect` and `icpi dataset from-runs`: improvement datasets, no ROS."""

import argparse
import sys
from pathlib import Path

from icpi_ros.cli.args import add_tasks_file, sim_task
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
    from icpi_ros.core.records import RunRecord, default_runs_dir
    from icpi_ros.core.run_lines import read_run_file
    from icpi_ros.core.tasks import load_tasks
    from icpi_ros.core.validation import InvalidInput

    task = load_tasks(args.tasks_file)[args.task]
    runs_dir = Path(args.runs_dir) if args.runs_dir else default_runs_dir()
    theta, outcome = [], []
    for source in args.runs:
        if Path(source).is_file():  # written by icpi improve --record: the task in each line
            trials, _ = read_run_file(source)
            for trial in trials:
                if trial.get('task') != task.name:
                    raise InvalidInput(
                        f'{source}: iteration {trial["iteration"]} is of task {trial.get("task")!r}'
                    )
        else:
            record = RunRecord.open(runs_dir, source)
            if record.config.get('task') != task.name:
                raise InvalidInput(f'run {source} is of task {record.config.get("task")!r}')
            trials = record.trials()
        for trial in trials:
            theta.append(trial['theta'])
            outcome.append(trial['outcome'])
    dataset = relabel_rollouts(
        task,
        np.array(theta, dtype=float),
        np.array(outcome, dtype=float),
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


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `dataset collect` and `dataset from-runs` on the `icpi` parser."""
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
    p.add_argument('--runs-dir', default='', help='default: $ICPI_RUNS_DIR, else ./runs')
    p.add_argument('--max-examples', type=int, default=300, help='dataset size (default 300)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', required=True, help='dataset JSON to write (atomically)')
    add_tasks_file(p)
    p.set_defaults(func=_cmd_from_runs)
