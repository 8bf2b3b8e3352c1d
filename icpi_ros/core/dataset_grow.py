# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Grow an improvement dataset with the hindsight examples of recorded runs.

Each run's trials are relabelled as the episode memory relabels them
(`episode_memory.hindsight_examples`: trials i != j of a run give theta_i, e = s_i - s_j,
delta theta = theta_j - theta_i). Then the new examples are

1. deduplicated: an example is dropped when each of its numbers (theta, outcome, goal and
   delta theta, each over the dataset's spread of its block) is within `tolerance` of an
   example kept before it: one of the dataset's, or an earlier new one (a run given twice,
   a theta tried again);
2. spaced and bounded: every example of the dataset grown is kept, and the new ones are
   taken by farthest-point sampling in the retrieval space (the dataset's normalised
   [theta, e]): the next one is always the one farthest from every example kept so far. It
   stops when that one is nearer than `spacing` times the dataset's median nearest-neighbour
   distance to what is kept (the gaps are filled; no region gets denser than the dataset
   typically is), or at `max_examples`. Why: a run's trials crowd where it started
   (theta0) and where it converged, and adding every one of their pairs made knn_linear
   worse (measured with `python scripts/grow_check.py`; the figures are in README.md,
   "Growing a dataset from runs");
3. appended in their runs' order, each tagged with its run (`ImprovementDataset.source`),
   and the growth recorded in `provenance['grown']` (one entry per growth, the oldest first).

The dataset grown is never changed: the result is a new dataset, saved wherever the caller
says but in the shipped datasets folder (`check_grown_path`).
"""

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from icpi_ros.core.dataset import ImprovementDataset
from icpi_ros.core.episode_memory import hindsight_examples
from icpi_ros.core.paths import data_dir
from icpi_ros.core.retrieval import ExampleIndex
from icpi_ros.core.validation import InvalidInput

# Duplicates: every number within this many of the dataset's standard deviations of its block.
DUPLICATE_TOL = 1e-3
# New examples are at least this fraction of the dataset's median nearest-neighbour distance
# (normalised [theta, e]) from every example kept (0: up to max_examples, however close).
SPACING = 0.5
SELECTION = 'farthest-point sampling in normalised [theta, e] from the examples kept'


@dataclass(frozen=True)
class RunTrials:
    """The executed thetas and outcomes of one run's trials, in order."""

    name: str  # the source tag of the run's examples
    theta: np.ndarray  # (n, d)
    outcome: np.ndarray  # (n, m)


@dataclass(frozen=True)
class RunGrowth:
    """What one run gave: its trials, their hindsight examples, and where those went."""

    run: str
    trials: int
    examples: int
    duplicates: int
    too_close: int  # nearer than the spacing to the examples kept
    over_bound: int  # no room left under max_examples
    added: int


@dataclass(frozen=True)
class Growth:
    """A grown dataset and what each run gave to it."""

    dataset: ImprovementDataset
    base_size: int
    runs: tuple[RunGrowth, ...]
    spacing: float  # the least distance the spacing came to (normalised [theta, e])

    def total(self, field: str) -> int:
        """Return the sum of a count of `RunGrowth` ('examples', 'added', ...) over the runs."""
        return sum(getattr(run, field) for run in self.runs)


