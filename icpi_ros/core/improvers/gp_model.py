# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""A practitioner's baseline: a Gaussian-process forward model theta -> outcome (scikit-learn).

One GP per outcome dimension (Matern 5/2 with a length scale per parameter, plus white noise),
on theta scaled to the unit box. Its hyperparameters are fitted once per task on the
improvement dataset's rollouts; every step refits the GP (hyperparameters fixed) on those
rollouts and the episode's trials, then proposes the minimiser of the predicted cost
(expected squared distance to the goal) inside a trust region around the best trial so far,
clipped to the task's bounds. The trust region's radius is replayed from the run's costs:
doubled after a trial that improved on the best, halved after one that did not. Everything
is rebuilt from the query (its history), so a resumed run asks the same.
"""

import warnings

import numpy as np
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Kernel, Matern, WhiteKernel

from icpi_ros.core.dataset import ImprovementDataset
from icpi_ros.core.improvers.base import ImproverContext, ImproverFailed, PolicyQuery, Proposal

# Trust region: half-width as a fraction of each parameter's range, first and limits.
RADIUS_START = 0.25
RADIUS_MIN = 1 / 512
RADIUS_MAX = 0.5
# Candidates drawn uniformly in the trust region; the best few are polished (L-BFGS-B).
CANDIDATES = 1024
POLISHED = 3
# Decimals of (theta, outcome) rows when the dataset's rollouts are deduplicated.
ROLLOUT_DECIMALS = 9
HINDSIGHT = 'hindsight relabelling'


def dataset_rollouts(dataset: ImprovementDataset) -> tuple[np.ndarray, np.ndarray]:
    """Return the distinct rollouts (theta, outcome) an improvement dataset holds.

    Every example's (theta, outcome) is one; in a hindsight-relabelled dataset the goal is
    the outcome of theta + delta theta, another one.

    Args:
        dataset: the task's improvement dataset.

    Returns:
        theta (n, d) and outcome (n, m), deduplicated.

    """
    theta, outcome = dataset.theta, dataset.outcome
    if dataset.provenance.get('method') == HINDSIGHT:
        theta = np.vstack([theta, dataset.theta + dataset.delta_theta])
        outcome = np.vstack([outcome, dataset.goal])
    rows = np.round(np.hstack([theta, outcome]), ROLLOUT_DECIMALS)
    _, first = np.unique(rows, axis=0, return_index=True)
    first = np.sort(first)
    return theta[first], outcome[first]


def trust_radius(costs: list[float]) -> float:
    """Return the trust region's radius after the trials of `costs` (in order).

    Each trial after the first was proposed inside the region: the radius doubles when it
    beat every trial before it, and halves when it did not (within the limits).
    """
    radius = RADIUS_START
    for t in range(1, len(costs)):
        improved = costs[t] < min(costs[:t])
        radius = min(RADIUS_MAX, 2 * radius) if improved else max(RADIUS_MIN, radius / 2)
    return radius


def _kernel(dim: int) -> Kernel:
    return ConstantKernel(1.0, (1e-3, 1e3)) * Matern(
        length_scale=np.full(dim, 0.3), length_scale_bounds=(1e-2, 1e2), nu=2.5
    ) + WhiteKernel(1e-4, (1e-10, 1e-1))


class GpModel:
    """GP forward model + trust-region minimisation of the predicted cost."""

    name = 'gp_model'

    def __init__(self, context: ImproverContext) -> None:
        if context.examples is None:
            raise ImproverFailed('gp_model needs an improvement dataset (its rollouts)')
        self._examples = context.examples
        self._seed = context.seed
        # Per task: the dataset's rollouts (unit-box theta, outcome), and per outcome
        # dimension the kernel fitted on them.
        self._fitted: dict[str, tuple[np.ndarray, np.ndarray, list[Kernel]]] = {}

    def _prior(self, query: PolicyQuery) -> tuple[np.ndarray, np.ndarray, list[Kernel]]:
        task = query.task
        if task.name not in self._fitted:
            theta, outcome = dataset_rollouts(self._examples.index(task).dataset)
            x = self._unit(query, theta)
            kernels = []
            for dim in range(outcome.shape[1]):
                gp = GaussianProcessRegressor(
                    _kernel(task.theta_dim), normalize_y=True, random_state=self._seed
                )
                with warnings.catch_warnings():
                    warnings.simplefilter('ignore', ConvergenceWarning)
                    gp.fit(x, outcome[:, dim])
                kernels.append(gp.kernel_)
            self._fitted[task.name] = (x, outcome, kernels)
        return self._fitted[task.name]

    @staticmethod
    def _unit(query: PolicyQuery, theta: np.ndarray) -> np.ndarray:
        low, high = query.task.theta_low, query.task.theta_high
        return (np.asarray(theta, dtype=float) - low) / (high - low)

    def _models(self, query: PolicyQuery) -> tuple[list[GaussianProcessRegressor], int]:
        """Fit one GP per outcome dimension on the dataset's rollouts and the episode's trials."""
        x_prior, y_prior, kernels = self._prior(query)
        thetas, outcomes = query.episode_trials()
        x = np.vstack([x_prior, self._unit(query, thetas)])
        y = np.vstack([y_prior, outcomes])
        models = [
            GaussianProcessRegressor(kernel, optimizer=None, normalize_y=True).fit(x, y[:, dim])
            for dim, kernel in enumerate(kernels)
        ]
        return models, len(x)

    def propose(self, query: PolicyQuery) -> Proposal:
        """Return the minimiser of the predicted cost in the trust region around the best."""
        task = query.task
        models, observations = self._models(query)
        goal = query.episode_goal()
        if goal is None:  # an error sent by hand: aim the predicted change at -error
            here = self._unit(query, query.theta)[None]
            offset = query.error - np.array([model.predict(here)[0] for model in models])
            centre, costs = query.theta, [query.cost]
        else:
            offset = -goal
            centre = query.best_trial()[1]
            costs = [*query.history_costs(), query.cost]

        def predicted(points: np.ndarray) -> np.ndarray:
            """Return the expected squared distance to the goal at unit-box points."""
            total = np.zeros(len(points))
            for dim, model in enumerate(models):
                mean, std = model.predict(points, return_std=True)
                total += (mean + offset[dim]) ** 2 + std**2
            return total

        radius = trust_radius(costs)
        rng = np.random.default_rng(np.random.SeedSequence([self._seed, len(costs)]))
        point, score = minimise_in_box(predicted, self._unit(query, centre), radius, rng)
        theta = task.theta_low + point * (task.theta_high - task.theta_low)
        details = {
            'observations': observations,
            'episode_trials': len(costs) if goal is not None else len(query.history),
            'trust_radius': radius,
            'predicted_cost': float(np.sqrt(max(score, 0.0))),
        }
        return Proposal(theta, details)


def minimise_in_box(
    objective, centre: np.ndarray, radius: float, rng: np.random.Generator
) -> tuple[np.ndarray, float]:
    """Minimise `objective` (rows of points -> values) in the unit box around `centre`.

    Args:
        objective: vectorised objective over (n, d) points.
        centre: the trust region's centre (unit box).
        radius: its half-width (unit box); the region is clipped to [0, 1].
        rng: draws the candidates.

    Returns:
        The best point found (the centre, `CANDIDATES` random ones, the best `POLISHED` of
        them polished by L-BFGS-B) and its value.

    """
    low, high = np.clip(centre - radius, 0.0, 1.0), np.clip(centre + radius, 0.0, 1.0)
    candidates = np.vstack([centre, rng.uniform(low, high, (CANDIDATES, len(low)))])
    scores = objective(candidates)
    best_point, best_score = candidates[np.argmin(scores)], float(scores.min())
    for start in candidates[np.argsort(scores)[:POLISHED]]:
        found = minimize(
            lambda p: float(objective(p[None])[0]),
            start,
            method='L-BFGS-B',
            bounds=list(zip(low, high, strict=True)),
        )
        if found.fun < best_score:
            best_point, best_score = np.clip(found.x, low, high), float(found.fun)
    return best_point, best_score
