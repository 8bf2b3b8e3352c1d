# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""`icpi improve`: the improvement loop on the fast sim path, no ROS."""

import argparse
import json
import sys
from pathlib import Path

from icpi_ros.cli.args import add_tasks_file, floats, sim_task
from icpi_ros.cli.exit_codes import EXIT_FAILED, EXIT_OK


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
    from icpi_ros.core.scoring import Score
    from icpi_ros.core.sim.simulator import TrialRunner

    task = sim_task(args)
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
    if task.closed_loop is not None and name == 'promptpo':
        return _closed_loop_promptpo(args, task, llm)
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
        episode_memory=args.episode_memory,
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

    def show(iteration: Iteration) -> None:
        theta = ' '.join(f'{v:.4f}' for v in iteration.theta)
        print(
            f'[{iteration.iteration + 1:2d}/{args.iterations}] theta {theta}  '
            f'cost {iteration.cost:.4f} {task.outcome_unit}',
            file=out,
            flush=True,
        )
        if record is not None:
            trial = ExecutedTrial.from_sim(
                sim_trials[iteration.iteration], f'{run_id}-{iteration.iteration}'
            )
            timing = {'trial_s': round(iteration.trial_s, 6), 'plan_s': round(iteration.plan_s, 6)}
            theta_next = None if iteration.theta_next is None else iteration.theta_next.tolist()
            append_line(record, {**trial_line(trial, iteration, timing), 'theta_next': theta_next})

    def run(theta: np.ndarray) -> Score:
        sim_trials.append(runner.run(theta, goal))
        return sim_trials[-1].score()

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


def _closed_loop_promptpo(args: argparse.Namespace, task, llm) -> int:
    """PromptPO on a closed-loop task: the LLM writes `class Policy`, rounds of rollouts."""
    from icpi_ros.core.files import write_atomic
    from icpi_ros.core.promptpo.closed_loop_run import run_search, search_summary
    from icpi_ros.core.promptpo.closed_loop_state import SearchSettings
    from icpi_ros.core.run_lines import dumps

    settings = SearchSettings(
        rounds=args.promptpo_rounds,
        candidates=args.promptpo_candidates,
        episodes=args.promptpo_episodes,
        seed=args.seed,
    )
    out = sys.stderr if args.json else sys.stdout
    given = (('--goal', args.goal), ('--theta0', args.theta0), ('--tolerance', args.tolerance))
    ignored = [flag for flag, value in given if value]
    if ignored:
        print(
            f'icpi improve: warning: {", ".join(ignored)} not used by the closed-loop PromptPO '
            '(it draws its evaluation goals from --seed)',
            file=sys.stderr,
        )
    rounds: list[dict] = []  # as they end: the record keeps them if the run is cut short

    def show(round_log: dict) -> None:
        rounds.append(round_log)
        if args.record:
            write_atomic(args.record, dumps({'status': 'running', 'rounds': rounds}) + '\n')
        tried = [c for c in round_log['candidates'] if 'mean_cost' in c]
        winner, best = round_log.get('winner'), round_log.get('best')
        cost = f'{winner["mean_cost"]:.4f}' if winner else 'none ran'
        print(
            f'[round {round_log["round"]}/{settings.rounds}] {len(tried)} of '
            f'{len(round_log["candidates"])} candidates ran; round best {cost} '
            f'{task.outcome_unit}; best so far: round {best["round"] if best else "-"}',
            file=out,
            flush=True,
        )

    result = run_search(task, llm, settings, args.promptpo_sandbox, on_round=show)
    summary = search_summary(task, result)
    if args.record:  # the whole run log: prompts, answers, candidates, scores, repairs
        write_atomic(args.record, dumps({**result.log, 'summary': summary}) + '\n')
    if args.json:
        print(json.dumps(summary))
    elif result.best is not None:
        print(
            f'{task.name} with promptpo (closed loop): best mean cost '
            f'{result.best.mean_cost:.4f} {task.outcome_unit} (round {result.best.round}), '
            f'{result.episodes_used} episodes, {result.llm_calls} LLM calls; status '
            f'{result.status}' + (f' ({result.reason})' if result.reason else '')
        )
        print(result.best.code, file=out)
    if result.best is None or result.status == 'failed':
        print(f'icpi improve: run failed: {result.reason or "no policy ran"}', file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `improve` on the `icpi` parser."""
    from icpi_ros.core.improvers import AUTO, FALLBACK_CHOICES, IMPROVERS
    from icpi_ros.core.llm import APIS
    from icpi_ros.core.promptpo.sandbox import ISOLATIONS
    from icpi_ros.core.retrieval import DEFAULT_K, ENCODINGS

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
        '--promptpo-rounds',
        type=int,
        default=5,
        help='promptpo on a closed-loop task (push-gc): rounds of candidates (default 5)',
    )
    p.add_argument(
        '--promptpo-episodes',
        type=int,
        default=3,
        help='promptpo on a closed-loop task: episodes (goals) per candidate (default 3)',
    )
    p.add_argument(
        '--promptpo-sandbox',
        choices=ISOLATIONS,
        default='kernel',
        help='promptpo: isolation of LLM-written code; kernel (default): bubblewrap + seccomp, '
        'refuses to run without them; rlimits: weaker (Python checks and rlimits), warned',
    )
    p.add_argument(
        '--no-episode-memory',
        dest='episode_memory',
        action='store_false',
        help="search the dataset alone, not also the run's own trials relabelled in hindsight",
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
    add_tasks_file(p)
    p.add_argument('--json', action='store_true', help='print the summary as one JSON object')
    p.set_defaults(func=_cmd_improve)