def grow_dataset(
    base: ImprovementDataset,
    runs: Sequence[RunTrials],
    max_examples: int,
    spacing: float = SPACING,
    tolerance: float = DUPLICATE_TOL,
    provenance: Mapping | None = None,
) -> Growth:
    """Return `base` grown with the runs' hindsight examples (see the module's docstring).

    Args:
        base: The dataset to grow (not changed); its task is the runs' task.
        runs: The runs, each with at least two trials.
        max_examples: The size of the grown dataset at most (at least `len(base)` + 1).
        spacing: The least distance of a new example to the examples kept, as a fraction of
            the dataset's median nearest-neighbour distance (0: none).
        tolerance: Duplicates are within this many standard deviations in every number.
        provenance: Added to this growth's entry in `provenance['grown']` (date, command).

    Returns:
        The grown dataset and the counts per run.

    Raises:
        InvalidInput: no room under `max_examples`, a run with fewer than two trials or
            vectors of the wrong length, or no new example left after deduplication and
            spacing.

    """
    if max_examples <= len(base):
        raise InvalidInput(
            f'max examples {max_examples} leaves no room: the dataset grown has {len(base)} '
            'examples, and all of them are kept'
        )
    for name, value in (('spacing', spacing), ('tolerance', tolerance)):
        if not 0 <= value < np.inf:
            raise InvalidInput(f'{name} must be finite and >= 0, got {value}')
    grown = base.provenance.get('grown', [])
    if not isinstance(grown, list):
        raise InvalidInput('provenance.grown of the dataset grown: expected a list')
    new, run_of = _hindsight(base, runs)
    keep = _distinct(base, new, tolerance)
    candidates = np.flatnonzero(keep)
    if candidates.size == 0:
        raise InvalidInput(
            f'nothing to add: all {len(keep)} hindsight examples of the runs are duplicates'
        )
    distance = spacing * _median_spacing(base)
    chosen, crowded = _farthest_first(base, new, candidates, max_examples - len(base), distance)
    if chosen.size == 0:
        raise InvalidInput(
            f'nothing to add: of the {len(keep)} hindsight examples of the runs, '
            f'{len(keep) - candidates.size} are duplicates and {candidates.size} nearer than the '
            f'spacing ({distance:.3g} in normalised [theta, e]) to the examples kept'
        )
    runs_grown = []
    for r, run in enumerate(runs):
        ours = run_of == r
        added = int(np.sum(run_of[chosen] == r))
        left = int(np.sum(ours & keep)) - added
        runs_grown.append(
            RunGrowth(
                run=run.name,
                trials=len(run.theta),
                examples=int(np.sum(ours)),
                duplicates=int(np.sum(ours & ~keep)),
                too_close=left if crowded else 0,
                over_bound=0 if crowded else left,
                added=added,
            )
        )
    entry = {
        **(provenance or {}),
        'base_size': len(base),
        'max_examples': max_examples,
        'spacing': spacing,
        'spacing_distance': round(distance, 6),
        'tolerance': tolerance,
        'selection': SELECTION,
        'runs': [asdict(run) for run in runs_grown],
    }
    dataset = ImprovementDataset(
        task=base.task,
        theta_names=base.theta_names,
        outcome_names=base.outcome_names,
        theta=np.vstack([base.theta, new['theta'][chosen]]),
        outcome=np.vstack([base.outcome, new['outcome'][chosen]]),
        goal=np.vstack([base.goal, new['goal'][chosen]]),
        delta_theta=np.vstack([base.delta_theta, new['delta_theta'][chosen]]),
        provenance={**base.provenance, 'grown': [*grown, entry]},
        source=(*base.sources(), *(runs[r].name for r in run_of[chosen])),
    )
    return Growth(dataset, len(base), tuple(runs_grown), distance)


