# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The improvement dataset: examples (theta, e -> delta theta) with their goal and provenance.

One JSON file per task (`data/<task>.json`), versioned. Every example keeps the outcome s and
the (relabelled) goal g it was scored against, so both prompt encodings can be built from it:
the relative error e = s - g, or the raw pair (s, g). A grown dataset (`icpi dataset grow`)
also tags each example with its source (`examples.source`: the run it came from, null for
the examples the dataset was made with); loaders that do not know the tag ignore it.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from icpi_ros.core.files import write_atomic
from icpi_ros.core.tasks import TaskSpec
from icpi_ros.core.validation import InvalidInput

FORMAT = 'icpi-improvement-dataset'
VERSION = 1
BLOCKS = ('theta', 'error', 'outcome', 'goal')
# A feature whose spread is below this is not scaled up (a fixed goal has zero spread).
MIN_STD = 1e-6


@dataclass(frozen=True)
class Normalisation:
    """Per-block mean and standard deviation used to put [theta, e] on comparable scales."""

    mean: Mapping[str, np.ndarray]
    std: Mapping[str, np.ndarray]

    @classmethod
    def fit(cls, blocks: Mapping[str, np.ndarray]) -> 'Normalisation':
        """Compute the statistics of each block (rows are examples)."""
        mean = {name: values.mean(axis=0) for name, values in blocks.items()}
        std = {name: np.maximum(values.std(axis=0), MIN_STD) for name, values in blocks.items()}
        return cls(mean, std)

    def apply(self, block: str, values: np.ndarray) -> np.ndarray:
        """Return `values` of `block` (one row or many) centred and scaled."""
        return (values - self.mean[block]) / self.std[block]

    def as_dict(self) -> dict:
        """JSON-friendly form."""
        return {
            name: {'mean': self.mean[name].tolist(), 'std': self.std[name].tolist()}
            for name in self.mean
        }


class ExampleBlocks:
    """Rows of examples by block: what a dataset, an episode's examples and retrieved rows share.

    Subclasses hold `theta` (N, d), `outcome` (N, m) and `goal` (N, m).
    """

    theta: np.ndarray
    outcome: np.ndarray
    goal: np.ndarray

    @property
    def error(self) -> np.ndarray:
        """Relative errors e = outcome - goal, (N, m)."""
        return self.outcome - self.goal

    def __len__(self) -> int:
        return int(self.theta.shape[0])

    def blocks(self) -> dict[str, np.ndarray]:
        """Return the example arrays by block name (see BLOCKS)."""
        return {
            'theta': self.theta,
            'error': self.error,
            'outcome': self.outcome,
            'goal': self.goal,
        }


