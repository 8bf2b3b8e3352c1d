# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Methods side by side: tasks x methods x goals on the fast sim path, in worker processes.

Every method sees the same episodes. Episode `seed` of a task has the goal
`draw_goal(task, seed)` (the one `icpi improve --seed S` uses) and theta0 in the middle of the
bounds; a fixed-goal task (slide) instead draws theta0 uniformly in the bounds per seed
(`theta0='auto'`), or all its episodes would be the same one. A run of the comparison is
reproduced by `icpi improve --task T --improver M --seed S` (plus `--theta0` for slide).

The ablations reuse the same episodes: the dataset-size ablation gives the methods that read
the improvement dataset a nested, seeded subsample of it; the encoding ablation retrieves
(and prompts) with the raw outcome and goal instead of the relative error.
"""

import functools
import json
import multiprocessing
import signal
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from icpi_ros.core.bench.stats import describe, machine_info
from icpi_ros.core.retrieval import DEFAULT_K, ENCODINGS, check_encoding
from icpi_ros.core.validation import InvalidInput

FORMAT = 'icpi-bench-methods'
VERSION = 1
SIM_TASKS = ('slide', 'slide-gc', 'roll-gc', 'rope-swing')
# Methods that need no LLM, in the order the report shows them (the offline default first).
OFFLINE_METHODS = ('knn_linear', 'knn_mean', 'random_shooting', 'bayes_opt')
# Methods that need an LLM endpoint; each joins the default list when it is registered in
# IMPROVERS and an endpoint is configured.
LLM_METHODS = ('llm', 'promptpo')
# Bench methods that are an improver asked another way: name -> (improver, LLMConfig fields).
METHOD_VARIANTS: dict[str, tuple[str, dict]] = {
    'llm-completions': ('llm', {'api': 'completions'}),
}
# Methods that read the improvement dataset: the ablations vary what they are given
# (promptpo writes policy code from the task's source and its own trials: no dataset).
EXAMPLE_METHODS = frozenset({'knn_linear', 'knn_mean', 'llm', 'llm-completions'})
# Methods whose steps an LLM answers: their runs record who answered, latency and tokens.
ANSWERING_METHODS = frozenset({'llm', 'llm-completions'})
DATASET_SIZES = (50, 100, 200, 300)
# Seed of the subsample permutation of the dataset-size ablation (one for every task).
SUBSAMPLE_SEED = 0
# Success: a final cost at most the DESIGN target of the task's family (m).
SUCCESS_M = {'slide': 0.01, 'slide-gc': 0.01, 'roll-gc': 0.01, 'rope-swing': 0.02}
DEFAULT_SUCCESS_M = 0.01
THETA0_MODES = ('auto', 'middle', 'random')
SIGNIFICANT = 4  # digits kept of each cost in the results


def success_threshold(task: str) -> float:
    """Return the final cost (m) under which a run of `task` counts as a success."""
    return SUCCESS_M.get(task, DEFAULT_SUCCESS_M)


def default_methods(llm_configured: bool | None = None) -> tuple[str, ...]:
    """Return the offline methods, plus the LLM methods when an endpoint is configured."""
    from icpi_ros.core.improvers import IMPROVERS
    from icpi_ros.core.llm import LLMConfig

    if llm_configured is None:
        llm_configured = LLMConfig.from_env().endpoint_configured
    online = tuple(m for m in LLM_METHODS if m in IMPROVERS) if llm_configured else ()
    return OFFLINE_METHODS + online


@dataclass(frozen=True)
class BenchConfig:
    """What to run: the comparison grid and the two ablations."""

    tasks: tuple[str, ...] = SIM_TASKS
    methods: tuple[str, ...] = ()  # empty: default_methods()
    goals: int = 10  # episodes (seeds 0 .. goals - 1) per task
    iterations: int = 20
    sizes: tuple[int, ...] = DATASET_SIZES  # dataset-size ablation; empty: none
    encodings: tuple[str, ...] = ENCODINGS  # encoding ablation; ('error',): none
    theta0: str = 'auto'
    k: int = DEFAULT_K

    @classmethod
    def quick(cls, **overrides) -> 'BenchConfig':
        """Return the CI-sized configuration: 2 goals, 5 iterations, sizes 50 and 300."""
        return replace(cls(goals=2, iterations=5, sizes=(50, 300)), **overrides)

    def checked(self) -> 'BenchConfig':
        """Return a copy with the methods resolved; raise InvalidInput naming a bad field."""
        from icpi_ros.core.improvers import IMPROVERS
        from icpi_ros.core.tasks import load_tasks, require_simulated

        tasks = load_tasks()
        for name in self.tasks:
            if name not in tasks:
                raise InvalidInput(f'tasks: {name!r} is not a sim task ({", ".join(SIM_TASKS)})')
            require_simulated(tasks[name], where='tasks')
        methods = self.methods or default_methods()
        for name in methods:
            if name not in IMPROVERS and name not in METHOD_VARIANTS:
                known = ', '.join([*sorted(IMPROVERS), *METHOD_VARIANTS])
                raise InvalidInput(f'methods: unknown improver {name!r}; known: {known}')
        if not self.tasks or not methods:
            raise InvalidInput('tasks and methods must not be empty')
        if self.goals < 1 or self.iterations < 1:
            raise InvalidInput('goals and iterations must be at least 1')
        if any(s < 1 for s in self.sizes):
            raise InvalidInput(f'sizes must be at least 1, got {list(self.sizes)}')
        for encoding in self.encodings:
            check_encoding(encoding)
        if self.theta0 not in THETA0_MODES:
            raise InvalidInput(f'theta0 must be one of {", ".join(THETA0_MODES)}')
        return replace(self, methods=tuple(dict.fromkeys(methods)))


@dataclass(frozen=True, order=True)
class RunSpec:
    """One improvement run: a method on one episode of a task."""

    task: str
    method: str
    encoding: str
    dataset_size: int  # 0: the whole shipped dataset (or a method that reads none)
    seed: int
    iterations: int = 20
    theta0: str = 'auto'
    k: int = DEFAULT_K

    @property
    def group(self) -> tuple[str, str, str, int]:
        """Return what the runs of one aggregate share: task, method, encoding, dataset size."""
        return (self.task, self.method, self.encoding, self.dataset_size)


def plan_runs(config: BenchConfig, dataset_sizes: Mapping[str, int]) -> list[RunSpec]:
    """Return the runs of the comparison and the ablations, each configuration once.

    `dataset_sizes[task]` is the size of the shipped dataset: an ablation size at or above it
    is the whole dataset, i.e. the comparison's own runs.
    """
    specs: dict[RunSpec, None] = {}

    def add(task: str, method: str, encoding: str = 'error', size: int = 0) -> None:
        size = 0 if size >= dataset_sizes.get(task, 0) else size
        for seed in range(config.goals):
            spec = RunSpec(
                task, method, encoding, size, seed, config.iterations, config.theta0, config.k
            )
            specs[spec] = None

    ablated = [m for m in config.methods if m in EXAMPLE_METHODS]
    for task in config.tasks:
        for method in config.methods:
            add(task, method)
        for method in ablated:
            for size in config.sizes:
                add(task, method, size=size)
            for encoding in config.encodings:
                add(task, method, encoding)
    return list(specs)


@functools.cache
def _tasks():
    from icpi_ros.core.tasks import load_tasks

    return load_tasks()


@functools.cache
def _runner(task_name: str):
    from icpi_ros.core.sim.simulator import TrialRunner

    return TrialRunner(_tasks()[task_name])


@functools.cache
def _dataset(task_name: str):
    from icpi_ros.core.dataset import load_dataset
    from icpi_ros.core.paths import data_dir

    dataset = load_dataset(data_dir() / f'{task_name}.json')
    dataset.check_task(_tasks()[task_name])
    return dataset


def shipped_dataset_sizes(tasks: Iterable[str]) -> dict[str, int]:
    """Return the number of examples of each task's shipped dataset."""
    return {name: len(_dataset(name)) for name in tasks}


