# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""KNN retrieval against brute force, the prompt's format and size."""

import numpy as np
import pytest

from icpi_ros.core.dataset import ImprovementDataset, load_dataset
from icpi_ros.core.paths import data_dir
from icpi_ros.core.prompt import build_prompt, estimate_tokens
from icpi_ros.core.retrieval import ExampleIndex, ExampleLibrary
from icpi_ros.core.tasks import load_tasks
from icpi_ros.core.validation import InvalidInput

TASKS = load_tasks()


def _random_dataset(n: int, seed: int = 0) -> ImprovementDataset:
    rng = np.random.default_rng(seed)
    task = TASKS['slide-gc']
    theta = rng.uniform(task.theta_low, task.theta_high, (n, 3))
    outcome = rng.normal([0.8, 0.0], [0.1, 0.05], (n, 2))
    goal = rng.normal([0.8, 0.0], [0.1, 0.05], (n, 2))
    return ImprovementDataset(
        'slide-gc',
        ('angle', 'distance', 'time'),
        ('x', 'y'),
        theta,
        outcome,
        goal,
        rng.normal(0, 0.02, (n, 3)),
    )


@pytest.mark.parametrize('encoding', ['error', 'raw'])
@pytest.mark.parametrize('k', [1, 5, 20])
def test_nearest_matches_brute_force_far_to_near(encoding, k):
    ds = _random_dataset(500)
    index = ExampleIndex(ds, encoding)
    rng = np.random.default_rng(1)
    norm = ds.normalisation
    for _ in range(20):
        theta, error, goal = (
            rng.uniform(-0.3, 0.3, 3),
            rng.normal(0, 0.05, 2),
            rng.normal(0.8, 0.05, 2),
        )
        parts = [norm.apply('theta', ds.theta)]
        q = [norm.apply('theta', theta)]
        if encoding == 'error':
            parts.append(norm.apply('error', ds.error))
            q.append(norm.apply('error', error))
        else:
            parts += [norm.apply('outcome', ds.outcome), norm.apply('goal', ds.goal)]
            q += [norm.apply('outcome', goal + error), norm.apply('goal', goal)]
        dist = np.linalg.norm(np.hstack(parts) - np.hstack(q), axis=1)
        expected = np.argsort(dist, kind='stable')[:k][::-1]
        nb = index.nearest(theta, error, goal, k)
        np.testing.assert_array_equal(nb.indices, expected)
        assert np.all(np.diff(nb.distances) <= 0)  # farthest first
        np.testing.assert_allclose(nb.distances, dist[expected])


def test_k_larger_than_the_dataset_and_bad_k():
    index = ExampleIndex(_random_dataset(7))
    assert len(index.nearest(np.zeros(3), np.zeros(2), k=20).indices) == 7
    with pytest.raises(InvalidInput, match='k must be at least 1'):
        index.nearest(np.zeros(3), np.zeros(2), k=0)
    with pytest.raises(InvalidInput, match='raw encoding needs the goal'):
        ExampleIndex(_random_dataset(7), 'raw').nearest(np.zeros(3), np.zeros(2))
    with pytest.raises(InvalidInput, match="unknown encoding 'rel'"):
        ExampleIndex(_random_dataset(7), 'rel')


def test_library_finds_checks_and_explains(tmp_path):
    task = TASKS['slide-gc']
    lib = ExampleLibrary(tmp_path)
    with pytest.raises(
        InvalidInput, match=r'no improvement dataset .*`icpi dataset collect --task slide-gc'
    ):
        lib.index(task)
    _random_dataset(10).save(tmp_path / 'roll-gc.json')
    with pytest.raises(InvalidInput, match="dataset is for task 'slide-gc', not 'roll-gc'"):
        ExampleLibrary(files={'roll-gc': tmp_path / 'roll-gc.json'}).index(TASKS['roll-gc'])
    assert ExampleLibrary().available(TASKS) == [
        'slide',
        'slide-gc',
        'roll-gc',
        'rope-swing',
        'push-gc',
    ]


@pytest.mark.parametrize('name', ['slide-gc', 'rope-swing'])
def test_prompt_lines_and_size(name):
    task = TASKS[name]
    ds = load_dataset(data_dir() / f'{name}.json')
    index = ExampleIndex(ds)
    theta, error = ds.theta[0] + 0.001, np.array([0.031, -0.012])
    nb = index.nearest(theta, error, k=20)
    prompt = build_prompt(task, ds, nb.indices, theta, error)
    lines = prompt.messages[1]['content'].splitlines()
    assert len(lines) == 21
    first = nb.indices[0]
    expected = (
        ' '.join(f'{v:.4f}' for v in ds.theta[first])
        + ' | '
        + ' '.join(f'{v:.4f}' for v in ds.error[first])
        + ' -> '
        + ' '.join(f'{v:.4f}' for v in ds.delta_theta[first])
    )
    assert lines[0] == expected
    assert lines[-1].endswith('| 0.0310 -0.0120 ->')
    assert 'exactly 3 numbers' in prompt.messages[0]['content']
    assert estimate_tokens(prompt.text) <= 1500
    assert len(prompt.text) < 2500


def test_raw_encoding_shows_outcome_and_goal():
    task = TASKS['slide-gc']
    ds = load_dataset(data_dir() / 'slide-gc.json')
    prompt = build_prompt(
        task,
        ds,
        np.array([4]),
        np.zeros(3),
        np.array([0.01, 0.02]),
        np.array([0.8, 0.0]),
        encoding='raw',
    )
    lines = prompt.messages[1]['content'].splitlines()
    assert lines[0].count('|') == 2
    assert lines[1] == '0.0000 0.0000 0.0000 | 0.8100 0.0200 | 0.8000 0.0000 ->'
    assert 'goal (x, y, m)' in prompt.messages[0]['content']


def test_token_estimate_counts_digit_runs():
    assert estimate_tokens('0.1234') == 4  # 0 . 123 4
    assert estimate_tokens('Answer with 3 numbers') == 4
