# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Nearest examples of a query: a k-d tree over normalised [theta, e] (or [theta, s, g])."""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from icpi_ros.core.dataset import ImprovementDataset, load_dataset
from icpi_ros.core.paths import data_dir
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
    """Indices of retrieved examples from farthest to nearest, with their distances."""

    indices: np.ndarray
    distances: np.ndarray


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
    ) -> Neighbours:
        """Return the k nearest examples (fewer if the dataset is smaller), farthest first."""
        if k < 1:
            raise InvalidInput(f'k must be at least 1, got {k}')
        k = min(k, len(self.dataset))
        distances, indices = self._tree.query(self.query_features(theta, error, goal), k=k)
        distances, indices = np.atleast_1d(distances), np.atleast_1d(indices)
        return Neighbours(indices=indices[::-1].copy(), distances=distances[::-1].copy())


class ExampleLibrary:
    """The improvement datasets of a planner, one per task, each loaded and indexed once.

    A task's dataset is `files[task]` if given, else `<directory>/<task>.json`.
    """

    def __init__(
        self,
        directory: Path | str | None = None,
        files: Mapping[str, Path | str] | None = None,
        encoding: str = 'error',
    ) -> None:
        self.directory = Path(directory) if directory else data_dir()
        self.files = {name: Path(path) for name, path in (files or {}).items()}
        self.encoding = check_encoding(encoding)
        self._indexes: dict[str, ExampleIndex] = {}

    def path(self, task: str) -> Path:
        """Where the dataset of `task` is read from."""
        return self.files.get(task, self.directory / f'{task}.json')

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
            path = self.path(task.name)
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

    def has(self, task: str) -> bool:
        """Return whether `task` has a dataset (indexed, or a file to load)."""
        return task in self._indexes or self.path(task).is_file()

    def available(self, tasks: Mapping[str, TaskSpec]) -> list[str]:
        """Load every task's dataset that exists; return their names (bad files raise)."""
        return [
            name for name, task in tasks.items() if self.path(name).is_file() and self.index(task)
        ]