def episode(task, seed: int, theta0: str = 'auto') -> tuple[np.ndarray, np.ndarray]:
    """Return the goal and theta0 of episode `seed` (see the module docstring)."""
    from icpi_ros.core.loop import draw_goal

    goal = draw_goal(task, seed)
    if theta0 == 'random' or (theta0 == 'auto' and not task.goal_conditioned):
        return goal, np.random.default_rng(seed).uniform(task.theta_low, task.theta_high)
    return goal, task.theta_middle()


def _round(value: float) -> float:
    return float(f'{value:.{SIGNIFICANT}g}')


def _exchanges(details: Mapping) -> list[dict]:
    """Return the LLM exchanges of one step, including those of a step that fell back."""
    return [*details.get('exchanges', []), *details.get('failed', {}).get('exchanges', [])]


def llm_usage(steps: Iterable[Mapping]) -> dict:
    """Return the latency of every LLM exchange (s) and the tokens of every step."""
    latency, tokens = [], []
    for details in steps:
        exchanges = _exchanges(details)
        latency += [e['latency_s'] for e in exchanges if 'latency_s' in e]
        if exchanges:
            tokens.append(sum(e.get('usage', {}).get('total_tokens', 0) for e in exchanges))
    return {'llm_latency_s': latency, 'tokens_per_step': tokens}


