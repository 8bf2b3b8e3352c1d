# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""One planning step: request validation, improver failures, clipping."""

import numpy as np
import pytest

from icpi_ros.core.improvers import (
    IMPROVERS,
    ImproverContext,
    ImproverFailed,
    Proposal,
    make_improver,
)
from icpi_ros.core.planning import make_query, next_policy
from icpi_ros.core.retrieval import ExampleLibrary
from icpi_ros.core.tasks import load_tasks
from icpi_ros.core.validation import InvalidInput

TASK = load_tasks()['slide-gc']


class Fixed:
    """An improver that proposes a fixed value (or raises it, if it is an exception)."""

    name = 'fixed'

    def __init__(self, proposal):
        self.proposal = proposal

    def propose(self, query):
        if isinstance(self.proposal, Exception):
            raise self.proposal
        return Proposal(self.proposal)


def test_error_or_outcome_and_goal():
    q = make_query(TASK, [0.0, 0.1, 0.3], error=[0.05, -0.02])
    np.testing.assert_allclose(q.error, [0.05, -0.02])
    assert q.goal is None
    q = make_query(TASK, [0.0, 0.1, 0.3], outcome=[0.9, 0.1], goal=[0.85, 0.12])
    np.testing.assert_allclose(q.error, [0.05, -0.02])
    np.testing.assert_allclose(q.goal, [0.85, 0.12])


@pytest.mark.parametrize(
    ('kwargs', 'message'),
    [
        ({}, 'missing error'),
        ({'outcome': [0.9, 0.1]}, 'missing error'),
        ({'error': [0.0, 0.0], 'outcome': [0.9, 0.1]}, 'not error and outcome'),
        ({'error': [0.0]}, 'error: expected 2 values'),
        ({'outcome': [0.9, 0.1], 'goal': [float('nan'), 0.0]}, r'goal\[0\] is nan'),
    ],
)
def test_bad_queries(kwargs, message):
    with pytest.raises(InvalidInput, match=message):
        make_query(TASK, [0.0, 0.1, 0.3], **kwargs)


def test_proposal_is_clipped_and_delta_is_relative_to_theta():
    q = make_query(TASK, [0.0, 0.1, 0.3], error=[0.0, 0.0])
    step = next_policy(Fixed(np.array([1.0, 0.1, 0.2])), q)
    assert step.clipped
    np.testing.assert_allclose(step.theta_next, [TASK.theta_high[0], 0.1, 0.2])
    np.testing.assert_allclose(step.delta_theta, step.theta_next - q.theta)
    assert step.improver == 'fixed'


@pytest.mark.parametrize(
    ('proposal', 'message'),
    [
        (np.array([0.0, np.nan, 0.2]), r'fixed proposal\[1\] is nan'),
        (np.array([0.0, 0.1]), 'fixed proposal: expected 3 values'),
        (ZeroDivisionError('boom'), 'fixed failed: ZeroDivisionError: boom'),
    ],
)
def test_unusable_proposals_fail_loudly(proposal, message):
    q = make_query(TASK, [0.0, 0.1, 0.3], error=[0.0, 0.0])
    with pytest.raises(ImproverFailed, match=message):
        next_policy(Fixed(proposal), q)


def test_every_offline_improver_answers_inside_bounds():
    q = make_query(TASK, [0.0, 0.1, 0.3], error=[0.02, 0.01])
    # The LLM improvers: test_llm_improver.py, test_promptpo.py.
    for name in sorted(set(IMPROVERS) - {'llm', 'promptpo'}):
        improver = make_improver(name, ImproverContext(seed=3, examples=ExampleLibrary()))
        for _ in range(50):
            step = next_policy(improver, q)
            assert np.all(step.theta_next >= TASK.theta_low)
            assert np.all(step.theta_next <= TASK.theta_high)


def test_random_shooting_is_reproducible_by_seed():
    q = make_query(TASK, [0.0, 0.1, 0.3], error=[0.02, 0.01])
    a = next_policy(make_improver('random_shooting', ImproverContext(seed=5)), q).theta_next
    b = next_policy(make_improver('random_shooting', ImproverContext(seed=5)), q).theta_next
    c = next_policy(make_improver('random_shooting', ImproverContext(seed=6)), q).theta_next
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_unknown_improver():
    with pytest.raises(
        InvalidInput, match="unknown improver 'magic'; available: bayes_opt, gp_model, knn_linear"
    ):
        make_improver('magic')