@dataclass
class ImprovementDataset(ExampleBlocks):
    """Examples of one task: at theta the outcome missed the goal by error; delta_theta fixed it."""

    task: str
    theta_names: tuple[str, ...]
    outcome_names: tuple[str, ...]
    theta: np.ndarray  # (N, d)
    outcome: np.ndarray  # (N, m) what theta produced
    goal: np.ndarray  # (N, m) the goal it is scored against (relabelled in hindsight)
    delta_theta: np.ndarray  # (N, d) the change that reaches the goal
    provenance: dict = field(default_factory=dict)
    # Per example: the run it was grown from, None for the dataset's own; None: no tags at all.
    source: tuple[str | None, ...] | None = None
    normalisation: Normalisation = field(init=False)

    def __post_init__(self) -> None:
        if self.source is not None and len(self.source) != len(self):
            raise ValueError(f'{len(self.source)} source tags for {len(self)} examples')
        self.normalisation = Normalisation.fit(self.blocks())

    def sources(self) -> tuple[str | None, ...]:
        """Return each example's source tag (None: made with the dataset, not grown)."""
        return self.source if self.source is not None else (None,) * len(self)

    def check_task(self, task: TaskSpec) -> None:
        """Raise InvalidInput unless this dataset was made for `task` (name and dimensions)."""
        if self.task != task.name:
            raise InvalidInput(f'dataset is for task {self.task!r}, not {task.name!r}')
        names = tuple(p.name for p in task.parameters)
        if self.theta_names != names or self.outcome_names != task.outcome_names:
            raise InvalidInput(
                f'dataset of {self.task!r} has theta {list(self.theta_names)} and outcome '
                f'{list(self.outcome_names)}; the task has {list(names)} and '
                f'{list(task.outcome_names)}'
            )

    def subset(self, indices: np.ndarray) -> 'ImprovementDataset':
        """Return a dataset of the examples at `indices` (statistics recomputed)."""
        return ImprovementDataset(
            task=self.task,
            theta_names=self.theta_names,
            outcome_names=self.outcome_names,
            theta=self.theta[indices],
            outcome=self.outcome[indices],
            goal=self.goal[indices],
            delta_theta=self.delta_theta[indices],
            provenance={**self.provenance, 'subset_of': len(self)},
            source=None if self.source is None else tuple(self.source[i] for i in indices),
        )

    def subsample(self, size: int, seed: int = 0) -> 'ImprovementDataset':
        """Return `size` examples drawn without replacement; the whole dataset if not smaller.

        Deterministic for a seed, and nested: the examples of a smaller size are among those
        of every larger one (the first `size` of one seeded permutation).
        """
        if size < 1:
            raise InvalidInput(f'dataset size must be at least 1, got {size}')
        if size >= len(self):
            return self
        order = np.random.default_rng(seed).permutation(len(self))
        return self.subset(np.sort(order[:size]))

    def to_dict(self) -> dict:
        """Return the versioned JSON document."""
        return {
            'format': FORMAT,
            'version': VERSION,
            'task': self.task,
            'theta_names': list(self.theta_names),
            'outcome_names': list(self.outcome_names),
            'size': len(self),
            'normalisation': self.normalisation.as_dict(),
            'provenance': self.provenance,
            'examples': {
                'theta': _rows(self.theta),
                'outcome': _rows(self.outcome),
                'goal': _rows(self.goal),
                'error': _rows(self.error),
                'delta_theta': _rows(self.delta_theta),
                **({} if self.source is None else {'source': list(self.source)}),
            },
        }

    def save(self, path: Path | str) -> Path:
        """Write the dataset as JSON, atomically: a crash never leaves half a file.

        Args:
            path: The file to write; missing folders are made.

        Returns:
            The path written.

        Raises:
            OSError: The file could not be written; an old file at `path` is left as it was.

        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_atomic(path, _dumps(self.to_dict()))


def _dumps(doc: dict) -> str:
    """JSON with one example row per line: readable, diffable, and small."""
    head = {k: v for k, v in doc.items() if k != 'examples'}
    lines = json.dumps(head, indent=1)[:-2].splitlines()
    arrays = []
    for name, rows in doc['examples'].items():
        body = ',\n'.join(f'   {json.dumps(row)}' for row in rows)
        arrays.append(f'  {json.dumps(name)}: [\n{body}\n  ]')
    return '\n'.join(lines) + ',\n "examples": {\n' + ',\n'.join(arrays) + '\n }\n}\n'


def _rows(values: np.ndarray) -> list[list[float]]:
    return values.tolist()  # shortest repr that round-trips exactly


def _matrix(doc: Mapping[str, Any], name: str, rows: int, cols: int) -> np.ndarray:
    where = f'examples.{name}'
    raw = doc.get(name)
    if not isinstance(raw, list) or len(raw) != rows:
        raise InvalidInput(f'{where}: expected a list of {rows} rows')
    try:
        values = np.array(raw, dtype=float)
    except (TypeError, ValueError):
        raise InvalidInput(f'{where}: every row must be a list of {cols} numbers') from None
    if values.shape != (rows, cols):
        raise InvalidInput(f'{where}: expected {rows} rows of {cols} numbers')
    bad = np.argwhere(~np.isfinite(values))
    if bad.size:
        i, j = bad[0]
        raise InvalidInput(f'{where}[{i}][{j}] is not finite')
    return values


def dataset_from_dict(doc: Any) -> ImprovementDataset:
    """Validate a dataset document and build the dataset; errors name the field."""
    if not isinstance(doc, Mapping) or doc.get('format') != FORMAT:
        raise InvalidInput(f'not an improvement dataset (expected "format": "{FORMAT}")')
    if doc.get('version') != VERSION:
        raise InvalidInput(f'dataset version {doc.get("version")!r} is not supported ({VERSION})')
    task = doc.get('task')
    theta_names = doc.get('theta_names')
    outcome_names = doc.get('outcome_names')
    if not isinstance(task, str) or not task:
        raise InvalidInput('task: expected a task name')
    for key, names in (('theta_names', theta_names), ('outcome_names', outcome_names)):
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise InvalidInput(f'{key}: expected a non-empty list of names')
    examples = doc.get('examples')
    if not isinstance(examples, Mapping):
        raise InvalidInput('examples: expected a mapping of arrays')
    theta_raw = examples.get('theta')
    if not isinstance(theta_raw, list) or not theta_raw:
        raise InvalidInput('examples.theta: expected a non-empty list of rows')
    n, d, m = len(theta_raw), len(theta_names), len(outcome_names)
    if doc.get('size', n) != n:
        raise InvalidInput(f'size is {doc.get("size")!r} but there are {n} examples')
    theta = _matrix(examples, 'theta', n, d)
    outcome = _matrix(examples, 'outcome', n, m)
    goal = _matrix(examples, 'goal', n, m)
    delta = _matrix(examples, 'delta_theta', n, d)
    if 'error' in examples:
        error = _matrix(examples, 'error', n, m)
        worst = int(np.argmax(np.abs(error - (outcome - goal)).max(axis=1)))
        if not np.allclose(error[worst], outcome[worst] - goal[worst], rtol=0, atol=1e-6):
            raise InvalidInput(f'examples.error[{worst}] is not outcome - goal')
    provenance = doc.get('provenance', {})
    if not isinstance(provenance, Mapping):
        raise InvalidInput('provenance: expected a mapping')
    source = examples.get('source')
    if source is not None and (
        not isinstance(source, list)
        or len(source) != n
        or not all(tag is None or isinstance(tag, str) for tag in source)
    ):
        raise InvalidInput(f'examples.source: expected a list of {n} strings or nulls')
    return ImprovementDataset(
        task=task,
        theta_names=tuple(theta_names),
        outcome_names=tuple(outcome_names),
        theta=theta,
        outcome=outcome,
        goal=goal,
        delta_theta=delta,
        provenance=dict(provenance),
        source=None if source is None else tuple(source),
    )


def load_dataset(path: Path | str) -> ImprovementDataset:
    """Read and validate a dataset file.

    Raises:
        InvalidInput: naming the file and what is wrong with it.

    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise InvalidInput(f'cannot read dataset {path}: {exc.strerror}') from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f'dataset {path} is not valid JSON: {exc}') from None
    try:
        return dataset_from_dict(doc)
    except InvalidInput as exc:
        raise InvalidInput(f'dataset {path}: {exc}') from None
