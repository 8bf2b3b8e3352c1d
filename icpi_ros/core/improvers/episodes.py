# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Per-episode state of the improvers that keep some between calls (bayes_opt, promptpo).

The planner service is stateless: an improver that remembers anything keys it by the
query's run id, or, for a call by hand without one, by task and goal, and keeps a bounded
number of episodes in this process (the oldest is dropped first).
"""

from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

import numpy as np

from icpi_ros.core.improvers.base import PolicyQuery

# Episodes kept at most (one per run, or per task and goal); the oldest is dropped first.
MAX_EPISODES = 64
# Decimals of a goal in its key: float noise in a goal sent by hand maps to one episode.
GOAL_DECIMALS = 9

State = TypeVar('State')


def episode_key(query: PolicyQuery, goal: np.ndarray | None) -> Hashable:
    """Return the key of the episode `query` belongs to.

    Args:
        query: the query; its run id names the episode when it has one.
        goal: the episode's goal, None when it is not known.

    Returns:
        The run id, else (task name, goal rounded to `GOAL_DECIMALS` as a tuple, or None).

    """
    if query.run_id:
        return query.run_id
    rounded = (
        None if goal is None else tuple(np.round(np.asarray(goal, dtype=float), GOAL_DECIMALS))
    )
    return (query.task.name, rounded)


class EpisodeCache(Generic[State]):
    """The state of at most `max_episodes` episodes, by key; the oldest is dropped first."""

    def __init__(self, max_episodes: int = MAX_EPISODES) -> None:
        """Keep at most `max_episodes` (at least 1).

        Raises:
            ValueError: `max_episodes` below 1.

        """
        if max_episodes < 1:
            raise ValueError(f'max_episodes must be at least 1, got {max_episodes}')
        self._max = max_episodes
        self._states: dict[Hashable, State] = {}

    def get(self, key: Hashable, create: Callable[[], State]) -> State:
        """Return the state of episode `key`, made by `create()` the first time.

        Args:
            key: the episode, as `episode_key` names it.
            create: makes a new episode's state; called at most once per new key.

        Returns:
            The episode's state (the same object on every call while it is kept).

        """
        if key not in self._states:
            if len(self._states) >= self._max:
                self._states.pop(next(iter(self._states)))  # insertion order: the oldest
            self._states[key] = create()
        return self._states[key]

    def __contains__(self, key: Hashable) -> bool:
        return key in self._states

    def __len__(self) -> int:
        return len(self._states)

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._states)
