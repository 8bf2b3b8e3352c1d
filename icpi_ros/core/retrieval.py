# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Nearest examples of a query: a k-d tree over normalised [theta, e] (or [theta, s, g]).

The episode's own hindsight examples (icpi_ros.core.episode_memory), when given, are searched
together with the dataset: normalised with the dataset's statistics, compared by brute force
(a few hundred rows) and merged with the tree's k nearest, so that the dataset's index is
never rebuilt.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from icpi_ros.core.dataset import ExampleBlocks, ImprovementDataset, load_dataset
from icpi_ros.core.episode_memory import EpisodeExamples
from icpi_ros.core.paths import data_dir
from icpi_ros.core.task_plugins import shipped_datasets_dir
from icpi_ros.core.tasks import TaskSpec
from icpi_ros.core.validation import InvalidInput

# 'error': features [theta, e], the paper's relative error. 'raw': [theta, outcome, goal], the
# ablation that shows the outcome and the goal separately.
ENCODINGS = ('error', 'raw')
ENCODING_BLOCKS = {'error': ('theta', 'error'), 'raw': ('theta', 'outcome', 'goal')}
DEFAULT_K = 20


def check_encoding(encoding: str) -> str:
    """Return `encoding` if known, else raise InvalidInput listing the known ones."""
    if encoding not in ENCODINGS:
        raise InvalidInput(f'unknown encoding {encoding!r}; known: {", ".join(ENCODINGS)}')
    return encoding


@dataclass(frozen=True)
class Neighbours:
    """Indices of retrieved examples from farthest to nearest, with their distances.

    `indices[r]` is a row of the dataset, or of the episode's examples where
    `from_episode[r]` (all false when no episode was searched).
    """

    indices: np.ndarray
    distances: np.ndarray
    from_episode: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.from_episode is None:
            object.__setattr__(self, 'from_episode', np.zeros(len(self.indices), dtype=bool))

    @property
    def dataset_indices(self) -> np.ndarray:
        """Return the dataset rows among the neighbours, farthest first."""
        return self.indices[~self.from_episode]

    @property
    def episode_indices(self) -> np.ndarray:
        """Return the episode example rows among the neighbours, farthest first."""
        return self.indices[self.from_episode]

    def record(self, episode: EpisodeExamples | None = None) -> dict:
        """Return what a planner step records of its neighbours (farthest first).

        Args:
            episode: the episode examples that were searched, if any.

        Returns:
            `neighbours`: the dataset's rows among them. When some are the episode's own
            examples, also `episode_neighbours` (their trial pairs [i, j]: trial i relabelled
            with trial j's outcome as the goal) and `episode_lines` (their positions among
            the k, 0-based; in the llm's prompt, the example lines marked as the episode's).

        """
        details: dict = {'neighbours': self.dataset_indices.tolist()}
        if episode is not None and self.from_episode.any():
            details['episode_neighbours'] = episode.pairs[self.episode_indices].tolist()
            details['episode_lines'] = np.flatnonzero(self.from_episode).tolist()
        return details


@dataclass(frozen=True)
class ExampleRows(ExampleBlocks):
    """The rows of retrieved examples, farthest first, wherever each came from."""

    theta: np.ndarray
    outcome: np.ndarray
    goal: np.ndarray
    delta_theta: np.ndarray
    from_episode: np.ndarray