def run_one(spec: RunSpec) -> dict:
    """Run one improvement loop on the fast sim path; return its JSON-friendly record.

    The improver has the fallback the product gives it (`auto`). A run whose improver cannot
    work (no endpoint), or one whose planner step failed, is recorded with `error` (and the
    costs of the trials it ran): it counts as a failure.
    """
    from icpi_ros.core.improvers import (
        AUTO,
        ImproverContext,
        ImproverFailed,
        make_improver,
        resolve_fallback,
    )
    from icpi_ros.core.llm import LLMConfig
    from icpi_ros.core.loop import improve
    from icpi_ros.core.retrieval import ExampleLibrary

    task = _tasks()[spec.task]
    goal, theta0 = episode(task, spec.seed, spec.theta0)
    record = {
        'task': spec.task,
        'method': spec.method,
        'encoding': spec.encoding,
        'dataset_size': spec.dataset_size,
        'seed': spec.seed,
        'goal': goal.tolist(),
        'theta0': theta0.tolist(),
    }
    library = ExampleLibrary(encoding=spec.encoding)
    if spec.method in EXAMPLE_METHODS:
        dataset = _dataset(spec.task)
        if spec.dataset_size:
            dataset = dataset.subsample(spec.dataset_size, SUBSAMPLE_SEED)
        library.add(dataset)
        record['examples'] = len(dataset)
    improver, llm_fields = METHOD_VARIANTS.get(spec.method, (spec.method, {}))
    llm = LLMConfig.from_env(**llm_fields)
    if spec.method in ANSWERING_METHODS:
        record['model'] = llm.model
    context = ImproverContext(
        seed=spec.seed, k=spec.k, encoding=spec.encoding, examples=library, llm=llm
    )
    runner = _runner(spec.task)
    start = time.perf_counter()
    try:
        fallback = resolve_fallback(AUTO, improver, spec.task, library)
        result = improve(
            task,
            lambda theta: runner.run(theta, goal).outcome,
            goal,
            theta0,
            make_improver(improver, context),
            spec.iterations,
            fallback=make_improver(fallback, context) if fallback else None,
        )
    except (ImproverFailed, InvalidInput) as exc:
        return {**record, 'error': str(exc), 'wall_s': round(time.perf_counter() - start, 3)}
    summary = result.summary(improver)
    costs = [_round(c) for c in result.costs]
    record.update(costs=costs, final=costs[-1], best=min(costs))
    if spec.method in ANSWERING_METHODS:
        steps = [it.details for it in result.iterations]
        if result.failed_step is not None:
            steps.append(result.failed_step.details)
        record['steps'] = {
            k: summary[k]
            for k in ('steps', 'llm_steps', 'repaired_steps', 'fallback_steps', 'failed_steps')
        }
        record.update(llm_usage(steps))
    if result.failed_step is not None:
        record['error'] = result.failed_step.error
    return {**record, 'wall_s': round(time.perf_counter() - start, 3)}