def _hindsight(
    base: ImprovementDataset, runs: Sequence[RunTrials]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Return every run's hindsight examples by block, and the run number of each."""
    if not runs:
        raise InvalidInput('no run to grow the dataset from')
    d, m = len(base.theta_names), len(base.outcome_names)
    parts, run_of = [], []
    for r, run in enumerate(runs):
        theta, outcome = np.asarray(run.theta, dtype=float), np.asarray(run.outcome, dtype=float)
        if theta.ndim != 2 or theta.shape[1] != d or outcome.shape != (len(theta), m):
            raise InvalidInput(
                f'run {run.name}: expected trials of {d} parameters and {m} outcome values '
                f'({base.task}), got theta {theta.shape} and outcome {outcome.shape}'
            )
        if len(theta) < 2:
            has = 'only one trial' if len(theta) else 'no trials'
            raise InvalidInput(f'run {run.name} has {has}: hindsight relabelling needs two')
        examples = hindsight_examples(theta, outcome, max_trials=len(theta))
        parts.append({**examples.blocks(), 'delta_theta': examples.delta_theta})
        run_of.append(np.full(len(examples), r))
    new = {name: np.vstack([part[name] for part in parts]) for name in parts[0]}
    return new, np.concatenate(run_of)


def _distinct(
    base: ImprovementDataset, new: Mapping[str, np.ndarray], tolerance: float
) -> np.ndarray:
    """Return which new examples are no duplicate of the dataset's or of an earlier new one."""
    std = base.normalisation.std

    def keys(blocks: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.hstack(
            [
                blocks['theta'] / std['theta'],
                blocks['outcome'] / std['outcome'],
                blocks['goal'] / std['goal'],
                blocks['delta_theta'] / std['theta'],
            ]
        )

    ours = keys(new)
    base_distance, _ = cKDTree(keys({**base.blocks(), 'delta_theta': base.delta_theta})).query(
        ours, k=1, p=np.inf
    )
    keep = base_distance > tolerance
    pairs = cKDTree(ours).query_pairs(tolerance, p=np.inf, output_type='ndarray')
    # By the later example of each pair: whether the earlier one is kept is settled by then.
    for a, b in pairs[np.lexsort((pairs[:, 0], pairs[:, 1]))]:
        if keep[a]:
            keep[b] = False
    return keep


def _median_spacing(base: ImprovementDataset) -> float:
    """Return the median distance from an example of `base` to its nearest other one."""
    features = ExampleIndex(base, 'error').features(base.blocks())
    if len(features) < 2:
        return 0.0
    distances, _ = cKDTree(features).query(features, k=2)
    return float(np.median(distances[:, 1]))


def _farthest_first(
    base: ImprovementDataset,
    new: Mapping[str, np.ndarray],
    candidates: np.ndarray,
    room: int,
    spacing: float,
) -> tuple[np.ndarray, bool]:
    """Return the rows of `new` taken farthest-point first, and whether the spacing stopped it.

    Up to `room` of `candidates` are taken, each at least `spacing` from every example kept
    (the dataset's and those taken before it); the rows are returned in order.
    """
    index = ExampleIndex(base, 'error')
    features = index.features({name: values[candidates] for name, values in new.items()})
    nearest, _ = cKDTree(index.features(base.blocks())).query(features, k=1)
    chosen: list[int] = []
    crowded = False
    while len(chosen) < min(room, len(candidates)):
        pick = int(np.argmax(nearest))  # the first of the farthest: deterministic
        if nearest[pick] < spacing:
            crowded = True
            break
        chosen.append(pick)
        nearest = np.minimum(nearest, np.linalg.norm(features - features[pick], axis=1))
        nearest[chosen] = -1.0  # taken
    return np.sort(candidates[chosen]), crowded


def check_grown_path(out: Path | str, base_path: Path | str) -> Path:
    """Return `out` if a grown dataset may be written there.

    Args:
        out: Where the grown dataset is to be written.
        base_path: The file of the dataset grown.

    Returns:
        `out`, as a Path.

    Raises:
        InvalidInput: `out` is in the shipped datasets folder (its files ship with the
            package and are what every planner loads), or is the dataset grown.

    """
    out = Path(out)
    shipped = data_dir().resolve()
    target = out.resolve()
    if target == shipped or shipped in target.parents:
        raise InvalidInput(
            f'{out} is in the shipped datasets folder {shipped}: grown datasets never replace '
            'or join the shipped ones; give another --out (default: a new file under the '
            'runs folder)'
        )
    base = Path(base_path)
    if target == base.resolve() or (out.exists() and base.exists() and out.samefile(base)):
        raise InvalidInput(f'{out} is the dataset being grown: give another --out')
    return out
