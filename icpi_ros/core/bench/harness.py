# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""What `icpi bench` runs (tasks x methods x goals, the ablations) and one run of it.

Every method sees the same episodes. Episode `seed` of a task has the goal
`draw_goal(task, seed)` (the one `icpi improve --seed S` uses) and theta0 in the middle of the
bounds; a fixed-goal task (slide) instead draws theta0 uniformly in the bounds per seed
(`theta0='auto'`), or all its episodes would be the same one. A run of the comparison is
reproduced by `icpi improve --task T --improver M --seed S` (plus `--theta0` for slide).

The ablations reuse the same episodes: the dataset-size ablation gives the methods that read
the improvement dataset a nested, seeded subsample of it; the encoding ablation retrieves
(and prompts) with the raw outcome and goal instead of the relative error; the episode-memory
ablation runs `MEMORY_METHODS` with the episode's own trials left out of the search
(`icpi improve --no-episode-memory`).

`pool` runs the planned runs in worker processes; `results` aggregates their records.
"""

import functools
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from icpi_ros.core.bench.methods import (
    ANSWERING_METHODS,
    DATASET_METHODS,
    EXAMPLE_METHODS,
    MEMORY_METHODS,
    METHOD_VARIANTS,
    SIM_TASKS,
    default_methods,
)
from icpi_ros.core.bench.stats import significant
from icpi_ros.core.retrieval import DEFAULT_K, ENCODINGS, check_encoding
from icpi_ros.core.validation import InvalidInput

DATASET_SIZES = (50, 100, 200, 300)
# Seed of the subsample permutation of the dataset-size ablation (one for every task).
SUBSAMPLE_SEED = 0
THETA0_MODES = ('auto', 'middle', 'random')


@dataclass(frozen=True)
class BenchConfig:
    """What to run: the comparison grid and the three ablations."""

    tasks: tuple[str, ...] = SIM_TASKS
    methods: tuple[str, ...] = ()  # empty: default_methods()
    goals: int = 10  # episodes (seeds 0 .. goals - 1) per task
    iterations: int = 20
    sizes: tuple[int, ...] = DATASET_SIZES  # dataset-size ablation; empty: none
    encodings: tuple[str, ...] = ENCODINGS  # encoding ablation; ('error',): none
    memory_ablation: bool = True  # episode memory off too, for MEMORY_METHODS
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
    episode_memory: bool = True  # ImproverContext.episode_memory

    @property
    def group(self) -> tuple[str, str, str, int, bool]:
        """Return what the runs of one aggregate share (`group_key` of their records)."""
        return (self.task, self.method, self.encoding, self.dataset_size, self.episode_memory)


def group_key(record: Mapping) -> tuple[str, str, str, int, bool]:
    """Return the group of a run record or an aggregate: task, method, encoding, size, memory.

    Args:
        record: a run record (`run_one`) or an aggregate (`results.aggregate`); one from a
            document made before the episode-memory ablation has no `episode_memory` and
            counts as memory on (the default).

    Returns:
        The key `RunSpec.group` gives for the same run.
    """
    return (
        record['task'],
        record['method'],
        record['encoding'],
        record['dataset_size'],
        record.get('episode_memory', True),
    )


def plan_runs(config: BenchConfig, dataset_sizes: Mapping[str, int]) -> list[RunSpec]:
    """Return the runs of the comparison and the ablations, each configuration once.

    Args:
        config: what to run (checked).
        dataset_sizes: the size of each task's shipped dataset: an ablation size at or
            above it is the whole dataset, i.e. the comparison's own runs.

    Returns:
        The runs: per task, every method, then the ablations of the dataset methods, then
        the episode-memory ablation (of the `MEMORY_METHODS` among the methods).
    """
    specs: dict[RunSpec, None] = {}

    def add(
        task: str, method: str, encoding: str = 'error', size: int = 0, memory: bool = True
    ) -> None:
        size = 0 if size >= dataset_sizes.get(task, 0) else size
        for seed in range(config.goals):
            spec = RunSpec(
                task,
                method,
                encoding,
                size,
                seed,
                config.iterations,
                config.theta0,
                config.k,
                episode_memory=memory,
            )
            specs[spec] = None

    ablated = [method for method in config.methods if method in EXAMPLE_METHODS]
    forgetful = [method for method in config.methods if method in MEMORY_METHODS]
    for task in config.tasks:
        for method in config.methods:
            add(task, method)
        for method in ablated:
            for size in config.sizes:
                add(task, method, size=size)
            for encoding in config.encodings:
                add(task, method, encoding)
        for method in forgetful if config.memory_ablation else ():
            add(task, method, memory=False)
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
    from icpi_ros.core.retrieval import ExampleLibrary

    task = _tasks()[task_name]
    dataset = load_dataset(ExampleLibrary().path(task))
    dataset.check_task(task)
    return dataset


def shipped_dataset_sizes(tasks: Iterable[str]) -> dict[str, int]:
    """Return the number of examples of each task's shipped dataset."""
    return {name: len(_dataset(name)) for name in tasks}


