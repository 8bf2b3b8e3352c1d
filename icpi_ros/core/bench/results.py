# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The results of `icpi bench`: runs grouped and summarised, the document, its lookup.

The document (`icpi-bench-methods` v2, docs/bench_methods.json) holds the machine, the
configuration, every run and one aggregate per task, method, encoding, dataset size and
episode memory (on or off); `Selection` looks the aggregates up for the report and the
figures. A v1 document (before the episode-memory ablation) still reads: its runs count as
memory on and its aggregates are recomputed from its runs (`current`), which hold every
cost.
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from icpi_ros.core.bench.harness import SUBSAMPLE_SEED, BenchConfig, RunSpec, group_key
from icpi_ros.core.bench.methods import EXAMPLE_METHODS, success_threshold
from icpi_ros.core.bench.stats import describe, machine_info, significant

FORMAT = 'icpi-bench-methods'
VERSION = 2
# The trials at the end of a run whose mean cost shows whether it stays at the goal.
LAST_TRIALS = 5


def _padded(costs: list[float], length: int) -> list[float]:
    """Return a run's costs over `length` iterations.

    A run that reached zero cost stops early: it keeps its last cost afterwards.
    """
    return costs + costs[-1:] * (length - len(costs))


def trials_to_threshold(runs: Sequence[dict], threshold: float) -> dict:
    """Return how many trials the runs took to reach a cost at most `threshold`.

    Trials are counted from the first (theta0's) one: a run whose first trial is at or under
    the threshold took 1. A run counts in the trials it recorded (a failed run: those before
    it failed; one without costs never reached it).

    Args:
        runs: the run records of one group (failed runs included).
        threshold: the task's success threshold (m).

    Returns:
        `median`: the median trials over the runs that reached it (None: none did),
        `reached`: how many did, `never_rate`: the share of `runs` that never did.

    Raises:
        ValueError: there are no runs.
    """
    if not runs:
        raise ValueError('trials_to_threshold: no runs')
    reached = [
        next(index + 1 for index, cost in enumerate(costs) if cost <= threshold)
        for costs in (run.get('costs') or [] for run in runs)
        if any(cost <= threshold for cost in costs)
    ]
    return {
        'median': float(np.median(reached)) if reached else None,
        'reached': len(reached),
        'never_rate': (len(runs) - len(reached)) / len(runs),
    }


def last_trials(runs: Sequence[dict], length: int, count: int = LAST_TRIALS) -> dict:
    """Return `describe` over the runs of the mean cost of each run's last `count` trials.

    Args:
        runs: run records with costs (the group's runs that did not fail).
        length: the group's iterations: a run that stopped early at zero cost keeps its
            last cost up to there.
        count: how many trials at the end; a run of fewer trials averages all of them.

    Returns:
        The summary (`stats.describe`): `mean` is the mean over the runs of their means.

    Raises:
        ValueError: there are no runs, a run has no costs, or `count` is below 1.
    """
    if not runs or count < 1 or any(not run.get('costs') for run in runs):
        raise ValueError('last_trials: needs runs with costs and a count of at least 1')
    return describe([float(np.mean(_padded(run['costs'], length)[-count:])) for run in runs])


