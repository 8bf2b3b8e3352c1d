# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""`icpi bench`: methods side by side (and the ablations) on the fast sim path, no ROS."""

import argparse
import json
import os
import sys
import time
from pathlib import Path

from icpi_ros.cli.args import integers, names
from icpi_ros.cli.exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from icpi_ros.core.validation import InvalidInput


def _config(args: argparse.Namespace):
    from icpi_ros.core.bench.harness import BenchConfig

    overrides = {
        name: value
        for name, value in (
            ('tasks', args.tasks),
            ('methods', args.methods),
            ('goals', args.goals),
            ('iterations', args.iterations),
            ('sizes', args.sizes),
            ('encodings', args.encodings),
            ('theta0', args.theta0),
            ('memory_ablation', args.memory_ablation),
        )
        if value is not None
    }
    if args.no_ablations:
        overrides.update(sizes=(), encodings=('error',), memory_ablation=False)
    base = BenchConfig.quick(**overrides) if args.quick else BenchConfig(**overrides)
    return base.checked()


def _print_summary(document: dict, out) -> None:
    """One line per task and method: mean +- std final cost (mm), success rate, runs."""
    for entry in document['aggregates']:
        if entry['encoding'] != 'error' or entry['dataset_size'] or not entry['episode_memory']:
            continue
        name = f'{entry["task"]:11s} {entry["method"]:16s}'
        if 'final' not in entry:
            print(f'{name} failed: {"; ".join(entry.get("errors", []))}', file=out)
            continue
        final = entry['final']
        print(
            f'{name} final {final["mean"] * 1e3:8.2f} +- {final["std"] * 1e3:7.2f} mm  '
            f'success {entry["success_rate"] * 100:5.1f} %  (n={entry["n"]})',
            file=out,
        )


def _save(path: Path, document: dict) -> None:
    from icpi_ros.core.bench import results
    from icpi_ros.core.files import write_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, results.dumps(document))