def _ignore_sigint() -> None:
    """Worker initialiser: Ctrl-C is the parent's to handle (no traceback per worker)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _label(spec: RunSpec) -> str:
    extra = (f' {spec.encoding}' if spec.encoding != 'error' else '') + (
        f' n={spec.dataset_size}' if spec.dataset_size else ''
    )
    return f'{spec.task} {spec.method}{extra}'


def run_grid(
    specs: Sequence[RunSpec],
    workers: int | None = None,
    on_result: Callable[[dict], None] | None = None,
    progress: bool = True,
) -> list[dict]:
    """Run every spec in `workers` processes (default: one per core); return the records.

    Records come back in completion order through `on_result` and in spec order as the
    return value. On Ctrl-C the runs not started are cancelled, the running ones finish
    (their records still reach `on_result`) and KeyboardInterrupt is raised again.
    """
    from tqdm import tqdm

    workers = max(1, min(workers or multiprocessing.cpu_count(), len(specs) or 1))
    done: dict[RunSpec, dict] = {}
    bar = tqdm(total=len(specs), unit='run', file=sys.stderr, disable=not progress, desc='bench')

    def finished(spec: RunSpec, record: dict) -> None:
        done[spec] = record
        if on_result is not None:
            on_result(record)
        bar.set_postfix_str(_label(spec), refresh=False)
        bar.update()

    try:
        if workers == 1:
            for spec in specs:
                finished(spec, run_one(spec))
        else:
            _run_pool(specs, workers, finished)
    finally:
        bar.close()
    return [done[s] for s in specs if s in done]


def _run_pool(
    specs: Sequence[RunSpec], workers: int, finished: Callable[[RunSpec, dict], None]
) -> None:
    # spawn: workers start clean (no inherited MuJoCo/GL state or helper threads).
    context = multiprocessing.get_context('spawn')
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_ignore_sigint)
    futures = {pool.submit(run_one, spec): spec for spec in specs}
    pending = set(futures)
    try:
        while pending:
            ready, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in ready:
                finished(futures[future], future.result())
    except KeyboardInterrupt:
        running = [f for f in pending if not f.cancel()]
        print(
            f'\ninterrupted: {len(pending) - len(running)} runs cancelled, waiting for the '
            f'{len(running)} running',
            file=sys.stderr,
            flush=True,
        )
        for future in running:
            if future.exception() is None:  # a run that broke off is simply not recorded
                finished(futures[future], future.result())
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _curve(runs: list[dict], length: int) -> dict:
    """Median and quartiles of cost per iteration, and the median best-so-far cost."""
    # A run that reached zero cost stops early: it keeps its last cost afterwards.
    costs = np.array([r['costs'] + r['costs'][-1:] * (length - len(r['costs'])) for r in runs])
    best = np.minimum.accumulate(costs, axis=1)

    def rounded(values: np.ndarray) -> list[float]:
        return [_round(v) for v in values.tolist()]

    return {
        'median': rounded(np.median(costs, axis=0)),
        'q25': rounded(np.percentile(costs, 25, axis=0)),
        'q75': rounded(np.percentile(costs, 75, axis=0)),
        'best_median': rounded(np.median(best, axis=0)),
    }


def _answers(runs: Sequence[dict]) -> dict:
    """Who answered the steps of LLM runs, and what the answers cost."""
    totals = {k: sum(r['steps'][k] for r in runs) for k in runs[0]['steps']}
    latency = [v for r in runs for v in r.get('llm_latency_s', [])]
    tokens = [v for r in runs for v in r.get('tokens_per_step', [])]
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
    """Group the runs by task, method, encoding and dataset size; summarise each group."""
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        key = (run['task'], run['method'], run['encoding'], run['dataset_size'])
        groups.setdefault(key, []).append(run)
    out = []
    for (task, method, encoding, size), members in groups.items():
        ok = [r for r in members if 'error' not in r]
        threshold = success_threshold(task)
        answering = [r for r in members if 'steps' in r]
        entry = {
            'task': task,
            'method': method,
            'encoding': encoding,
            'dataset_size': size,
            'examples': members[0].get('examples'),
            'n': len(ok),
            'failed': len(members) - len(ok),
            'threshold_m': threshold,
            'iterations': max((len(r['costs']) for r in ok), default=0),
        }
        if ok:
            finals = [r['final'] for r in ok]
            entry['final'] = describe(finals)
            entry['best'] = describe([r['best'] for r in ok])
            # A failed run is a failure: shown in `failed`, and counted here.
            entry['success_rate'] = sum(f <= threshold for f in finals) / len(members)
            entry['curve'] = _curve(ok, entry['iterations'])
        if len(ok) < len(members):
            entry['errors'] = sorted({r['error'] for r in members if 'error' in r})[:3]
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
    """Return the results document: machine, configuration, every run, the aggregates."""
    order = {s: i for i, s in enumerate(specs)}

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
            'success_m': {t: success_threshold(t) for t in config.tasks},
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
        + ',\n'.join(f'  {json.dumps(x)}' for x in document[name])
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
            (a['task'], a['method'], a['encoding'], a['dataset_size']): a
            for a in self.document.get('aggregates', [])
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
        for (t, _m, _e, s), entry in self.by_group.items():
            if t == task and s == 0 and entry.get('examples') is not None:
                return 0 if size >= entry['examples'] else size
        return size

    def tasks(self) -> list[str]:
        """Return the tasks in the order they were run."""
        return list(dict.fromkeys(a['task'] for a in self.document.get('aggregates', [])))

    def methods(self) -> list[str]:
        """Return the methods in configuration order."""
        return list(self.config.get('methods') or [])