def _curve(runs: list[dict], length: int) -> dict:
    """Median and quartiles of cost per iteration, and the median best-so-far cost."""
    costs = np.array([_padded(run['costs'], length) for run in runs])
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
    """Group the runs (`harness.group_key`); summarise each group.

    Args:
        runs: run records (`harness.run_one`); a record with `error` is a failed run.

    Returns:
        One aggregate per group, in the order the groups first appear: the counts, the
        final and best costs and the mean of each run's last five (`describe`), the success
        rate (failed runs count as failures), the trials to the threshold
        (`trials_to_threshold`), the cost curve, and for LLM runs who answered the steps.
    """
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        groups.setdefault(group_key(run), []).append(run)
    out = []
    for (task, method, encoding, size, memory), members in groups.items():
        ok = [run for run in members if 'error' not in run]
        threshold = success_threshold(task)
        answering = [run for run in members if 'steps' in run]
        entry = {
            'task': task,
            'method': method,
            'encoding': encoding,
            'dataset_size': size,
            'episode_memory': memory,
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
            entry['last_five'] = last_trials(ok, entry['iterations'])
            # A failed run is a failure: shown in `failed`, and counted here.
            entry['success_rate'] = sum(final <= threshold for final in finals) / len(members)
            entry['curve'] = _curve(ok, entry['iterations'])
        entry['to_threshold'] = trials_to_threshold(members, threshold)
        if len(ok) < len(members):
            entry['errors'] = sorted({run['error'] for run in members if 'error' in run})[:3]
        if answering:
            entry['answers'] = _answers(answering)
        out.append(entry)
    return out


def current(document: Mapping) -> list[dict]:
    """Return a results document's aggregates as this version makes them.

    Args:
        document: an `icpi-bench-methods` document (no `version`: this one).

    Returns:
        Its aggregates; for a document of an earlier version, recomputed from its runs
        (`aggregate`: the measures added since are functions of the runs' costs).
    """
    if document.get('version', VERSION) < VERSION and document.get('runs'):
        return aggregate(document['runs'])
    return list(document.get('aggregates', []))


def make_document(
    config: BenchConfig,
    specs: Sequence[RunSpec],
    runs: Sequence[dict],
    complete: bool,
    wall_s: float,
    command: str = '',
    workers: int | None = None,
    execution: Mapping | None = None,
) -> dict:
    """Return the results document: machine, configuration, every run, the aggregates.

    Args:
        config: what was run.
        specs: the planned runs (`harness.plan_runs`), in the order the document lists them.
        runs: the records of the runs that finished, in any order.
        complete: whether every planned run finished (False: interrupted).
        wall_s: wall time of the whole bench.
        command: the `icpi bench` command line that reproduces it.
        workers: the number of CPU-bound runs at once (worker processes, Ray CPUs).
        execution: how it ran (`executor`, `llm_concurrency`), kept in the configuration.

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
            episode_memory=run.get('episode_memory', True),
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
            **(execution or {}),
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
    aggregates: list[dict] = field(init=False)  # `current(document)`
    by_group: dict = field(init=False)

    def __post_init__(self) -> None:
        self.aggregates = current(self.document)
        self.by_group = {group_key(entry): entry for entry in self.aggregates}

    @property
    def config(self) -> dict:
        """Return the configuration the document was made with."""
        return self.document.get('config', {})

    def get(
        self,
        task: str,
        method: str,
        encoding: str = 'error',
        size: int = 0,
        episode_memory: bool = True,
    ) -> dict | None:
        """Return the aggregate of one group, or None if it was not run."""
        return self.by_group.get((task, method, encoding, size, episode_memory))

    def size_key(self, task: str, size: int) -> int:
        """Return the dataset-size key of an ablation size (0 when it is the whole dataset)."""
        for (group_task, _method, _encoding, group_size, _memory), entry in self.by_group.items():
            if group_task == task and group_size == 0 and entry.get('examples') is not None:
                return 0 if size >= entry['examples'] else size
        return size

    def tasks(self) -> list[str]:
        """Return the tasks in the order they were run."""
        return list(dict.fromkeys(entry['task'] for entry in self.aggregates))

    def methods(self) -> list[str]:
        """Return the methods in configuration order."""
        return list(self.config.get('methods') or [])

    def ablated_methods(self, encoding: str, sizes: Sequence[int]) -> list[str]:
        """Return the methods that read the dataset and have ablation runs.

        Args:
            encoding: the encoding of the runs looked for.
            sizes: the dataset sizes looked for (0: the whole dataset).

        Returns:
            In configuration order, the methods that retrieve examples (`EXAMPLE_METHODS`)
            with a run of `encoding` at one of `sizes` that was given examples, on any task.
        """

        def ran(task: str, method: str, size: int) -> bool:
            entry = self.get(task, method, encoding, self.size_key(task, size))
            return bool(entry and entry.get('examples'))

        return [
            method
            for method in self.methods()
            if method in EXAMPLE_METHODS
            and any(ran(task, method, size) for task in self.tasks() for size in sizes)
        ]

    def memory_ablated_methods(self) -> list[str]:
        """Return, in configuration order, the methods run with episode memory off."""
        forgetful = {method for (_t, method, _e, _s, memory) in self.by_group if not memory}
        return [method for method in self.methods() if method in forgetful]