def _cmd_bench(args: argparse.Namespace) -> int:
    from icpi_ros.core.bench import harness, pool, results
    from icpi_ros.core.bench.journal import Journal, journal_path
    from icpi_ros.core.bench.report.page import write_report

    out = Path(args.out)
    if args.report_only:
        if not args.report:
            raise InvalidInput('--report-only needs --report')
        write_report(args.report, args.system or _sibling(args.report), out)
        print(f'wrote {args.report} from {out}', file=sys.stderr)
        return EXIT_OK
    config = _config(args)
    specs = harness.plan_runs(config, harness.shipped_dataset_sizes(config.tasks))
    if args.llm_concurrency < 1:
        raise InvalidInput(f'--llm-concurrency must be at least 1, got {args.llm_concurrency}')
    workers = args.workers or (0 if args.executor == 'ray' else os.cpu_count() or 1)
    with pool.make_executor(args.executor, workers, args.llm_concurrency, args.address) as ex:
        journal = Journal(journal_path(out))
        finished = {s: r for s, r in journal.open(args.resume).items() if s in set(specs)}
        print(
            f'icpi bench: {len(specs)} runs ({len(config.tasks)} tasks x '
            f'{len(config.methods)} methods x {config.goals} goals + ablations), '
            f'{config.iterations} iterations each; {ex.name}: {ex.cpu_slots} at once, '
            f'LLM runs {args.llm_concurrency}'
            + (f'; resumed: {len(finished)} already done' if args.resume else ''),
            file=sys.stderr,
        )
        new: list[dict] = []
        complete = False
        start = time.perf_counter()
        try:
            pool.run_grid(
                specs,
                ex,
                args.llm_concurrency,
                lambda spec, record: (journal.append(spec, record), new.append(record)),
                progress=not args.no_progress,
                finished=finished,
            )
            complete = True
        except KeyboardInterrupt:
            pass
        finally:
            runs = [*finished.values(), *new]
            document = results.make_document(
                config,
                specs,
                runs,
                complete,
                time.perf_counter() - start,
                command_line(config),
                ex.cpu_slots,
                {'executor': args.executor, 'llm_concurrency': args.llm_concurrency},
            )
            _save(out, document)
    if complete:
        journal.remove()
    failed = [r for r in runs if 'error' in r]
    if args.json:
        print(json.dumps(document['aggregates']))
    else:
        _print_summary(document, sys.stdout)
    print(f'wrote {out} ({len(runs)} of {len(specs)} runs)', file=sys.stderr)
    if not complete:
        print(
            f'icpi bench: interrupted; the partial results are saved ({journal.path}: '
            'the same command with --resume runs only the rest)',
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if args.report:
        write_report(args.report, args.system or _sibling(args.report), out)
        print(f'wrote {args.report}', file=sys.stderr)
    if failed:
        print(
            f'icpi bench: {len(failed)} runs failed, e.g. {failed[0]["task"]} '
            f'{failed[0]["method"]}: {failed[0]["error"]}',
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK


def command_line(config) -> str:
    """Return the `icpi bench` command that runs `config` (with the saved defaults spelt out)."""
    sizes = ','.join(map(str, config.sizes)) or "''"
    memory = '--memory-ablation' if config.memory_ablation else '--no-memory-ablation'
    return (
        f'icpi bench --tasks {",".join(config.tasks)} --methods {",".join(config.methods)} '
        f'--goals {config.goals} --iterations {config.iterations} --sizes {sizes} '
        f'--encodings {",".join(config.encodings)} {memory} --theta0 {config.theta0}'
    )


def _sibling(report: str) -> Path:
    """Return bench_results.json next to the report (where `make bench` keeps it)."""
    return Path(report).parent / 'bench_results.json'


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `bench` on the `icpi` parser."""
    p = sub.add_parser(
        'bench',
        help='compare the improvers on every sim task (and the ablations), no ROS',
        description='Run tasks x methods x goals on the fast sim path in worker processes: '
        'the same episodes (goal, theta0) for every method; then the dataset-size and '
        'encoding ablations for the methods that read the improvement dataset, and the '
        'episode-memory ablation (knn_linear, knn_mean, llm with memory off). Writes every '
        'run and the aggregates (final cost mean +- std, success rate, cost-vs-iteration '
        'curves) to --out; --report also regenerates the benchmarks page and its figures. '
        'Ctrl-C saves the runs finished so far and exits with 130; --resume goes on from '
        'there. Runs in local worker processes (default) or on Ray (--executor ray).',
    )
    p.add_argument(
        '--quick', action='store_true', help='CI size: 2 goals, 5 iterations, sizes 50,300'
    )
    p.add_argument('--tasks', type=names, default=None, help='default: every sim task')
    p.add_argument(
        '--methods',
        type=names,
        default=None,
        help='default: knn_linear,knn_mean,random_shooting,bayes_opt,gp_model (+ llm, promptpo '
        'when an LLM endpoint is configured)',
    )
    p.add_argument('--goals', type=int, default=None, help='episodes per task (default 10)')
    p.add_argument('--iterations', type=int, default=None, help='per run (default 20)')
    p.add_argument(
        '--workers',
        type=int,
        default=None,
        help="CPU-bound runs at once (default: one per core, or the Ray cluster's CPUs; "
        '1: every run in this process, one after the other)',
    )
    p.add_argument(
        '--executor',
        choices=('pool', 'ray'),
        default='pool',
        help='pool (default): worker processes here; ray: Ray tasks on a local Ray instance, '
        'or on the cluster at --address (needs the ray package)',
    )
    p.add_argument(
        '--address',
        default=None,
        help='with --executor ray: the Ray cluster to join (as `ray start --head` prints it, '
        'e.g. 10.0.0.5:6379, or auto); default: start a local instance',
    )
    p.add_argument(
        '--llm-concurrency',
        type=int,
        default=4,
        help='runs of LLM methods (llm, promptpo) at once, beside the CPU-bound ones: they '
        'wait on the network (pool: that many extra processes; ray: tasks of no CPU) '
        '(default 4)',
    )
    p.add_argument(
        '--resume',
        action='store_true',
        help='skip the runs an interrupted sweep with the same --out finished (kept in '
        'OUT.partial.jsonl until the sweep is complete)',
    )
    p.add_argument(
        '--sizes',
        type=integers,
        default=None,
        help='dataset-size ablation (default 50,100,200,300; empty: none)',
    )
    p.add_argument(
        '--encodings',
        type=names,
        default=None,
        help='encoding ablation (default error,raw; "error": none)',
    )
    p.add_argument(
        '--memory-ablation',
        action=argparse.BooleanOptionalAction,
        default=None,
        help='episode-memory ablation: knn_linear, knn_mean and llm (those among --methods) '
        'also with the episode memory off (default: on)',
    )
    p.add_argument(
        '--no-ablations',
        action='store_true',
        help='only the comparison (as --sizes "" --encodings error --no-memory-ablation)',
    )
    p.add_argument(
        '--theta0',
        choices=('auto', 'middle', 'random'),
        default=None,
        help='auto (default): middle of the bounds, drawn per seed for fixed-goal tasks',
    )
    p.add_argument(
        '--out',
        default='bench_methods.json',
        help='results JSON to write (default bench_methods.json)',
    )
    p.add_argument('--report', default=None, help='also write this markdown page (+ img/)')
    p.add_argument(
        '--system',
        default=None,
        help='system figures for the report (default: bench_results.json next to --report)',
    )
    p.add_argument(
        '--report-only', action='store_true', help='regenerate --report from --out, run nothing'
    )
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    p.add_argument('--json', action='store_true', help='print the aggregates as JSON')
    p.set_defaults(func=_cmd_bench)
