# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""`icpi dataset collect` and `icpi improve`: the learning core on the fast sim path, no ROS."""

import argparse
import json
import sys
from pathlib import Path

from icpi_ros.exit_codes import EXIT_FAILED, EXIT_OK


def _sim_task(args: argparse.Namespace):
    from icpi_ros.core.tasks import load_tasks, require_simulated

    return require_simulated(load_tasks(args.tasks_file)[args.task])


def _cmd_collect(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from icpi_ros.core.collect import collect_dataset
    from icpi_ros.core.sim.simulator import TrialRunner

    task = _sim_task(args)
    runner = TrialRunner(task)
    goal = np.array(task.default_goal)  # outcomes do not depend on the goal
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


def _cmd_improve(args: argparse.Namespace) -> int:
    import numpy as np

    from icpi_ros.core.improvers import (
        ImproverContext,
        make_improver,
        resolve_default,
        resolve_fallback,
    )
    from icpi_ros.core.llm import LLMConfig
    from icpi_ros.core.loop import Iteration, draw_goal, improve
    from icpi_ros.core.records import new_run_id
    from icpi_ros.core.retrieval import ExampleLibrary
    from icpi_ros.core.run_lines import ExecutedTrial, append_line, trial_line
    from icpi_ros.core.sim.simulator import TrialRunner

    task = _sim_task(args)
    goal = draw_goal(task, args.seed) if args.goal is None else task.check_goal(args.goal)
    theta0 = task.theta_middle() if args.theta0 is None else task.check_theta(args.theta0)
    llm = LLMConfig.from_env(
        args.llm_base_url,
        args.llm_model,
        api=args.llm_api,
        system_role=not args.llm_no_system_role,
        reasoning=args.llm_reasoning,
        repair_attempts=args.repair_attempts,
    )
    name, warning = resolve_default(args.improver, llm)
    if warning:
        print(f'icpi improve: warning: {warning}', file=sys.stderr)
    files = {task.name: args.dataset} if args.dataset else None
    context = ImproverContext(
        seed=args.seed,
        k=args.k,
        encoding=args.encoding,
        examples=ExampleLibrary(files=files, encoding=args.encoding),
        llm=llm,
        promptpo_candidates=args.promptpo_candidates,
        log=lambda message: print(f'icpi improve: {message}', file=sys.stderr),
        promptpo_sandbox=args.promptpo_sandbox,
    )
    improver = make_improver(name, context)
    fallback_name = resolve_fallback(args.fallback, name, task.name, context.examples)
    fallback = make_improver(fallback_name, context) if fallback_name else None
    for made in (improver, fallback):
        if getattr(made, 'warning', ''):
            print(f'icpi improve: warning: {made.warning}', file=sys.stderr)
    out = sys.stderr if args.json else sys.stdout
    record = Path(args.record) if args.record else None
    if record is not None:
        record.write_bytes(b'')  # a fresh file, one run line per trial from here on
    run_id = new_run_id(task.name)  # trial ids as in a run record: <run id>-<iteration>
    sim_trials = []  # the simulated trial of each iteration

    def show(it: Iteration) -> None:
        theta = ' '.join(f'{v:.4f}' for v in it.theta)
        print(
            f'[{it.iteration + 1:2d}/{args.iterations}] theta {theta}  cost {it.cost:.4f} '
            f'{task.outcome_unit}',
            file=out,
            flush=True,
        )
        if record is not None:
            trial = ExecutedTrial.from_sim(sim_trials[it.iteration], f'{run_id}-{it.iteration}')
            timing = {'trial_s': round(it.trial_s, 6), 'plan_s': round(it.plan_s, 6)}
            theta_next = None if it.theta_next is None else it.theta_next.tolist()
            append_line(record, {**trial_line(trial, it, timing), 'theta_next': theta_next})

    def run(theta: np.ndarray) -> np.ndarray:
        sim_trials.append(runner.run(theta, goal))
        return sim_trials[-1].outcome

    runner = TrialRunner(task)
    try:
        result = improve(
            task, run, goal, theta0, improver, args.iterations, args.tolerance, fallback, show
        )
    finally:
        runner.close()
    if record is not None and result.failed_step is not None:
        append_line(record, result.failed_step.as_dict())
    summary = result.summary(name)
    if args.json:
        print(json.dumps(summary))
    else:
        steps = ', '.join(
            f'{summary[k]} {k.removesuffix("_steps")}'
            for k in ('llm_steps', 'repaired_steps', 'fallback_steps', 'failed_steps')
            if summary[k]
        )
        print(
            f'{task.name} with {name}: final cost {summary["final_cost"]:.4f}, best '
            f'{summary["best_cost"]:.4f} {task.outcome_unit} (goal {np.round(goal, 4).tolist()})'
            + (f'; steps answered: {steps}' if steps else '')
        )
    if result.failed_step is not None:
        print(f'icpi improve: run failed: {result.failed_step.error}', file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction, floats) -> None:
    """Register `dataset` and `improve` on the `icpi` parser; `floats` parses vectors."""
    from icpi_ros.core.improvers import AUTO, FALLBACK_CHOICES, IMPROVERS
    from icpi_ros.core.llm import APIS
    from icpi_ros.core.promptpo.sandbox import ISOLATIONS
    from icpi_ros.core.retrieval import DEFAULT_K, ENCODINGS

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
    p.add_argument('--tasks-file', default=None, help='tasks YAML (default: config/tasks.yaml)')
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
    p.add_argument('--tasks-file', default=None, help='tasks YAML (default: config/tasks.yaml)')
    p.set_defaults(func=_cmd_from_runs)

    p = sub.add_parser(
        'improve',
        help='run the improvement loop on the fast sim path (no ROS)',
        description='Trial, score, ask the improver, repeat. Prints one line per iteration '
        'and a summary (with --json: the lines go to stderr, one JSON object to stdout).',
    )
    p.add_argument('--task', required=True)
    p.add_argument(
        '--improver',
        default=AUTO,
        choices=[AUTO, *sorted(IMPROVERS)],
        help=f'{AUTO} (default): llm if an endpoint is configured, else knn_linear',
    )
    p.add_argument('--iterations', type=int, default=20)
    p.add_argument('--seed', type=int, default=0, help='draws the goal and seeds the improver')
    p.add_argument('--goal', type=floats, default=None, help='default: drawn from the range')
    p.add_argument('--theta0', type=floats, default=None, help='default: middle of the bounds')
    p.add_argument('--tolerance', type=float, default=0.0, help='stop once cost <= this')
    p.add_argument('--k', type=int, default=DEFAULT_K, help='examples retrieved (knn_linear, llm)')
    p.add_argument('--encoding', choices=ENCODINGS, default='error')
    p.add_argument('--dataset', default=None, help='default: data/<task>.json')
    p.add_argument(
        '--fallback',
        default=AUTO,
        choices=FALLBACK_CHOICES,
        help='improver used when the main one fails; auto (default): knn_linear behind llm; '
        'none: the run fails instead',
    )
    p.add_argument(
        '--promptpo-candidates',
        type=int,
        default=4,
        help='promptpo: policies the LLM writes per round, one trial each (default 4)',
    )
    p.add_argument(
        '--promptpo-sandbox',
        choices=ISOLATIONS,
        default='kernel',
        help='promptpo: isolation of LLM-written code; kernel (default): bubblewrap + seccomp, '
        'refuses to run without them; rlimits: weaker (Python checks and rlimits), warned',
    )
    p.add_argument('--llm-base-url', default='', help='default: $OPENAI_BASE_URL')
    p.add_argument('--llm-model', default='', help='default: $ICPI_LLM_MODEL or gpt-4o')
    p.add_argument(
        '--llm-api',
        choices=APIS,
        default='chat',
        help='chat (default) or completions (raw example lines, newline stop: base models)',
    )
    p.add_argument(
        '--llm-reasoning',
        action='store_true',
        help='a reasoning model: max_completion_tokens, no temperature',
    )
    p.add_argument(
        '--llm-no-system-role',
        action='store_true',
        help='put the instructions in the user turn (models without a system role)',
    )
    p.add_argument(
        '--repair-attempts',
        type=int,
        default=2,
        help='re-asks after a refused answer, then the fallback (default 2)',
    )
    p.add_argument(
        '--record',
        default=None,
        help='write every trial (prompts too) as the lines of a run record (trials.jsonl, '
        'plus theta_next); icpi dataset from-runs reads the file',
    )
    p.add_argument('--tasks-file', default=None, help='tasks YAML (default: config/tasks.yaml)')
    p.add_argument('--json', action='store_true', help='print the summary as one JSON object')
    p.set_defaults(func=_cmd_improve)