def episode(task, seed: int, theta0: str = 'auto') -> tuple[np.ndarray, np.ndarray]:
    """Return the goal and theta0 of one episode (see the module docstring).

    Args:
        task: the TaskSpec.
        seed: the episode.
        theta0: 'auto' (middle of the bounds; drawn for a fixed-goal task), 'middle' or
            'random' (drawn uniformly in the bounds).

    Returns:
        The goal and theta0.
    """
    from icpi_ros.core.loop import draw_goal

    goal = draw_goal(task, seed)
    if theta0 == 'random' or (theta0 == 'auto' and not task.goal_conditioned):
        return goal, np.random.default_rng(seed).uniform(task.theta_low, task.theta_high)
    return goal, task.theta_middle()


def _exchanges(details: Mapping) -> list[dict]:
    """Return the LLM exchanges of one step, including those of a step that fell back."""
    return [*details.get('exchanges', []), *details.get('failed', {}).get('exchanges', [])]


def llm_usage(steps: Iterable[Mapping]) -> dict:
    """Return the latency of every LLM exchange (s) and the tokens of every step."""
    latency, tokens = [], []
    for details in steps:
        exchanges = _exchanges(details)
        latency += [exchange['latency_s'] for exchange in exchanges if 'latency_s' in exchange]
        if exchanges:
            tokens.append(
                sum(exchange.get('usage', {}).get('total_tokens', 0) for exchange in exchanges)
            )
    return {'llm_latency_s': latency, 'tokens_per_step': tokens}


def run_one(spec: RunSpec) -> dict:
    """Run one improvement loop on the fast sim path.

    The improver has the fallback the product gives it (`auto`). A run whose improver cannot
    work (no endpoint), or one whose planner step failed, is recorded with `error` (and the
    costs of the trials it ran): it counts as a failure.

    Args:
        spec: the run.

    Returns:
        Its JSON-friendly record: the episode, the costs (4 significant digits), final and
        best cost, wall time; for LLM methods who answered the steps, latency and tokens.
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
        'episode_memory': spec.episode_memory,
        'seed': spec.seed,
        'goal': goal.tolist(),
        'theta0': theta0.tolist(),
    }
    library = ExampleLibrary(encoding=spec.encoding)
    if spec.method in DATASET_METHODS:
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
        seed=spec.seed,
        k=spec.k,
        encoding=spec.encoding,
        examples=library,
        llm=llm,
        episode_memory=spec.episode_memory,
    )
    runner = _runner(spec.task)
    start = time.perf_counter()
    try:
        fallback = resolve_fallback(AUTO, improver, spec.task, library)
        result = improve(
            task,
            lambda theta: runner.run(theta, goal).score(),
            goal,
            theta0,
            make_improver(improver, context),
            spec.iterations,
            fallback=make_improver(fallback, context) if fallback else None,
        )
    except (ImproverFailed, InvalidInput) as exc:
        return {**record, 'error': str(exc), 'wall_s': round(time.perf_counter() - start, 3)}
    summary = result.summary(improver)
    costs = [significant(cost) for cost in result.costs]
    record.update(costs=costs, final=costs[-1], best=min(costs))
    if spec.method in ANSWERING_METHODS:
        steps = [iteration.details for iteration in result.iterations]
        if result.failed_step is not None:
            steps.append(result.failed_step.details)
        counts = ('steps', 'llm_steps', 'repaired_steps', 'fallback_steps', 'failed_steps')
        record['steps'] = {name: summary[name] for name in counts}
        record.update(llm_usage(steps))
    if result.failed_step is not None:
        record['error'] = result.failed_step.error
    return {**record, 'wall_s': round(time.perf_counter() - start, 3)}
