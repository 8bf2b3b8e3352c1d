# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The per-episode state of bayes_opt and promptpo: keyed by run id, else task and goal."""

import numpy as np
import pytest

from icpi_ros.core.improvers.base import PolicyQuery
from icpi_ros.core.improvers.episodes import EpisodeCache, episode_key
from icpi_ros.core.tasks import load_tasks

TASK = load_tasks()['slide-gc']
THETA = np.array([0.0, 0.1, 0.3])
GOAL = np.array([0.86, 0.03])


def _query(run_id: str = '', goal=GOAL):
    return PolicyQuery(TASK, THETA, np.array([0.01, 0.0]), goal=goal, run_id=run_id)


def test_the_run_id_names_the_episode_else_task_and_goal():
    assert episode_key(_query('run-7'), GOAL) == 'run-7'
    by_hand = episode_key(_query(), GOAL)
    assert by_hand == ('slide-gc', (0.86, 0.03))
    assert episode_key(_query(), GOAL + 1e-12) == by_hand  # float noise: the same episode
    assert episode_key(_query(), GOAL + 1e-6) != by_hand
    assert episode_key(_query(goal=None), None) == ('slide-gc', None)
    hash(by_hand)


def test_state_is_made_once_per_episode_and_the_oldest_is_dropped():
    cache: EpisodeCache[list] = EpisodeCache(max_episodes=2)
    made = []

    def create():
        made.append([])
        return made[-1]

    first = cache.get('a', create)
    assert cache.get('a', create) is first and len(made) == 1
    first.append('kept')
    cache.get('b', create)
    assert list(cache) == ['a', 'b'] and len(cache) == 2
    cache.get('a', create)  # a read does not refresh the order: insertion order decides
    cache.get('c', create)
    assert 'a' not in cache and list(cache) == ['b', 'c'] and len(made) == 3
    assert cache.get('a', create) == [] and len(made) == 4  # a new episode's state


def test_at_least_one_episode_is_kept():
    with pytest.raises(ValueError, match='at least 1'):
        EpisodeCache(max_episodes=0)
