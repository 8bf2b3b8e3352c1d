# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The results of `icpi bench`: runs grouped and summarised, the document, its lookup.

The document (`icpi-bench-methods` v1, docs/bench_methods.json) holds the machine, the
configuration, every run and one aggregate per task, method, encoding and dataset size;
`Selection` looks the aggregates up for the report and the figures.
"""

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from icpi_ros.core.bench.harness import SUBSAMPLE_SEED, BenchConfig, RunSpec
from icpi_ros.core.bench.methods import success_threshold
from icpi_ros.core.bench.stats import describe, machine_info, significant

FORMAT = 'icpi-bench-methods'
VERSION = 1


def _curve(runs: list[dict], length: int) -> dict:
    """Median and quartiles of cost per iteration, and the median best-so-far cost."""
    # A run that reached zero cost stops early: it keeps its last cost afterwards.
    costs = np.array(
        [run['costs'] + run['costs'][-1:] * (length - len(run['costs'])) for run in runs]
    )
    best = np.minimum.accumulate(costs, axis=1)

    def rounded(values: np.ndarray) -> list[float]:
        return [significant(v) for v in values.tolist()]

    return {
        'median': rounded(np.median(costs, axis=0)),
        'q25': rounded(np.percentile(costs, 25, axis=0)),
        'q75': rounded(np.percentile(costs, 75, axis=0)),
        'best_median': rounded(np.median(best, axis=0)),
    }


def _answers(runs: Sequence[dict]) -> dict:
    """Who answered the steps of LLM runs, and what the answers cost."""
    totals = {name: sum(run['steps'][name] for run in runs) for name in runs[0]['steps']}
    latency = [value for run in runs for value in run.get('llm_latency_s', [])]
    tokens = [value for run in runs for value in run.get('tokens_per_step', [])]
    steps = totals['steps'] + totals['failed_steps']
    return {
        'model': runs[0].get('model', ''),
        **totals,
        'model_share': totals['llm_steps'] / steps if steps else 0.0,
        'first_try_share': (totals['llm_steps'] - totals['repaired_steps']) / steps
        if steps
        else 0.0,
        'latency_p50_s': float(np.percentile(latency, 50)) if latency else None,
        'latency_p99_s': float(np.percentile(latency, 99)) if latency else None,
        'tokens_per_step': float(np.mean(tokens)) if tokens else None,
    }


def aggregate(runs: Sequence[dict]) -> list[dict]:
    """Group the runs by task, method, encoding and dataset size; summarise each group.

    Args:
        runs: run records (`harness.run_one`); a record with `error` is a failed run.

    Returns:
        One aggregate per group, in the order the groups first appear: the counts, the
        final and best costs (`describe`), the success rate (failed runs count as
        failures), the cost curve, and for LLM runs who answered the steps.
    """
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        key = (run['task'], run['method'], run['encoding'], run['dataset_size'])
        groups.setdefault(key, []).append(run)
    out = []
    for (task, method, encoding, size), members in groups.items():
        ok = [run for run in members if 'error' not in run]
        threshold = success_threshold(task)
        answering = [run for run in members if 'steps' in run]
        entry = {
            'task': task,
            'method': method,
            'encoding': encoding,
            'dataset_size': size,
            'examples': members[0].get('examples'),
            'n': len(ok),
            'failed': len(members) - len(ok),
            'threshold_m': threshold,
            'iterations': max((len(run['costs']) for run in ok), default=0),
        }
        if ok:
            finals = [run['final'] for run in ok]
            entry['final'] = describe(finals)
            entry['best'] = describe([run['best'] for run in ok])
            # A failed run is a failure: shown in `failed`, and counted here.
            entry['success_rate'] = sum(final <= threshold for final in finals) / len(members)
            entry['curve'] = _curve(ok, entry['iterations'])
        if len(ok) < len(members):
            entry['errors'] = sorted({run['error'] for run in members if 'error' in run})[:3]
        if answering:
            entry['answers'] = _answers(answering)
        out.append(entry)
    return out


def make_document(
    config: BenchConfig,
    specs: Sequence[RunSpec],
    runs: Sequence[dict],
    complete: bool,
    wall_s: float,
    command: str = '',
    workers: int | None = None,
) -> dict:
    """Return the results document: machine, configuration, every run, the aggregates.

    Args:
        config: what was run.
        specs: the planned runs (`harness.plan_runs`), in the order the document lists them.
        runs: the records of the runs that finished, in any order.
        complete: whether every planned run finished (False: interrupted).
        wall_s: wall time of the whole bench.
        command: the `icpi bench` command line that reproduces it.
        workers: the number of worker processes.

    Returns:
        The `icpi-bench-methods` document (`dumps` writes it).
    """
    order = {spec: index for index, spec in enumerate(specs)}

    def position(run: dict) -> int:
        spec = RunSpec(
            run['task'],
            run['method'],
            run['encoding'],
            run['dataset_size'],
            run['seed'],
            config.iterations,
            config.theta0,
            config.k,
        )
        return order.get(spec, len(order))

    ordered = sorted(runs, key=position)
    return {
        'format': FORMAT,
        'version': VERSION,
        'machine': machine_info(),
        'command': command,
        'config': {
            **asdict(config),
            'workers': workers,
            'seeds': list(range(config.goals)),
            'subsample_seed': SUBSAMPLE_SEED,
            'success_m': {task: success_threshold(task) for task in config.tasks},
        },
        'complete': complete,
        'planned_runs': len(specs),
        'wall_s': round(wall_s, 1),
        'runs': ordered,
        'aggregates': aggregate(ordered),
    }


def dumps(document: dict) -> str:
    """Return the document as JSON with one run (and one aggregate) per line: diffable."""
    lists = ('runs', 'aggregates')
    head = json.dumps({k: v for k, v in document.items() if k not in lists}, indent=1)
    parts = [
        f' {json.dumps(name)}: [\n'
        + ',\n'.join(f'  {json.dumps(item)}' for item in document[name])
        + '\n ]'
        for name in lists
        if name in document
    ]
    return head[:-2] + ',\n' + ',\n'.join(parts) + '\n}\n'


@dataclass
class Selection:
    """Aggregates of a results document, looked up by what they vary."""

    document: dict
    by_group: dict = field(init=False)

    def __post_init__(self) -> None:
        self.by_group = {
            (entry['task'], entry['method'], entry['encoding'], entry['dataset_size']): entry
            for entry in self.document.get('aggregates', [])
        }

    @property
    def config(self) -> dict:
        """Return the configuration the document was made with."""
        return self.document.get('config', {})

    def get(self, task: str, method: str, encoding: str = 'error', size: int = 0) -> dict | None:
        """Return the aggregate of one group, or None if it was not run."""
        return self.by_group.get((task, method, encoding, size))

    def size_key(self, task: str, size: int) -> int:
        """Return the dataset-size key of an ablation size (0 when it is the whole dataset)."""
        for (group_task, _method, _encoding, group_size), entry in self.by_group.items():
            if group_task == task and group_size == 0 and entry.get('examples') is not None:
                return 0 if size >= entry['examples'] else size
        return size

    def tasks(self) -> list[str]:
        """Return the tasks in the order they were run."""
        aggregates = self.document.get('aggregates', [])
        return list(dict.fromkeys(entry['task'] for entry in aggregates))

    def methods(self) -> list[str]:
        """Return the methods in configuration order."""
        return list(self.config.get('methods') or [])

    def ablated_methods(self, encoding: str, sizes: Sequence[int]) -> list[str]:
        """Return the methods that read the dataset and have ablation runs.

        Args:
            encoding: the encoding of the runs looked for.
            sizes: the dataset sizes looked for (0: the whole dataset).

        Returns:
            In configuration order, the methods with a run of `encoding` at one of `sizes`
            that was given examples, on any task.
        """

        def ran(task: str, method: str, size: int) -> bool:
            entry = self.get(task, method, encoding, self.size_key(task, size))
            return bool(entry and entry.get('examples'))

        return [
            method
            for method in self.methods()
            if any(ran(task, method, size) for task in self.tasks() for size in sizes)
        ]