class ExampleIndex:
    """A dataset and its k-d tree; `nearest` answers in O(log N)."""

    def __init__(self, dataset: ImprovementDataset, encoding: str = 'error') -> None:
        self.dataset = dataset
        self.encoding = check_encoding(encoding)
        self._tree = cKDTree(self.features(dataset.blocks()))

    def features(self, blocks: dict[str, np.ndarray]) -> np.ndarray:
        """Normalised feature rows of `blocks` (each block one row or many)."""
        norm = self.dataset.normalisation
        parts = [norm.apply(b, np.atleast_2d(blocks[b])) for b in ENCODING_BLOCKS[self.encoding]]
        return np.hstack(parts)

    def query_features(
        self, theta: np.ndarray, error: np.ndarray, goal: np.ndarray | None
    ) -> np.ndarray:
        """Return the feature row of a query; the raw encoding needs the goal."""
        if self.encoding == 'raw' and goal is None:
            raise InvalidInput('the raw encoding needs the goal: give outcome and goal')
        blocks = {'theta': theta, 'error': error}
        if goal is not None:
            blocks.update(outcome=goal + error, goal=goal)
        return self.features(blocks)[0]

    def nearest(
        self,
        theta: np.ndarray,
        error: np.ndarray,
        goal: np.ndarray | None = None,
        k: int = DEFAULT_K,
        episode: EpisodeExamples | None = None,
    ) -> Neighbours:
        """Return the k nearest examples (fewer if there are fewer), farthest first.

        Args:
            theta: the query's theta.
            error: the query's relative error.
            goal: the query's goal (needed by the raw encoding).
            k: how many examples.
            episode: the episode's own examples, searched together with the dataset (at
                equal distance the dataset's example is kept first).

        Returns:
            The neighbours; `from_episode` says which rows are the episode's.

        Raises:
            InvalidInput: k below 1, or the raw encoding without the goal.

        """
        if k < 1:
            raise InvalidInput(f'k must be at least 1, got {k}')
        query = self.query_features(theta, error, goal)
        distances, indices = self._tree.query(query, k=min(k, len(self.dataset)))
        distances, indices = np.atleast_1d(distances), np.atleast_1d(indices)
        if episode is None or not len(episode):
            return Neighbours(indices=indices[::-1].copy(), distances=distances[::-1].copy())
        own = np.linalg.norm(self.features(episode.blocks()) - query, axis=1)
        distances = np.concatenate([distances, own])
        indices = np.concatenate([indices, np.arange(len(episode))])
        from_episode = np.arange(len(distances)) >= len(distances) - len(own)
        order = np.argsort(distances, kind='stable')[:k][::-1]
        return Neighbours(indices[order], distances[order], from_episode[order])

    def rows(self, neighbours: Neighbours, episode: EpisodeExamples | None = None) -> ExampleRows:
        """Return the rows of `neighbours` (from the dataset, and `episode` where marked).

        Raises:
            ValueError: a neighbour of the episode but no `episode` given.

        """
        mask = neighbours.from_episode
        if mask.any() and episode is None:
            raise ValueError('neighbours from the episode need the episode examples')
        in_dataset = np.where(mask, 0, neighbours.indices)  # the episode's rows: replaced
        picked = {}
        for name in ('theta', 'outcome', 'goal', 'delta_theta'):
            column = getattr(self.dataset, name)[in_dataset]
            if mask.any():
                column[mask] = getattr(episode, name)[neighbours.indices[mask]]
            picked[name] = column
        return ExampleRows(**picked, from_episode=mask.copy())


class ExampleLibrary:
    """The improvement datasets of a planner, one per task, each loaded and indexed once.

    A task's dataset is `files[task]` if given, else `<directory>/<task>.json`; with no
    directory, the one its plugin ships (`datasets_dir`: the package's data/ for the built-in
    tasks).
    """

    def __init__(
        self,
        directory: Path | str | None = None,
        files: Mapping[str, Path | str] | None = None,
        encoding: str = 'error',
    ) -> None:
        self.directory = Path(directory) if directory else data_dir()
        self._own_directory = bool(directory)
        self.files = {name: Path(path) for name, path in (files or {}).items()}
        self.encoding = check_encoding(encoding)
        self._indexes: dict[str, ExampleIndex] = {}

    def path(self, task: TaskSpec | str) -> Path:
        """Where the dataset of `task` (a TaskSpec, or a built-in task's name) is read from."""
        name = task if isinstance(task, str) else task.name
        if name in self.files:
            return self.files[name]
        if self._own_directory or isinstance(task, str):
            return self.directory / f'{name}.json'
        return (shipped_datasets_dir(task.plugin) or self.directory) / f'{name}.json'

    def add(self, dataset: ImprovementDataset) -> ExampleIndex:
        """Index a dataset held in memory (benchmarks, tests, fresh collections)."""
        index = ExampleIndex(dataset, self.encoding)
        self._indexes[dataset.task] = index
        return index

    def index(self, task: TaskSpec) -> ExampleIndex:
        """Return the index of `task`, loading its dataset on first use.

        Raises:
            InvalidInput: no dataset file, a corrupt one, or one made for another task.

        """
        if task.name not in self._indexes:
            path = self.path(task)
            if not path.is_file():
                raise InvalidInput(
                    f'no improvement dataset for task {task.name!r} at {path}; make one with '
                    f'`icpi dataset collect --task {task.name} --out {path}`'
                )
            dataset = load_dataset(path)
            try:
                dataset.check_task(task)
            except InvalidInput as exc:
                raise InvalidInput(f'dataset {path}: {exc}') from None
            self.add(dataset)
        return self._indexes[task.name]

    def has(self, task: TaskSpec | str) -> bool:
        """Return whether `task` has a dataset (indexed, or a file to load)."""
        name = task if isinstance(task, str) else task.name
        return name in self._indexes or self.path(task).is_file()

    def available(self, tasks: Mapping[str, TaskSpec]) -> list[str]:
        """Load every task's dataset that exists; return their names (bad files raise)."""
        return [
            name for name, task in tasks.items() if self.path(task).is_file() and self.index(task)
        ]
